import { describe, expect, it } from 'vitest';
import { nativeUwsLoaded } from '../../src/gateway/server.js';

import { useTestService } from '../support/fixture.js';

const t = useTestService({ withRedis: true, env: { ROLES: 'gateway' } });

describe('uWebSockets.js', () => {
  it('serves through the native binary, not the ws fallback shim', async () => {
    // The shim is plain JS: with it, no uws_*.node shared object is mapped into the process.
    expect(nativeUwsLoaded()).toBe(true);
    const res = await fetch(`${t.url}/healthz`);
    expect(res.status).toBe(200);
    // Only the native server stamps its own header on every answer.
    expect(res.headers.get('uwebsockets')).toMatch(/^\d+$/);
  });
});
