/**
 * Accounts: the schema of one account (and of the accounts file) and read-only lookups over
 * them. Loading the file and the demo account live in src/accounts.ts, outside the domain.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { zAccountId } from './ids.js';

const zOrigin = z.string().regex(/^https?:\/\/[^/\s]+$/, 'origin must be scheme://host[:port], with optional :* port wildcard');

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
