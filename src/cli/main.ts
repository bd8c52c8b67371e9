import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadCliConfig, type CliConfig } from '../config.js';
import { ApiClient, ApiError } from './api-client.js';
import { parseArgs, renderTable, UsageError } from './command.js';
import { COMMANDS } from './commands/index.js';

function usage(): string {
  const lines = [
    'usage: visitor <tool> [options] [--json] [--url URL] [--key KEY | --key-file FILE]',
    '',
    'Environment: VISITOR_URL (default http://127.0.0.1:8080), VISITOR_KEY or VISITOR_KEY_FILE.',
    '',
    'tools:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(22)} ${c.summary}`),
  ];
  return lines.join('\n');
}

const FILE_PROBLEM: Record<string, string> = { ENOENT: 'does not exist', EACCES: 'is not readable (permission denied)', EISDIR: 'is a directory' };

/**
 * The admin key: --key, else the content of --key-file, else VISITOR_KEY, else the content of
 * VISITOR_KEY_FILE (a flag beats the environment). A key file that cannot be read is a one-line
 * message saying which file and where keys come from.
 */
function adminKey(flags: Record<string, string | true>, env: CliConfig, resolvePath: (f: string) => string): string | undefined {
  if (typeof flags.key === 'string') return flags.key;
  const fromFlag = typeof flags['key-file'] === 'string' ? flags['key-file'] : undefined;
  if (!fromFlag && env.VISITOR_KEY) return env.VISITOR_KEY;
  const given = fromFlag ?? env.VISITOR_KEY_FILE;
  if (!given) return undefined;
  const file = resolvePath(given);
  const source = fromFlag ? '--key-file' : 'VISITOR_KEY_FILE';
  const help =
    "npm start (without ACCOUNTS_FILE) writes the demo account's key to DATA_DIR/credentials/demo/admin-key; otherwise pass an admin key with --key or VISITOR_KEY";
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new UsageError(`admin key file ${file} (${source}) ${FILE_PROBLEM[code] ?? `cannot be read: ${code || (err as Error).message}`}; ${help}`);
  }
  const key = text.trim();
  if (!key) throw new UsageError(`admin key file ${file} (${source}) is empty; ${help}`);
  return key;
}

/** Run the CLI; returns the exit code (0 ok, 1 API error, 2 usage error). */
export async function runCli(argv: string[], io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    io.stdout.write(`${usage()}\n`);
    return name ? 0 : 2;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    io.stderr.write(`unknown tool "${name}"\n\n${usage()}\n`);
    return 2;
  }
  const args = parseArgs(rest);
  if (args.flags.help) {
    io.stdout.write(`${cmd.usage}\n`);
    return 0;
  }
  let env;
  try {
    env = loadCliConfig();
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const url = typeof args.flags.url === 'string' ? args.flags.url : env.VISITOR_URL;
  if (!URL.canParse(url)) {
    io.stderr.write(`visitor ${name}: --url ${url} is not a URL (like http://127.0.0.1:8080)\n`);
    return 2;
  }
  // `npm run visitor` runs in the package root; names the user typed are relative to where they were.
  const cwd = env.INIT_CWD ?? process.cwd();
  const resolvePath = (file: string) => (file === '-' ? file : path.resolve(cwd, file));
  let key: string | undefined;
  try {
    key = adminKey(args.flags, env, resolvePath);
  } catch (err) {
    io.stderr.write(`visitor ${name}: ${(err as Error).message}\n`);
    return 2;
  }
  try {
    const out = await cmd.run(args, new ApiClient(url, key), { stderr: io.stderr, resolvePath });
    if (args.flags.json || !out.table) io.stdout.write(`${JSON.stringify(out.json, null, 2)}\n`);
    else {
      io.stdout.write(`${renderTable(out.table.columns, out.table.rows, out.table.clip)}\n`);
      for (const n of out.notes ?? []) io.stdout.write(`${n}\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof ApiError) {
      io.stderr.write(`visitor ${name}: ${err.message}\n`);
      return 1;
    }
    if (err instanceof UsageError) {
      io.stderr.write(`visitor ${name}: ${err.message}\n\n${cmd.usage}\n`);
      return 2;
    }
    io.stderr.write(`visitor ${name}: ${(err as Error).message}\n`);
    return 1;
  }
}
