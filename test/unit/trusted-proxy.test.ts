import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import {
  clientAddress,
  formatIp,
  forwardedHops,
  inRange,
  normalizeIp,
  parseCidr,
  parseIp,
  parseTrustProxy,
  type ProxyTrust,
} from '../../src/domain/trusted-proxy.js';

function trust(value: string): ProxyTrust | false {
  const t = parseTrustProxy(value);
  if (t && 'error' in t) throw new Error(t.error);
  return t;
}

function matches(cidr: string, ip: string): boolean {
  const r = parseCidr(cidr);
  const b = parseIp(ip);
  if (!r || !b) throw new Error(`bad test input ${cidr} ${ip}`);
  return inRange(b, r);
}

describe('IP addresses', () => {
  it('parses and prints IPv4 and IPv6 canonically', () => {
    const cases: [string, string][] = [
      ['127.0.0.1', '127.0.0.1'],
      ['0.0.0.0', '0.0.0.0'],
      ['255.255.255.255', '255.255.255.255'],
      ['::1', '::1'],
      ['::', '::'],
      ['2001:DB8::1', '2001:db8::1'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      // uWS prints a peer address uncompressed; an IPv4 peer on a dual-stack socket is mapped.
      ['0000:0000:0000:0000:0000:ffff:7f00:0001', '127.0.0.1'],
      ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
      ['::ffff:203.0.113.9', '203.0.113.9'],
      ['::FFFF:cb00:7109', '203.0.113.9'],
      ['fe80::1%eth0', 'fe80::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
      ['::1.2.3.4', '::102:304'],
      [' 10.0.0.1 ', '10.0.0.1'],
    ];
    for (const [input, out] of cases) expect(normalizeIp(input), input).toBe(out);
  });

  it('refuses what is not an address', () => {
    for (const bad of [
      '',
      'x',
      '1.2.3',
      '1.2.3.4.5',
      '256.1.1.1',
      '01.2.3.4',
      '1.2.3.-1',
      '1.2.3.4/8',
      '1.2.3.4:80',
      '[::1]',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '12345::',
      'g::1',
      ':1',
      '1:',
      '::ffff:1.2.3',
      'fe80::1%',
      '{x:String}',
      '../../x',
      'unknown',
    ]) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  it('formats 4 and 16 bytes', () => {
    expect(formatIp(new Uint8Array([10, 1, 2, 3]))).toBe('10.1.2.3');
    expect(formatIp(new Uint8Array(16))).toBe('::');
  });
});

describe('CIDR ranges', () => {
  it('matches by prefix, host bits ignored', () => {
    expect(matches('10.0.0.0/8', '10.255.1.2')).toBe(true);
    expect(matches('10.0.0.0/8', '11.0.0.1')).toBe(false);
    expect(matches('10.9.9.9/8', '10.0.0.1')).toBe(true);
    expect(matches('172.16.0.0/12', '172.31.255.255')).toBe(true);
    expect(matches('172.16.0.0/12', '172.32.0.0')).toBe(false);
    expect(matches('192.168.1.0/25', '192.168.1.127')).toBe(true);
    expect(matches('192.168.1.0/25', '192.168.1.128')).toBe(false);
    expect(matches('0.0.0.0/0', '8.8.8.8')).toBe(true);
    expect(matches('127.0.0.1', '127.0.0.1')).toBe(true);
    expect(matches('127.0.0.1', '127.0.0.2')).toBe(false);
    expect(matches('2001:db8::/32', '2001:db8:ffff::1')).toBe(true);
    expect(matches('2001:db8::/32', '2001:db9::1')).toBe(false);
    expect(matches('fe80::/10', 'febf::1')).toBe(true);
    expect(matches('fe80::/10', 'fec0::1')).toBe(false);
    expect(matches('::1', '::1')).toBe(true);
  });

  it('treats IPv4-mapped IPv6 as IPv4 on both sides', () => {
    expect(matches('10.0.0.0/8', '::ffff:10.1.2.3')).toBe(true);
    expect(matches('::ffff:10.0.0.0/104', '10.1.2.3')).toBe(true);
    expect(parseCidr('::ffff:10.0.0.0/104')).toEqual({ bytes: new Uint8Array([10, 0, 0, 0]), prefix: 8 });
    expect(matches('::/0', '10.1.2.3')).toBe(true);
    expect(matches('10.0.0.0/8', '::1')).toBe(false);
    expect(matches('::1', '127.0.0.1')).toBe(false);
  });

  it('refuses bad ranges', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/x', '::/129', '10.0.0/8', '/8', '10.0.0.0/08x']) expect(parseCidr(bad), bad).toBeUndefined();
  });
});

describe('TRUST_PROXY', () => {
  it('reads off, counts, the true alias, lists and names', () => {
    for (const off of [undefined, '', 'false', 'FALSE', '0', ' ']) expect(parseTrustProxy(off), String(off)).toBe(false);
    expect(parseTrustProxy('true')).toEqual({ kind: 'hops', hops: 1 });
    expect(parseTrustProxy('2')).toEqual({ kind: 'hops', hops: 2 });
    const ranges = (value: string) => {
      const t = trust(value);
      return t && t.kind === 'ranges' ? t.ranges.length : 0;
    };
    expect(ranges('127.0.0.1/8, 10.0.0.0/8,::1')).toBe(3);
    expect(ranges('loopback,uniquelocal')).toBe(6);
    expect(parseTrustProxy('33')).toHaveProperty('error');
    expect(parseTrustProxy('10.0.0.0/8,nginx')).toHaveProperty('error', expect.stringContaining('"nginx"'));
    expect(parseTrustProxy(',')).toHaveProperty('error');
  });

  it('stops start-up with a message naming TRUST_PROXY for a bad value', () => {
    expect(() => loadConfig({ TRUST_PROXY: 'yes' })).toThrow(ConfigError);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY: "10\.0\.0\.0\/33" is not an IP address/);
    expect(loadConfig({}).TRUST_PROXY).toBe(false);
    expect(loadConfig({ TRUST_PROXY: 'true' }).TRUST_PROXY).toEqual({ kind: 'hops', hops: 1 });
    expect(loadConfig({}).HTTP_MAX_BUFFERED_BYTES).toBe(4 * 1024 * 1024);
  });
});

describe('client address', () => {
  const peer = '127.0.0.1';

  it('lists X-Forwarded-For nearest first, skipping empty entries', () => {
    expect(forwardedHops('a, b,,c ,')).toEqual(['c', 'b', 'a']);
    expect(forwardedHops(undefined)).toEqual([]);
  });

  it('never reads the header when nothing is trusted', () => {
    expect(clientAddress(false, peer, '203.0.113.9')).toEqual({ ip: '127.0.0.1', viaProxy: false });
    expect(clientAddress(false, '0000:0000:0000:0000:0000:ffff:7f00:0001', '203.0.113.9')).toEqual({ ip: '127.0.0.1', viaProxy: false });
  });

  it('with a count takes the N-th entry from the right (the peer is hop 0), as express does', () => {
    const xff = '198.51.100.1, 198.51.100.2, 198.51.100.3';
    expect(clientAddress(trust('1'), peer, xff).ip).toBe('198.51.100.3');
    expect(clientAddress(trust('2'), peer, xff).ip).toBe('198.51.100.2');
    expect(clientAddress(trust('3'), peer, xff).ip).toBe('198.51.100.1');
    // Fewer entries than trusted hops: the farthest one there is.
    expect(clientAddress(trust('5'), peer, xff).ip).toBe('198.51.100.1');
    // No header: the peer.
    expect(clientAddress(trust('1'), peer, undefined)).toEqual({ ip: peer, viaProxy: true });
    expect(clientAddress(trust('true'), peer, xff).ip).toBe('198.51.100.3');
  });

  it('is not fooled by a forged first hop', () => {
    // The client wrote "6.6.6.6"; the proxy appended the address it saw.
    expect(clientAddress(trust('1'), peer, '6.6.6.6, 203.0.113.9').ip).toBe('203.0.113.9');
    expect(clientAddress(trust('127.0.0.0/8'), peer, '6.6.6.6, 203.0.113.9').ip).toBe('203.0.113.9');
  });

  it('with ranges walks from the right past trusted hops (real_ip_recursive)', () => {
    const t = trust('127.0.0.1/8,10.0.0.0/8');
    expect(clientAddress(t, peer, '6.6.6.6, 203.0.113.9, 10.0.0.7, 10.0.0.8')).toEqual({ ip: '203.0.113.9', viaProxy: true });
    // Every entry trusted: the farthest one.
    expect(clientAddress(t, peer, '10.0.0.1, 10.0.0.2').ip).toBe('10.0.0.1');
    // A trusted hop that is not an address stops the walk there, as in express.
    expect(clientAddress(t, peer, '203.0.113.9, unknown').ip).toBe('unknown');
    // IPv6 proxies and clients; mapped addresses normalised.
    const t6 = trust('::1,2001:db8::/32');
    expect(clientAddress(t6, '0000:0000:0000:0000:0000:0000:0000:0001', '2001:DB8:0:0:0:0:0:ABCD, 2001:db8::1').ip).toBe('2001:db8::abcd');
    expect(clientAddress(t6, '::1', 'fd00::5, 2001:db8::1').ip).toBe('fd00::5');
    expect(clientAddress(trust('127.0.0.1'), '::ffff:127.0.0.1', '::ffff:203.0.113.9').ip).toBe('203.0.113.9');
  });

  it('ignores the header when the socket peer is not a trusted proxy', () => {
    const t = trust('10.0.0.0/8');
    expect(clientAddress(t, '203.0.113.50', '10.0.0.1')).toEqual({ ip: '203.0.113.50', viaProxy: false });
    expect(clientAddress(t, peer, '198.51.100.7')).toEqual({ ip: '127.0.0.1', viaProxy: false });
  });
});
