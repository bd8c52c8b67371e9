import { describe, expect, it } from 'vitest';
import {
  pageMessage,
  pagesOf,
  parseDiff,
  publicCount,
  siteMessage,
  snapshotMessage,
  toLiveVisitor,
  zLiveClientMessage,
  type PresenceDiff,
  type RawVisitorView,
} from '../../src/domain/presence.messages.js';

const view = (over: Partial<RawVisitorView> = {}): RawVisitorView => ({
  id: 'v1',
  sid: 's1',
  path: '/a',
  title: 'A',
  ua: 'Chrome',
  dev: 'desktop',
  person: '',
  seg: 'north',
  pseg: 'south',
  pv: 2,
  joined: 1000,
  seen: 3000,
  act: 2000,
  tabs: 2,
  on: ['/a', '/b'],
  ...over,
});

describe('parseDiff', () => {
  it('accepts a diff and rejects anything else', () => {
    expect(parseDiff('{"seq":3,"k":"join","v":"v1"}')).toEqual({ seq: 3, k: 'join', v: 'v1' });
    expect(parseDiff('not json')).toBeUndefined();
    expect(parseDiff('null')).toBeUndefined();
    expect(parseDiff('{"seq":"3","k":"join","v":"v1"}')).toBeUndefined();
    expect(parseDiff('{"seq":3,"k":"explode","v":"v1"}')).toBeUndefined();
  });
});

describe('toLiveVisitor', () => {
  it('names fields for operators and derives authentication and cross-segment', () => {
    const v = toLiveVisitor(view({ person: 'p-9' }));
    expect(v).toMatchObject({
      visitorId: 'v1',
      sessionId: 's1',
      personId: 'p-9',
      authenticated: true,
      pagesViewed: 2,
      joinedAt: 1000,
      lastSeen: 3000,
      lastActivity: 2000,
      crossSegment: true,
      tabs: 2,
      openPages: ['/a', '/b'],
    });
    const anon = toLiveVisitor(view({ seg: '', on: {} }));
    expect(anon).toMatchObject({ personId: null, authenticated: false, segment: null, crossSegment: false, openPages: [] });
  });
});

describe('siteMessage', () => {
  it('turns each kind of diff into the operator message with site counts', () => {
    const join: PresenceDiff = { seq: 1, k: 'join', v: 'v1', vis: view(), c: [5, 2], pg: { '/a': [3, 1] }, in: ['/a'] };
    expect(siteMessage(join)).toMatchObject({
      type: 'join',
      seq: 1,
      online: 5,
      authenticated: 2,
      anonymous: 3,
      pages: [{ path: '/a', count: 3, authenticated: 1 }],
    });
    expect(siteMessage({ seq: 2, k: 'leave', v: 'v1', r: 'timeout', c: [4, 2] })).toEqual({
      type: 'leave',
      seq: 2,
      visitorId: 'v1',
      reason: 'timeout',
      online: 4,
      authenticated: 2,
      anonymous: 2,
      pages: [],
    });
    expect(siteMessage({ seq: 3, k: 'update', v: 'v1', vis: view(), c: [4, 2] })).toMatchObject({ type: 'update', visitor: { visitorId: 'v1' } });
    const ev: PresenceDiff = { seq: 4, k: 'event', v: 'v1', e: { type: 'click', path: '/a', label: 'floorplan', depth: 0, listing: '', ts: 9, id: 'e1' } };
    expect(siteMessage(ev)).toEqual({
      type: 'event',
      seq: 4,
      visitorId: 'v1',
      event: { type: 'click', path: '/a', label: 'floorplan', depth: 0, listing: '', ts: 9, eventId: 'e1' },
    });
  });
});

describe('pageMessage', () => {
  const nav: PresenceDiff = { seq: 7, k: 'update', v: 'v1', vis: view({ on: ['/b'] }), c: [1, 0], pg: { '/a': [0, 0], '/b': [2, 0] }, in: ['/b'], out: ['/a'] };

  it('is a join on the page entered and a leave (navigate) on the page left', () => {
    expect(pageMessage(nav, '/b')).toMatchObject({ type: 'join', page: '/b', online: 2, authenticated: 0, anonymous: 2 });
    expect(pageMessage(nav, '/a')).toMatchObject({ type: 'leave', page: '/a', visitorId: 'v1', reason: 'navigate', online: 0 });
    expect(pageMessage(nav, '/c')).toBeUndefined();
  });

  it('keeps the reason of a leave of the site, and of a tab that timed out', () => {
    expect(pageMessage({ seq: 8, k: 'leave', v: 'v1', r: 'timeout', c: [0, 0], pg: { '/b': [0, 0] }, out: ['/b'] }, '/b')).toMatchObject({
      type: 'leave',
      reason: 'timeout',
    });
    expect(
      pageMessage({ seq: 9, k: 'update', v: 'v1', r: 'leave', vis: view({ on: ['/b'] }), c: [1, 0], pg: { '/a': [0, 0] }, out: ['/a'] }, '/a'),
    ).toMatchObject({ type: 'leave', reason: 'leave' });
  });

  it('passes updates of visitors on the page and events on the page only', () => {
    const upd: PresenceDiff = { seq: 10, k: 'update', v: 'v1', vis: view({ on: ['/a'] }), c: [1, 0] };
    expect(pageMessage(upd, '/a')).toMatchObject({ type: 'update', page: '/a', pages: [] });
    expect(pageMessage(upd, '/b')).toBeUndefined();
    const ev: PresenceDiff = { seq: 11, k: 'event', v: 'v1', e: { type: 'click', path: '/a', label: '', depth: 0, listing: '', ts: 1, id: 'x' } };
    expect(pageMessage(ev, '/a')).toMatchObject({ type: 'event', page: '/a' });
    expect(pageMessage(ev, '/b')).toBeUndefined();
  });
});

