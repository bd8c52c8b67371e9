/**
 * Which client address a request came from when proxies stand in front of the gateway: IP
 * parsing and CIDR matching (IPv4 and IPv6) and the `TRUST_PROXY` setting, walked over
 * `X-Forwarded-For` the way express's `trust proxy` (proxy-addr) and nginx's
 * `real_ip_recursive on` walk it. No driver, no I/O.
 */
import { BoundedMemo } from './bounded-memo.js';

/** 4 bytes (IPv4) or 16 bytes (IPv6); an IPv4-mapped IPv6 address is always held as its 4 bytes. */
export type IpBytes = Uint8Array;

export interface CidrRange {
  /** Network address, host bits cleared. */
  bytes: IpBytes;
  /** Prefix length in bits (32 or 128 for a single address). */
  prefix: number;
}

/**
 * `hops`: the socket peer and the `hops − 1` nearest `X-Forwarded-For` entries are proxies,
 * whatever their address. `ranges`: a hop is a proxy when its address is in one of the ranges.
 */
export type ProxyTrust = { kind: 'hops'; hops: number } | { kind: 'ranges'; ranges: readonly CidrRange[] };

/** The client address of one request, and whether its socket peer is a trusted proxy. */
export interface ClientAddress {
  ip: string;
  viaProxy: boolean;
}

/** The most hops a count may name: more proxies than this in a chain is a misconfiguration. */
export const MAX_TRUSTED_HOPS = 32;

const V4_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const V6_GROUP = /^[0-9a-f]{1,4}$/i;

function parseV4(text: string): IpBytes | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    // No leading zeros: `010` is octal to some parsers and decimal to others.
    if (!V4_OCTET.test(parts[i]!)) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(input: string): IpBytes | undefined {
  let text = input;
  // A zone (`fe80::1%eth0`) names an interface, not part of the address.
  const zone = text.indexOf('%');
  if (zone >= 0) {
    if (zone === text.length - 1) return undefined;
    text = text.slice(0, zone);
  }
  const out = new Uint8Array(16);
  let groupsText = text;
  let v4Tail: IpBytes | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) > lastColon) {
    v4Tail = parseV4(text.slice(lastColon + 1));
    if (!v4Tail) return undefined;
    // The dotted tail stands for the last two groups.
    groupsText = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const gap = groupsText.indexOf('::');
  if (gap >= 0 && groupsText.indexOf('::', gap + 1) >= 0) return undefined;
  const split = (s: string) => (s === '' ? [] : s.split(':'));
  const head = split(gap >= 0 ? groupsText.slice(0, gap) : groupsText);
  const tail = gap >= 0 ? split(groupsText.slice(gap + 2)) : [];
  if (gap < 0 ? head.length !== 8 : head.length + tail.length > 7) return undefined;
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  for (let i = 0; i < 8; i++) {
    const g = groups[i]!;
    if (!V6_GROUP.test(g)) return undefined;
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  }
  if (v4Tail) out.set(v4Tail, 12);
  return out;
}

