import { startRole, type Closer, type ServiceBase } from '../runtime/base.start.js';
import { readOrCreateStoreCredentials, storeUrlFor } from '../adapters/secrets/store-credentials.js';
import { startStoreServer, type RawSqlEngine } from './store.server.js';

export interface StoreRole {
  /** CLICKHOUSE_URL for the service's other processes (with the `visitor` password). */
  storeUrl: string;
  /** In the order they were opened; run last first on stop. */
  closers: Closer[];
}

/** The store role: the embedded chdb behind the ClickHouse HTTP interface on 127.0.0.1:STORE_PORT. */
export function startStore(base: ServiceBase): Promise<StoreRole> {
  const { config, chdbPath } = base;
  const log = base.log.child({ module: 'store' });
  return startRole(log, async (closers) => {
    const { createChdbConnection } = await import('chdb/connection');
    const credentials = await readOrCreateStoreCredentials(config.DATA_DIR);
    const open = () => createChdbConnection({ path: chdbPath }) as unknown as RawSqlEngine;
    const store = await startStoreServer({ open, credentials, log, host: '127.0.0.1', port: config.STORE_PORT });
    // Run last first: drop the open connections, then close the server (its callback waits for them).
    closers.push(
      () => new Promise<void>((r) => store.close(() => r())),
      () => store.closeAllConnections(),
    );
    return { storeUrl: storeUrlFor('127.0.0.1', store.boundPort, 'visitor', credentials.visitor) };
  });
}
