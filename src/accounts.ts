import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config.js';
import { formatJsonError } from './json-error.js';

import { zAccountId } from './domain/ids.js';

export { zAccountId };

const zOrigin = z
  .string()
  .regex(/^https?:\/\/[^/\s]+$/, 'origin must be scheme://host[:port], with optional :* port wildcard');

export const zAccount = z.object({
  id: zAccountId,
  /** Published site origins: CORS allow-list (credentials allowed). `http://localhost:*` matches any port. */
  origins: z.array(zOrigin).default([]),
  /** Public ingest id accepted in place of `account` (defaults to the account id). */
  ingestId: z.string().min(1).max(128).optional(),
  /** Hex SHA-256 of each admin key; one key reaches exactly this account. */
  adminKeySha256: z.array(z.string().regex(/^[0-9a-f]{64}$/, 'hex sha256')).default([]),
  /**
   * Redirect template for listing clicks; `{slug}` is replaced by the URL-encoded slug. An
   * absolute URL, or a path on the gateway itself (`/…`, never `//…`): the browser resolves a
   * path against the host and port it reached the gateway on.
   */
  listingUrl: z
    .string()
    .refine((u) => (u.startsWith('/') ? !/^\/[/\\]/.test(u) : URL.canParse(u)), 'listingUrl must be an absolute URL or a path starting with a single /')
    .refine((u) => u.includes('{slug}'), 'listingUrl must contain {slug}')
    .optional(),
  presence: z
    .object({
      /** Heartbeat interval the snippet uses while the tab is visible. @defaultValue 15000 */
      heartbeatMs: z.number().int().min(1000).max(300_000).default(15_000),
      /** Online until this long after the last heartbeat. @defaultValue 45000 */
      ttlMs: z.number().int().min(1000).max(3_600_000).default(45_000),
      /** A `leave` followed by activity within this window is a reload, not leave + join. @defaultValue 3000 */
      graceMs: z.number().int().min(0).max(60_000).default(3_000),
    })
    .prefault({}),
  engagement: z
    .object({
      /** Recency half-life in days for the engagement score. @defaultValue 7 */
      halfLifeDays: z.number().positive().max(365).default(7),
    })
    .prefault({}),
  /**
   * Page segments: the first path segment matching a key maps the page to that segment
   * (for cross-segment visits, e.g. `{ "/north/": "north" }`).
   */
  pageSegments: z.record(z.string().min(1).max(200), z.string().min(1).max(64)).default({}),
});

export const zAccountsFile = z.object({ accounts: z.array(zAccount).min(1) }).superRefine((f, ctx) => {
  const seen = new Set<string>();
  f.accounts.forEach((a, i) => {
    if (seen.has(a.id)) ctx.addIssue({ code: 'custom', path: ['accounts', i, 'id'], message: `duplicate account id ${a.id}` });
    seen.add(a.id);
  });
});

export type Account = z.infer<typeof zAccount>;

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** Read-only lookups over the configured accounts. */
export class AccountRegistry {
  readonly #byId = new Map<string, Account>();
  readonly #byIngestId = new Map<string, Account>();
  readonly #byKeyHash = new Map<string, Account>();

  constructor(readonly accounts: readonly Account[]) {
    for (const a of accounts) {
      if (this.#byId.has(a.id)) throw new Error(`duplicate account id ${a.id}`);
      this.#byId.set(a.id, a);
      this.#byIngestId.set(a.ingestId ?? a.id, a);
      for (const h of a.adminKeySha256) this.#byKeyHash.set(h, a);
    }
  }

  get(id: string): Account | undefined {
    return this.#byId.get(id) ?? this.#byIngestId.get(id);
  }

  ids(): string[] {
    return [...this.#byId.keys()];
  }

  /** The account an admin key belongs to (constant-time compare of the hash). */
  byAdminKey(key: string): Account | undefined {
    if (!key) return undefined;
    const h = sha256Hex(key);
    const hit = this.#byKeyHash.get(h);
    if (!hit) return undefined;
    const a = Buffer.from(h, 'hex');
    return hit.adminKeySha256.some((k) => timingSafeEqual(Buffer.from(k, 'hex'), a)) ? hit : undefined;
  }

  static originAllowed(account: Account, origin: string): boolean {
    for (const o of account.origins) {
      if (o === origin) return true;
      if (o.endsWith(':*') && origin.startsWith(o.slice(0, -1)) && /^\d{1,5}$/.test(origin.slice(o.length - 1))) return true;
      if (o.endsWith(':*') && origin === o.slice(0, -2)) return true;
    }
    return false;
  }
}

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
