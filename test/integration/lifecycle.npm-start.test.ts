/**
 * SIGTERM to the README's start command stops everything (`bin/setup start` ends by exec'ing
 * `npm start`, the process tested here). `npm start` builds, then runs node on
 * the compiled entry (exec'd by npm's shell, so npm's forwarded signal reaches the service, and
 * no TypeScript loader is in between). SIGTERM to the npm process drains the service, ends its
 * private redis-server, frees the gateway port, and npm exits 0.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { alive, freePort } from '../../src/adapters/redis/launcher.js';
import { useFixture } from '../support/fixture.js';
import { startInstanceProcess, type ServiceProcess } from '../support/processes.js';

let dataDir: string;
let proc: ServiceProcess;
const fx = useFixture();

/** True when nothing listens on the port any more (we can take it ourselves). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

describe('npm start', () => {
  it('stops the service and its Redis on SIGTERM to npm, freeing the port', { timeout: 300_000 }, async () => {
    dataDir = fx.trackDir(await mkdtemp(path.join(os.tmpdir(), 'visitor-npm-start-')));
    const port = await freePort();
    proc = fx.track(
      await startInstanceProcess({
        env: { DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', STORE_PORT: '0', LOG_LEVEL: 'info' },
        logFile: path.join(dataDir, 'npm-start.log'),
        command: ['npm', 'start'],
        // The build (tsc) comes first and is slow on a loaded machine.
        startTimeoutMs: 240_000,
      }),
    );
    expect(proc.url).toBe(`http://127.0.0.1:${port}`);
    const service = Number(JSON.parse(readFileSync(path.join(dataDir, 'instance.lock'), 'utf8')).pid);
    const redis = Number(readFileSync(path.join(dataDir, 'redis', 'redis.pid'), 'utf8'));
    // npm's child is the service itself: node on compiled JavaScript, no shell or loader between.
    expect(Number(readFileSync(`/proc/${service}/stat`, 'utf8').split(' ')[3])).toBe(proc.pid);
    const argv = readFileSync(`/proc/${service}/cmdline`, 'utf8').split('\0');
    expect(argv.some((a) => a.endsWith('dist/app/main.js'))).toBe(true);
    expect(argv.join(' ')).not.toMatch(/tsx|\.ts\b/);
    expect((await fetch(`${proc.url}/healthz`)).status).toBe(200);

    proc.child.kill('SIGTERM');
    const code = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r('still running'), 20_000))]);
    expect(code).toBe(0);
    expect(alive(service)).toBe(false);
    expect(alive(redis)).toBe(false);
    expect(await portFree(port)).toBe(true);
    expect(proc.messages()).toContain('[service] stopped');
  });
});