function isV4Mapped(b: IpBytes): boolean {
  if (b.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * Parse an IPv4 or IPv6 address (uWS's uncompressed `0000:…:ffff:7f00:0001` form included).
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`) comes back as the IPv4 address. Undefined when not an address.
 */
export function parseIp(text: string): IpBytes | undefined {
  const t = text.trim();
  if (t.length === 0 || t.length > 64) return undefined;
  if (!t.includes(':')) return parseV4(t);
  const b = parseV6(t);
  if (!b) return undefined;
  return isV4Mapped(b) ? b.slice(12) : b;
}

/** Canonical text: dotted IPv4, or IPv6 as RFC 5952 writes it (lower case, longest zero run as `::`). */
export function formatIp(b: IpBytes): string {
  if (b.length === 4) return b.join('.');
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

/**
 * Canonical texts by text: every request normalises its peer (uWS writes it as uncompressed
 * IPv6) and its forwarded hops, and clients repeat. Bounded, cleared when full.
 */
const canonical = new BoundedMemo<string | null>(20_000, 64);

function canonicalText(text: string): string | null {
  const b = parseIp(text);
  return b ? formatIp(b) : null;
}

/** An address in canonical text, or undefined when `text` is not an address. */
export function normalizeIp(text: string): string | undefined {
  return canonical.get(text, canonicalText) ?? undefined;
}

/**
 * `10.0.0.0/8`, `2001:db8::/32`, or one address (a /32 or /128). Host bits are cleared.
 * An IPv4-mapped range (`::ffff:10.0.0.0/104`) becomes the IPv4 range it maps.
 */
export function parseCidr(text: string): CidrRange | undefined {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addrText = slash >= 0 ? t.slice(0, slash) : t;
  let bytes: IpBytes | undefined;
  let mapped = false;
  if (addrText.includes(':')) {
    bytes = parseV6(addrText);
    mapped = !!bytes && isV4Mapped(bytes);
  } else bytes = parseV4(addrText);
  if (!bytes) return undefined;
  let prefix = bytes.length * 8;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(p) || Number(p) > prefix) return undefined;
    prefix = Number(p);
  }
  if (mapped && prefix >= 96) {
    bytes = bytes.slice(12);
    prefix -= 96;
  }
  const net = bytes.slice();
  for (let bit = prefix; bit < net.length * 8; bit++) net[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { bytes: net, prefix };
}

function mapV4(b: IpBytes): IpBytes {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(b, 12);
  return out;
}

/** True when the address lies in the range (an IPv4 address matches an IPv6 range as `::ffff:a.b.c.d`). */
export function inRange(ip: IpBytes, range: CidrRange): boolean {
  const b = ip.length === range.bytes.length ? ip : ip.length === 4 ? mapV4(ip) : undefined;
  if (!b) return false;
  const full = range.prefix >> 3;
  for (let i = 0; i < full; i++) if (b[i] !== range.bytes[i]) return false;
  const rest = range.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (b[full]! & mask) === range.bytes[full];
}

/** Names for common ranges, as express accepts them. */
const NAMED_RANGES: Record<string, readonly string[]> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/**
 * Read a `TRUST_PROXY` value: unset, empty, `false` or `0` → `false` (ignore forwarding
 * headers); a count `1`…`32` → that many hops; `true` → 1 hop (kept for compatibility with
 * earlier versions of this service, where `true` meant "behind one proxy"; express's `true`
 * trusts every hop instead); otherwise a comma list of addresses, CIDR ranges and the names
 * `loopback`, `linklocal`, `uniquelocal`. Returns a message naming the first bad entry.
 */
export function parseTrustProxy(value: string | undefined): ProxyTrust | false | { error: string } {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'false' || v === '0') return false;
  if (v === 'true') return { kind: 'hops', hops: 1 };
  if (/^[0-9]+$/.test(v)) {
    const hops = Number(v);
    if (hops > MAX_TRUSTED_HOPS) return { error: `a hop count must be at most ${MAX_TRUSTED_HOPS}, got ${hops}` };
    return { kind: 'hops', hops };
  }
  const ranges: CidrRange[] = [];
  for (const raw of v.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const named = NAMED_RANGES[entry];
    const parsed = named ? named.map((n) => parseCidr(n)!) : [parseCidr(entry)];
    if (parsed[0] === undefined) {
      return {
        error: `"${entry}" is not an IP address, a CIDR range (10.0.0.0/8), loopback, linklocal or uniquelocal; expected false, a hop count or a comma list of those`,
      };
    }
    ranges.push(...(parsed as CidrRange[]));
  }
  if (!ranges.length) return { error: 'expected false, a hop count or a comma list of addresses and CIDR ranges' };
  return { kind: 'ranges', ranges };
}

/** `X-Forwarded-For` entries, nearest hop first (the header lists them farthest first). */
export function forwardedHops(header: string | undefined): string[] {
  if (!header) return [];
  const out: string[] = [];
  const parts = header.split(',');
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i]!.trim();
    if (p) out.push(p);
  }
  return out;
}

function trusts(trust: ProxyTrust, addr: string, hop: number): boolean {
  if (trust.kind === 'hops') return hop < trust.hops;
  const b = parseIp(addr);
  return !!b && trust.ranges.some((r) => inRange(b, r));
}

/**
 * The client address of a request whose socket peer is `peer`: the hops are the peer, then the
 * `X-Forwarded-For` entries from right to left; the answer is the first hop that is not a
 * trusted proxy (the entry the nearest trusted proxy appended), or the farthest entry when every
 * hop before it is trusted. With `hops: N` that is the N-th entry from the right. An untrusted
 * peer means the header is the client's own words: it is not read at all.
 */
export function clientAddress(trust: ProxyTrust | false, peer: string, forwardedFor: string | undefined): ClientAddress {
  const peerIp = normalizeIp(peer) ?? peer;
  if (!trust || !trusts(trust, peerIp, 0)) return { ip: peerIp, viaProxy: false };
  const hops = [peerIp, ...forwardedHops(forwardedFor)];
  let i = 1;
  while (i < hops.length - 1 && trusts(trust, hops[i]!, i)) i++;
  const chosen = hops[Math.min(i, hops.length - 1)]!;
  return { ip: normalizeIp(chosen) ?? chosen, viaProxy: true };
}
