/** Loading the accounts file and the demo account (file I/O); the account schema and lookups are in domain/account.ts. */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from './config.js';
import { formatJsonError } from './json-error.js';
import { sha256Hex, zAccount, zAccountsFile, type Account } from './domain/account.js';

/** A bad accounts file: one message naming the file, where it is wrong and why (printed without a stack). */
export class AccountsFileError extends ConfigError {
  override name = 'AccountsFileError';
}

/** `a.b[0].c` from a zod issue path. */
function issuePath(p: readonly PropertyKey[]): string {
  return p.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '') || '(file)';
}

export async function loadAccountsFile(file: string): Promise<Account[]> {
  const where = path.resolve(file);
  let raw: string;
  try {
    raw = await readFile(where, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new AccountsFileError(`ACCOUNTS_FILE: cannot read ${where}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  }
  // A UTF-8 byte-order mark is not JSON, but editors write it.
  const text = raw.replace(/^\uFEFF/, '');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AccountsFileError(`ACCOUNTS_FILE: ${formatJsonError(where, text, err)}`);
  }
  const parsed = zAccountsFile.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${issuePath(i.path)}: ${i.message}`);
    throw new AccountsFileError(`ACCOUNTS_FILE: ${where} is invalid:\n${lines.join('\n')}`);
  }
  return parsed.data.accounts;
}

/**
 * Without an accounts file: a `demo` account for http://localhost origins, whose admin key is
 * created once under DATA_DIR/credentials/demo/admin-key (mode 0600) and reused after. Its click
 * links redirect to the gateway's own page through a path, so they follow whatever host and port
 * the browser used (PORT, HOST, a proxy in front) without being rewritten when those change.
 * The key file's path is absolute: it is printed for the CLI, which may run from elsewhere.
 */
export async function ensureDemoAccount(dataDir: string): Promise<{ account: Account; adminKeyFile: string }> {
  const dir = path.resolve(dataDir, 'credentials', 'demo');
  const adminKeyFile = path.join(dir, 'admin-key');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    await writeFile(adminKeyFile, `${randomBytes(24).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = (await readFile(adminKeyFile, 'utf8')).trim();
  const account = zAccount.parse({
    id: 'demo',
    origins: ['http://localhost:*', 'http://127.0.0.1:*'],
    adminKeySha256: [sha256Hex(key)],
    listingUrl: '/?listing={slug}',
  });
  return { account, adminKeyFile };
}
