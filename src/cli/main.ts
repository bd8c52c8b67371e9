import { readFileSync } from 'node:fs';
import { loadCliConfig } from '../config.js';
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
  const keyFile = typeof args.flags['key-file'] === 'string' ? args.flags['key-file'] : env.VISITOR_KEY_FILE;
  const key = typeof args.flags.key === 'string' ? args.flags.key : (env.VISITOR_KEY ?? (keyFile ? readFileSync(keyFile, 'utf8').trim() : undefined));
  try {
    const out = await cmd.run(args, new ApiClient(url, key), io);
    if (args.flags.json || !out.table) io.stdout.write(`${JSON.stringify(out.json, null, 2)}\n`);
    else {
      io.stdout.write(`${renderTable(out.table.columns, out.table.rows)}\n`);
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