describe('publicCount', () => {
  it('sends the site count on joins and leaves only, never an identity', () => {
    const join: PresenceDiff = { seq: 1, k: 'join', v: 'v1', vis: view(), c: [5, 2], pg: { '/a': [3, 1] }, in: ['/a'] };
    expect(publicCount(join, 'acme', null)).toEqual({ type: 'count', account: 'acme', page: null, online: 5 });
    expect(publicCount(join, 'acme', '/a')).toEqual({ type: 'count', account: 'acme', page: '/a', online: 3 });
    expect(publicCount(join, 'acme', '/b')).toBeUndefined();
    expect(publicCount({ seq: 2, k: 'update', v: 'v1', vis: view(), c: [5, 3], pg: { '/a': [3, 2] } }, 'acme', '/a')).toBeUndefined();
    expect(publicCount({ seq: 2, k: 'update', v: 'v1', vis: view(), c: [5, 3] }, 'acme', null)).toBeUndefined();
  });
});

describe('pagesOf', () => {
  it('lists every page a diff concerns', () => {
    expect(pagesOf({ seq: 1, k: 'update', v: 'v1', vis: view({ on: ['/c'] }), pg: { '/d': [1, 1] }, in: ['/a'], out: ['/b'] }).sort()).toEqual([
      '/a',
      '/b',
      '/c',
      '/d',
    ]);
    expect(pagesOf({ seq: 2, k: 'event', v: 'v1', e: { type: 'click', path: '/e', label: '', depth: 0, listing: '', ts: 1, id: 'x' } })).toEqual(['/e']);
  });
});

describe('snapshotMessage', () => {
  it('reads the script output, with empty lists encoded as {}', () => {
    const s = snapshotMessage('acme', null, { seq: 0, online: 0, auth: 0, npages: 0, pages: {}, segs: {}, visitors: {} }, 5);
    expect(s).toEqual({
      type: 'snapshot',
      seq: 0,
      account: 'acme',
      page: null,
      online: 0,
      authenticated: 0,
      anonymous: 0,
      percentages: { authenticated: 0, anonymous: 0 },
      pages: [],
      totalPages: 0,
      segments: [],
      crossSegment: 0,
      visitors: [],
      truncated: false,
      ts: 5,
    });
  });

  it('sorts visitors by last activity and flags a truncated list', () => {
    const s = snapshotMessage(
      'acme',
      null,
      {
        seq: 9,
        online: 3,
        auth: 1,
        npages: 2,
        pages: [
          ['/a', 2, 1],
          ['/b', 1, 0],
        ],
        segs: [
          ['south', 1, 0],
          ['north', 2, 1],
        ],
        visitors: [view({ id: 'old', act: 1 }), view({ id: 'new', act: 5 })],
      },
      5,
    );
    expect(s.visitors.map((v) => v.visitorId)).toEqual(['new', 'old']);
    expect(s.truncated).toBe(true);
    expect(s.percentages).toEqual({ authenticated: 33.3, anonymous: 66.7 });
    expect(s.segments).toEqual([
      { segment: 'north', online: 2, crossSegment: 1 },
      { segment: 'south', online: 1, crossSegment: 0 },
    ]);
    expect(s.crossSegment).toBe(1);
    expect(s.pages).toEqual([
      { path: '/a', count: 2, authenticated: 1 },
      { path: '/b', count: 1, authenticated: 0 },
    ]);
  });

  it('lists only the page itself in a page snapshot', () => {
    const s = snapshotMessage('acme', '/a', { seq: 1, online: 2, auth: 1, npages: 4, pages: [], segs: [], visitors: [] }, 5);
    expect(s.pages).toEqual([{ path: '/a', count: 2, authenticated: 1 }]);
  });
});

describe('zLiveClientMessage', () => {
  it('accepts a ping and nothing else', () => {
    expect(zLiveClientMessage.safeParse({ type: 'ping' }).success).toBe(true);
    expect(zLiveClientMessage.safeParse({ type: 'subscribe', page: '/a' }).success).toBe(false);
    expect(zLiveClientMessage.safeParse('ping').success).toBe(false);
  });
});
