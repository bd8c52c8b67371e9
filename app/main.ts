import { ConfigError, loadConfig } from '../src/config.js';
import { GatewayListenError } from '../src/gateway/server.js';
import { InstanceLockedError } from '../src/instance-lock.js';
import { startService } from './service.js';

/**
 * Process entry: `npm start` (all roles; it runs `node dist/app/main.js`, so SIGTERM and SIGINT
 * reach this process) or ROLES=gateway|worker|store for one role per process.
 */
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
    // The operator's to fix (a bad accounts file, a DATA_DIR or port in use): the message says
    // what and where, a stack would not.
    const refused = err instanceof InstanceLockedError || err instanceof GatewayListenError;
    if (refused) process.stderr.write(`start-up refused: ${err.message}\n`);
    else if (err instanceof ConfigError) process.stderr.write(`start-up failed: ${err.message}\n`);
    else process.stderr.write(`start-up failed: ${err.stack ?? err.message}\n`);
    process.exit(err instanceof ConfigError ? 2 : 1);
  });
  // However the process ends from here on (drain deadline, a crash), its private Redis goes too.
  process.on('exit', () => service.abort());
  const lines = [`visitor service up (roles: ${config.ROLES.join(',')})`];
  if (service.gatewayUrl)
    lines.push(`  gateway      ${service.gatewayUrl}   (dashboard at /, snippet at /t.js)`, `               bound to ${service.gatewayBound}`);
  if (service.storeUrl)
    lines.push(`  CLICKHOUSE_URL=${service.storeUrl}   (for more processes; Grafana: user grafana, DATA_DIR/credentials/_store/grafana-password)`);
  lines.push(`  REDIS_URL=${service.redisUrl}`);
  if (service.demoAdminKeyFile) lines.push(`  demo admin key in ${service.demoAdminKeyFile}`);
  process.stderr.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    service.log.info({ signal }, '[service] draining');
    const deadline = setTimeout(() => {
      service.log.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, '[service] drain deadline passed; exiting');
      service.log.flush?.();
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS);
    deadline.unref();
    service.stop().then(
      () => {
        service.log.info({ signal }, '[service] stopped');
        service.log.flush?.();
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

void main();
