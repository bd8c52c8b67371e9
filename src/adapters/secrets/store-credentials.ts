import path from 'node:path';
import { readOrCreateSecret } from './token-secret.store.js';

/**
 * The users of the `store` role's ClickHouse HTTP port: `visitor` is the service's own user (its
 * other processes: gateways, workers, the CLI's jobs), `grafana` may only read.
 */
export const STORE_USERS = ['visitor', 'grafana'] as const;
export type StoreUser = (typeof STORE_USERS)[number];

export type StoreCredentials = Readonly<Record<StoreUser, string>>;

/**
 * `DATA_DIR/credentials/_store/`: the underscore keeps it apart from the per-account folders
 * beside it (account ids are `[a-z0-9-]`).
 */
export function storeCredentialsDir(dataDir: string): string {
  return path.join(dataDir, 'credentials', '_store');
}

export function storePasswordFile(dataDir: string, user: StoreUser): string {
  return path.join(storeCredentialsDir(dataDir), `${user}-password`);
}

/**
 * Each user's password, created on first use with the token secret's exclusive create (mode
 * 0600), so a store and the processes that start beside it on the same `DATA_DIR` agree.
 */
export async function readOrCreateStoreCredentials(dataDir: string): Promise<StoreCredentials> {
  const entries = await Promise.all(STORE_USERS.map(async (u) => [u, (await readOrCreateSecret(storePasswordFile(dataDir, u))).toString('hex')] as const));
  return Object.freeze(Object.fromEntries(entries) as Record<StoreUser, string>);
}

/** `http://user:password@host:port`: the URL a client (clickhouse-js, `CLICKHOUSE_URL`) uses as is. */
export function storeUrlFor(host: string, port: number, user: StoreUser, password: string): string {
  return `http://${user}:${password}@${host}:${port}`;
}

/** The URL without its password, for log lines. */
export function redactUrlPassword(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = 'redacted';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '[unparsable url]';
  }
}
