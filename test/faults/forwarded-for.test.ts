/**
 * A client that writes its own X-Forwarded-For hop cannot choose its address: behind
 * `TRUST_PROXY` the gateway takes the entry the nearest trusted proxy appended, so a burst with
 * a forged random first hop is rate limited as the one real address. Real gateway processes,
 * `RATE_LIMIT_PER_IP=5` (a bucket of 10), requests from this machine (the socket peer is
 * 127.0.0.1, standing in for the proxy).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_UA, beacon } from '../support/services.js';
import { useTestService } from '../support/fixture.js';
import { startServiceProcess, type ServiceProcess } from '../support/processes.js';

const base = useTestService({ env: { ROLES: 'store' } });
let oneHop: ServiceProcess;
let ranges: ServiceProcess;
let untrustedPeer: ServiceProcess;

const limited = { RATE_LIMIT_PER_IP: '5', ROLES: 'gateway', LOG_LEVEL: 'info' };

beforeAll(async () => {
  [oneHop, ranges, untrustedPeer] = await Promise.all([
    startServiceProcess(base, { env: { ...limited, TRUST_PROXY: '1' } }),
    startServiceProcess(base, { env: { ...limited, TRUST_PROXY: '127.0.0.1/8, 10.0.0.0/8' } }),
    startServiceProcess(base, { env: { ...limited, TRUST_PROXY: '10.0.0.0/8' } }),
  ]);
  base.fx.track(oneHop, ranges, untrustedPeer);
});

const forged = () => `${randomBytes(1)[0]! + 1}.${randomBytes(1)[0]}.${randomBytes(1)[0]}.${randomBytes(1)[0]}`;

/** 40 beacons at once, each with its own X-Forwarded-For; the statuses counted. */
async function burst(gw: ServiceProcess, xff: (i: number) => string): Promise<Record<number, number>> {
  const statuses = await Promise.all(
    Array.from({ length: 40 }, async (_, i) => {
      const res = await fetch(`${gw.url}/v/event`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', 'user-agent': BROWSER_UA, 'x-forwarded-for': xff(i) },
        body: JSON.stringify(beacon(base.account.id, { eventId: randomUUID() })),
      });
      await res.arrayBuffer();
      return res.status;
    }),
  );
  const out: Record<number, number> = {};
  for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
  return out;
}

describe('fault: a forged X-Forwarded-For hop', () => {
  it('TRUST_PROXY=1: a forged random first hop is rate limited as the real address', async () => {
    const r = await burst(oneHop, () => `${forged()}, 203.0.113.9`);
    console.info('[forwarded-for] TRUST_PROXY=1, forged first hop', r);
    // The bucket holds 10 and refills 5/s: a few more pass while the burst is in flight.
    expect(r[429] ?? 0, JSON.stringify(r)).toBeGreaterThanOrEqual(25);
    expect((r[204] ?? 0) + (r[429] ?? 0)).toBe(40);
    // The header is read: forty different real addresses are forty clients.
    expect(await burst(oneHop, (i) => `198.51.100.${i + 1}`)).toEqual({ 204: 40 });
  });

  it('TRUST_PROXY as CIDR ranges: the walk from the right skips every trusted proxy', async () => {
    const r = await burst(ranges, () => `${forged()}, 203.0.113.10, 10.0.0.7`);
    expect(r[429] ?? 0, JSON.stringify(r)).toBeGreaterThanOrEqual(25);
    expect(await burst(ranges, (i) => `${forged()}, 198.51.100.${i + 1}, 10.0.0.7`)).toEqual({ 204: 40 });
  });

  it('a socket peer outside the trusted ranges: the header is not read at all', async () => {
    // Forty different addresses, but the peer (127.0.0.1) is no trusted proxy: one client.
    const r = await burst(untrustedPeer, (i) => `198.51.100.${i + 1}`);
    expect(r[429] ?? 0, JSON.stringify(r)).toBeGreaterThanOrEqual(25);
  });
});
