import { ConfigError, loadConfig } from './config.js';
import { startService } from './service.js';

/** Process entry: `npm start` (all roles) or ROLES=gateway|worker|store for one role per process. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const service = await startService(config).catch((err: Error) => {
    // A bad accounts file is the operator's to fix: its message says where, a stack would not.
    if (err instanceof ConfigError) process.stderr.write(`start-up failed: ${err.message}\n`);
    else process.stderr.write(`start-up failed: ${err.stack ?? err.message}\n`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  });
  const lines = [`visitor service up (roles: ${config.ROLES.join(',')})`];
  if (service.gatewayUrl) lines.push(`  gateway      ${service.gatewayUrl}   (dashboard at /, snippet at /t.js)`, `               bound to ${service.gatewayBound}`);
  if (service.storeUrl) lines.push(`  CLICKHOUSE_URL=${service.storeUrl}   (for more processes and Grafana)`);
  lines.push(`  REDIS_URL=${service.redisUrl}`);
  if (service.demoAdminKeyFile) lines.push(`  demo admin key in ${service.demoAdminKeyFile}`);
  process.stderr.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    service.log.info({ signal }, '[service] draining');
    const deadline = setTimeout(() => {
      service.log.error('[service] drain deadline passed; exiting');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    service.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

void main();
