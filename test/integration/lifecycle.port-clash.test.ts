/**
 * The gateway port is exclusive: a second gateway on a port in use refuses with an error naming
 * the port, and the first keeps answering. With GATEWAY_SHARED_PORT=true on both, two gateways
 * listen on one port (SO_REUSEPORT) and either one serves it.
 */
import { describe, expect, it } from 'vitest';
import { freePort } from '../../src/adapters/redis/launcher.js';
import { rawRequest } from '../faults/support/raw-http.js';
import { startTestService } from '../support/services.js';
import { useTestService } from '../support/fixture.js';

// A fixed port, as an operator sets it (a port the kernel picked for PORT=0 is never shared).
const first = useTestService(async (fx) => {
  const redis = await fx.redis();
  return { redisUrl: redis.url, env: { PORT: String(await freePort()) } };
});

/** `GET /healthz` on a new connection (a pooled keep-alive one could reach a closed gateway). */
async function healthOnNewConnection(port: number): Promise<number> {
  return (await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')).status;
}

describe('the gateway port', () => {
  it('refuses a second gateway on a port in use, naming the port', async () => {
    const port = Number(new URL(first.url).port);
    const second = startTestService({ reuse: first, env: { ROLES: 'gateway', PORT: String(port) } });
    await expect(second).rejects.toThrow(`gateway could not listen on 127.0.0.1:${port}: the port is in use (another instance?); set GATEWAY_SHARED_PORT=true`);
    expect(await healthOnNewConnection(port)).toBe(200);
  });

  it('is shared by gateways configured to share it', async () => {
    const port = await freePort();
    const a = await startTestService({ reuse: first, env: { ROLES: 'gateway', PORT: String(port), GATEWAY_SHARED_PORT: 'true' } });
    const b = await startTestService({ reuse: first, env: { ROLES: 'gateway', PORT: String(port), GATEWAY_SHARED_PORT: 'true' } });
    expect(b.url).toBe(a.url);
    // A gateway that did not opt in is still refused on the shared port.
    await expect(startTestService({ reuse: first, env: { ROLES: 'gateway', PORT: String(port) } })).rejects.toThrow(`127.0.0.1:${port}`);
    await a.stop();
    // The port is still served: by b.
    expect(await healthOnNewConnection(port)).toBe(200);
    await b.stop();
    expect(await healthOnNewConnection(port)).toBe(0);
  });
});
