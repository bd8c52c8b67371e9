import type { Logger } from '../logger.js';
import { readOrCreateStoreCredentials, storeUrlFor } from '../adapters/secrets/store-credentials.js';
import { startStoreServer, type RawSqlEngine } from './store.server.js';

export interface StoreRole {
  /** CLICKHOUSE_URL for the service's other processes (with the `visitor` password). */
  storeUrl: string;
  /** In the order they are to run on stop. */
  closers: (() => Promise<void> | void)[];
}

/** The store role: the embedded chdb behind the ClickHouse HTTP interface on 127.0.0.1:`port`. */
export async function startStore(opts: { dataDir: string; chdbPath: string; port: number; log: Logger }): Promise<StoreRole> {
  const { createChdbConnection } = await import('chdb/connection');
  const credentials = await readOrCreateStoreCredentials(opts.dataDir);
  const open = () => createChdbConnection({ path: opts.chdbPath }) as unknown as RawSqlEngine;
  const store = await startStoreServer({ open, credentials, log: opts.log, host: '127.0.0.1', port: opts.port });
  return {
    storeUrl: storeUrlFor('127.0.0.1', store.boundPort, 'visitor', credentials.visitor),
    closers: [() => store.closeAllConnections(), () => new Promise<void>((r) => store.close(() => r()))],
  };
}
