import uWS, { type TemplatedApp, type WebSocket } from 'uWebSockets.js';
import type { Logger } from '../logger.js';
import { kv } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { AccountRegistry } from '../domain/account.js';
import { ForbiddenOriginError, GatewayError, UnknownAccountError, ValidationError } from '../errors.js';
import { toGatewayError } from './error-map.js';
import { presencePath } from '../domain/presence.rules.js';
import {
  pageMessage,
  pagesOf,
  parseDiff,
  publicCount,
  siteMessage,
  snapshotMessage,
  zLiveClientMessage,
  zLivePage,
  type CountMessage,
  type PresenceDiff,
} from '../domain/presence.messages.js';
import type { PresenceStore, PresenceSubscriber } from '../adapters/redis/presence.store.js';
import type { RouteModule } from './context.js';
import { statusLine } from './http.js';
import { requireAdmin } from './admin-auth.js';

export interface LiveOptions {
  /** Bytes buffered for one slow client before it is dropped (it reconnects to a fresh snapshot). */
  maxBackpressure: number;
  /** Visitors in an operator snapshot. */
  snapshotVisitors: number;
  /** Pages in an operator snapshot. */
  snapshotPages: number;
}

interface LiveUserData {
  account: string;
  scope: 'admin' | 'public';
  page: string | null;
  pageSegments: Readonly<Record<string, string>>;
  closed: boolean;
  garbage: number;
}

type LiveSocket = WebSocket<LiveUserData>;

/** Largest message a client may send (they only ever send `{"type":"ping"}`): more closes that client. */
const MAX_CLIENT_MESSAGE = 4096;
/**
 * Diffs kept per account to bring a new client from its snapshot up to the live topic: only
 * those of the last few seconds are ever needed (a snapshot takes milliseconds), so memory
 * stays small however many accounts a gateway serves.
 */
const RING_SIZE = 8192;
const RING_MAX_AGE_MS = 5_000;
const RING_TRIM_CHUNK = 1024;
/** How long a new client waits for this gateway to receive the diffs its snapshot includes. */
const CATCH_UP_MS = 2_000;
/** Close code telling a client to reconnect for a fresh snapshot (this gateway missed diffs). */
export const CLOSE_RESYNC = 4001;

export function adminTopic(account: string, page: string | null): string {
  return page === null ? `live|${account}` : `live|${account}|page|${page}`;
}

export function publicTopic(account: string, page: string | null): string {
  return page === null ? `pub|${account}` : `pub|${account}|page|${page}`;
}

/** How long an account stays subscribed after its last client here left. */
const UNWATCH_AFTER_MS = 30_000;

/** An account this gateway is subscribed to. */
interface Watch {
  ready: Promise<void>;
  /** The sequence number read right after subscribing: diffs up to it are in any later snapshot. */
  baseline: number;
  /** Until then, a diff numbered up to the baseline is one published before the subscription. */
  until: number;
  idle?: NodeJS.Timeout;
}

/** A diff as received: parsed only once a client of its account needs it. */
interface RingEntry {
  seq: number;
  raw: string;
  d?: PresenceDiff | null;
  at: number;
}

function diffOf(r: RingEntry): PresenceDiff | undefined {
  if (r.d === undefined) r.d = parseDiff(r.raw) ?? null;
  return r.d ?? undefined;
}

/**
 * Brings presence diffs from Redis to this gateway's WebSocket clients. Every gateway
 * subscribes to every account's diff channel, so a client here sees joins that arrived at any
 * gateway. Diffs are published into uWS topics (uWS fans out in C++ and applies each client's
 * backpressure limit on its own, so a slow client never holds up the others). A new client gets
 * a snapshot at sequence S, then the diffs after S this gateway already holds, then the topic:
 * all in one synchronous block, so nothing is missed or sent twice.
 */
export class LiveHub {
  #app?: TemplatedApp;
  readonly #lastSeq = new Map<string, number>();
  readonly #ring = new Map<string, RingEntry[]>();
  readonly #waiters = new Map<string, { seq: number; resolve: () => void }[]>();
  readonly #sockets = new Map<string, Set<LiveSocket>>();
  readonly #watches = new Map<string, Watch>();
  #closing = false;
  #started = false;

  constructor(
    private readonly store: PresenceStore,
    private readonly subscriber: PresenceSubscriber,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    readonly opts: LiveOptions,
  ) {}

  /** Listen for diffs; accounts are subscribed to when their first client here connects. */
  async start(): Promise<void> {
    await this.subscriber.start((account, seq, raw) => this.onMessage(account, seq, raw));
    this.#started = true;
  }

  /**
   * Subscribe to an account's diffs (once for all its clients), then learn its current sequence
   * number: every diff after that number arrives here, so a snapshot taken afterwards can be
   * brought up to the live topic.
   */
  #watch(account: string): Promise<void> {
    const w = this.#watches.get(account);
    if (w) {
      clearTimeout(w.idle);
      w.idle = undefined;
      return w.ready;
    }
    const entry: Watch = { ready: Promise.resolve(), baseline: Number.POSITIVE_INFINITY, until: 0 };
    this.#watches.set(account, entry);
    if (!this.#ring.has(account)) this.#ring.set(account, []);
    entry.ready = (async () => {
      await this.subscriber.watch(account);
      const seq = await this.store.seq(account);
      entry.baseline = seq;
      entry.until = Date.now() + CATCH_UP_MS;
      this.#lastSeq.set(account, Math.max(seq, this.#lastSeq.get(account) ?? 0));
    })();
    entry.ready.catch(() => {
      if (this.#watches.get(account) === entry) this.#watches.delete(account);
    });
    return entry.ready;
  }

  /** The account's last client here left: unsubscribe after a while (a reconnect is cheap then). */
  #unwatchLater(account: string): void {
    const w = this.#watches.get(account);
    if (!w || w.idle) return;
    w.idle = setTimeout(() => {
      if ((this.#sockets.get(account)?.size ?? 0) > 0 || this.#watches.get(account) !== w) return;
      this.#watches.delete(account);
      this.#lastSeq.delete(account);
      this.#ring.delete(account);
      this.subscriber.unwatch(account).catch((err: unknown) => this.log.warn({ err, account }, '[live] unsubscribe failed'));
    }, UNWATCH_AFTER_MS);
    w.idle.unref();
  }

  #restart(account: string, seq: number): void {
    this.#lastSeq.set(account, seq);
    this.#ring.set(account, []);
  }

  bind(app: TemplatedApp): void {
    this.#app = app;
  }

  clients(): number {
    let n = 0;
    for (const s of this.#sockets.values()) n += s.size;
    return n;
  }

  /** A parsed diff (tests, and callers that have one). */
  onDiff(account: string, diff: PresenceDiff): void {
    this.onMessage(account, diff.seq, JSON.stringify(diff), diff);
  }

  /**
   * A diff as published: only its sequence number is read unless a client of this account is
   * connected here, so a gateway pays the JSON parse only for the accounts it serves.
   */
  onMessage(account: string, seq: number, raw: string, parsed?: PresenceDiff): void {
    const w = this.#watches.get(account);
    // A diff of an account no longer watched (its unsubscribe was on its way).
    if (!w) return;
    const last = this.#lastSeq.get(account);
    let ring = this.#ring.get(account);
    if (!ring) this.#ring.set(account, (ring = []));
    if (last !== undefined && seq <= last) {
      if (ring.some((r) => r.seq === seq) || !this.#started) return;
      // Published before the number the subscription started from: the snapshot has it.
      if (seq <= w.baseline && Date.now() < w.until) return;
      // An unseen number at or below the last one: the sequence restarted (Redis lost its data).
      this.log.warn({ account, last, seq }, '[live] presence sequence restarted; resync');
      this.#restart(account, seq);
      this.#resync(account);
      return;
    }
    const watched = (this.#sockets.get(account)?.size ?? 0) > 0;
    let d: PresenceDiff | undefined = parsed;
    if (watched && !d) {
      d = parseDiff(raw);
      if (!d) {
        this.log.warn({ account }, '[presence-diff] dropping malformed diff');
        return;
      }
    }
    this.#lastSeq.set(account, seq);
    const now = Date.now();
    ring.push({ seq, raw, d, at: now });
    // Trimmed in chunks: a splice per diff shifted the whole ring at every heartbeat burst.
    // Readers filter by sequence number, so a few stale entries in between cost nothing.
    if (ring.length > RING_SIZE + RING_TRIM_CHUNK || now - ring[0]!.at > RING_MAX_AGE_MS * 2) {
      let drop = Math.max(0, ring.length - RING_SIZE);
      while (drop < ring.length && now - ring[drop]!.at > RING_MAX_AGE_MS) drop++;
      if (drop > 0) ring.splice(0, drop);
    }
    if (last !== undefined && seq > last + 1) {
      // Pub/sub lost messages (a reconnect to Redis): clients would drift, so they start over.
      this.log.warn({ account, from: last, to: seq, gap: seq - last - 1 }, '[live] presence sequence gap; resync');
      this.#resync(account);
    } else if (d) {
      this.#fanOut(account, d);
    }
    const waiters = this.#waiters.get(account);
    if (waiters?.length) {
      const still = waiters.filter((w) => {
        if (w.seq > seq) return true;
        w.resolve();
        return false;
      });
      this.#waiters.set(account, still);
    }
  }

  #fanOut(account: string, d: PresenceDiff): void {
    const app = this.#app;
    if (!app) return;
    const pub = (topic: string, msg: unknown) => {
      if (msg !== undefined && app.numSubscribers(topic) > 0) app.publish(topic, JSON.stringify(msg));
    };
    let topic = adminTopic(account, null);
    if (app.numSubscribers(topic) > 0) pub(topic, siteMessage(d));
    topic = publicTopic(account, null);
    if (app.numSubscribers(topic) > 0) pub(topic, publicCount(d, account, null));
    for (const page of pagesOf(d)) {
      topic = adminTopic(account, page);
      if (app.numSubscribers(topic) > 0) pub(topic, pageMessage(d, page));
      topic = publicTopic(account, page);
      if (app.numSubscribers(topic) > 0) pub(topic, publicCount(d, account, page));
    }
  }

  #format(ud: LiveUserData, d: PresenceDiff): unknown {
    if (ud.scope === 'public') return publicCount(d, ud.account, ud.page);
    return ud.page === null ? siteMessage(d) : pageMessage(d, ud.page);
  }

  #resync(account: string): void {
    for (const ws of [...(this.#sockets.get(account) ?? [])]) {
      if (!ws.getUserData().closed) ws.end(CLOSE_RESYNC, 'resync');
    }
  }

  #caughtUp(account: string, seq: number): Promise<boolean> {
    if ((this.#lastSeq.get(account) ?? 0) >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const w = { seq, resolve: () => resolve(true) };
      let list = this.#waiters.get(account);
      if (!list) this.#waiters.set(account, (list = []));
      list.push(w);
      setTimeout(() => {
        const l = this.#waiters.get(account);
        if (l?.includes(w)) {
          l.splice(l.indexOf(w), 1);
          resolve(false);
        }
      }, CATCH_UP_MS).unref();
    });
  }

  attach(ws: LiveSocket): void {
    const ud = ws.getUserData();
    let set = this.#sockets.get(ud.account);
    if (!set) this.#sockets.set(ud.account, (set = new Set()));
    set.add(ws);
    this.#prime(ws, ud).catch((err: unknown) => {
      this.log.error({ err, account: ud.account }, '[live] snapshot failed');
      if (!ud.closed) ws.end(1011, 'snapshot failed');
    });
  }

  detach(ws: LiveSocket): void {
    const ud = ws.getUserData();
    ud.closed = true;
    const set = this.#sockets.get(ud.account);
    set?.delete(ws);
    if (!set?.size) this.#unwatchLater(ud.account);
  }

  async #prime(ws: LiveSocket, ud: LiveUserData): Promise<void> {
    const admin = ud.scope === 'admin';
    await this.#watch(ud.account);
    for (let attempt = 0; attempt < 3; attempt++) {
      const raw = await this.store.snapshot(ud.account, {
        page: ud.page,
        visitors: admin ? this.opts.snapshotVisitors : 0,
        pages: admin ? this.opts.snapshotPages : 0,
        pageSegments: ud.pageSegments,
      });
      if (ud.closed || this.#closing) return;
      if (!(await this.#caughtUp(ud.account, raw.seq))) {
        this.log.warn({ account: ud.account, seq: raw.seq }, '[live] diffs of the snapshot did not arrive in time; subscribing anyway');
      }
      if (ud.closed || this.#closing) return;
      const last = this.#lastSeq.get(ud.account) ?? raw.seq;
      const ring = (this.#ring.get(ud.account) ?? []).filter((r) => r.seq > raw.seq);
      // The ring must hold every diff after the snapshot, else take a newer snapshot; when even
      // a newer one is behind this gateway, the sequence restarted (Redis lost its data).
      if (last > raw.seq && (ring.length === 0 || ring[0]!.seq !== raw.seq + 1)) {
        if (attempt < 2) continue;
        this.log.warn({ account: ud.account, last, seq: raw.seq }, '[live] presence sequence behind this gateway; restarting from the snapshot');
        this.#restart(ud.account, raw.seq);
        ring.length = 0;
      }
      const first: unknown = admin
        ? snapshotMessage(ud.account, ud.page, raw, Date.now())
        : ({ type: 'count', account: ud.account, page: ud.page, online: raw.online } satisfies CountMessage);
      ws.cork(() => {
        ws.send(JSON.stringify(first));
        for (const r of ring) {
          const d = diffOf(r);
          const m = d && this.#format(ud, d);
          if (m !== undefined) ws.send(JSON.stringify(m));
        }
        ws.subscribe(admin ? adminTopic(ud.account, ud.page) : publicTopic(ud.account, ud.page));
      });
      return;
    }
  }

  /** Close every client (on shutdown) and the Redis subscription. */
  close(): void {
    this.#closing = true;
    for (const w of this.#watches.values()) clearTimeout(w.idle);
    for (const set of this.#sockets.values()) {
      for (const ws of [...set]) if (!ws.getUserData().closed) ws.end(1001, 'shutting down');
    }
    this.subscriber.close();
  }
}

interface UpgradeRequest {
  url: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  key: string;
  protocol: string;
  extensions: string;
}

function readUpgrade(req: uWS.HttpRequest): UpgradeRequest {
  return {
    url: req.getUrl(),
    query: new URLSearchParams(req.getQuery() ?? ''),
    headers: { authorization: req.getHeader('authorization'), origin: req.getHeader('origin') },
    key: req.getHeader('sec-websocket-key'),
    protocol: req.getHeader('sec-websocket-protocol'),
    extensions: req.getHeader('sec-websocket-extensions'),
  };
}

function pageParam(query: URLSearchParams): string | null {
  const raw = query.get('page');
  if (raw === null || raw === '') return null;
  const parsed = zLivePage.safeParse(raw);
  if (!parsed.success) throw new ValidationError('page must be a path starting with / (at most 2048 characters)');
  return presencePath(parsed.data);
}

/**
 * WebSocket `/live` (operators: admin key as a Bearer header or `?key=`) and `/live/public`
 * (counts only). Upgrades are decided synchronously from in-memory accounts; a refused upgrade
 * is an HTTP 400/401/403 answer. The query string is never logged (it may hold the key).
 */
export function liveRoutes(hub: LiveHub): RouteModule {
  return (app, ctx) => {
    hub.bind(app);
    ctx.metrics
      .describe('visitor_live_clients', 'gauge', 'Open live WebSocket clients on this gateway')
      .describe('visitor_live_rejected_total', 'counter', 'Refused live WebSocket upgrades, by reason')
      .describe('visitor_live_garbage_total', 'counter', 'Ignored messages from live clients')
      .describe('visitor_live_closed_total', 'counter', 'Closed live clients, by close code');
    ctx.metrics.onCollect(() => ctx.metrics.set('visitor_live_clients', hub.clients()));

    const reject = (res: uWS.HttpResponse, path: string, cause: unknown) => {
      const err: GatewayError = toGatewayError(cause);
      ctx.metrics.inc('visitor_live_rejected_total', { reason: err.reason });
      // By status, as `handle` logs: a 5xx is the service's fault and keeps its cause.
      const line = `[live-reject] ${kv({ reason: err.reason, status: err.status, path })}`;
      if (err.status >= 500) ctx.log.error({ code: err.code, status: err.status, path, err: cause }, line);
      else ctx.log.warn({ code: err.code, status: err.status, path }, line);
      res
        .writeStatus(statusLine(err.status))
        .writeHeader('content-type', 'application/json')
        .end(JSON.stringify({ error: err.reason, code: err.code, message: err.message }));
    };

    const behavior = (scope: 'admin' | 'public'): uWS.WebSocketBehavior<LiveUserData> => ({
      compression: uWS.DISABLED,
      maxPayloadLength: MAX_CLIENT_MESSAGE,
      maxBackpressure: hub.opts.maxBackpressure,
      // A client over its backpressure limit is closed: it would otherwise miss diffs silently.
      closeOnBackpressureLimit: 1,
      idleTimeout: 120,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => {
        const r = readUpgrade(req);
        let ud: LiveUserData;
        try {
          if (scope === 'admin') {
            const account = requireAdmin(ctx, r);
            ud = { account: account.id, scope, page: pageParam(r.query), pageSegments: account.pageSegments, closed: false, garbage: 0 };
          } else {
            const account = ctx.accounts.get(r.query.get('account') ?? '');
            if (!account) throw new UnknownAccountError('unknown account');
            if (r.headers.origin && !AccountRegistry.originAllowed(account, r.headers.origin)) {
              throw new ForbiddenOriginError(`origin ${r.headers.origin} is not allowed for account ${account.id}`);
            }
            ud = { account: account.id, scope, page: pageParam(r.query), pageSegments: account.pageSegments, closed: false, garbage: 0 };
          }
        } catch (cause) {
          reject(res, r.url, cause);
          return;
        }
        res.upgrade(ud, r.key, r.protocol, r.extensions, context);
      },
      open: (ws) => {
        const ud = ws.getUserData();
        ctx.log.info({ account: ud.account, scope: ud.scope, page: ud.page }, '[live-open] client connected');
        hub.attach(ws);
      },
      message: (ws, message, isBinary) => {
        const ud = ws.getUserData();
        let ok = false;
        if (!isBinary) {
          try {
            const parsed = zLiveClientMessage.safeParse(JSON.parse(Buffer.from(message).toString('utf8')));
            if (parsed.success) {
              ok = true;
              ws.send(JSON.stringify({ type: 'pong', ts: Date.now() }));
            }
          } catch {
            // not JSON: ignored below
          }
        }
        if (!ok) {
          ud.garbage++;
          ctx.metrics.inc('visitor_live_garbage_total', { scope: ud.scope });
          // One line per client, not per message: a flood of garbage must not flood the log.
          if (ud.garbage === 1)
            ctx.log.warn(
              { account: ud.account, scope: ud.scope },
              `[live-garbage] ${kv({ account: ud.account, scope: ud.scope })} ignoring unknown client messages`,
            );
        }
      },
      close: (ws, code) => {
        const ud = ws.getUserData();
        hub.detach(ws);
        ctx.metrics.inc('visitor_live_closed_total', { code: String(code) });
        ctx.log.info({ account: ud.account, scope: ud.scope, code }, `[live-close] ${kv({ account: ud.account, scope: ud.scope, code })}`);
      },
    });

    app.ws<LiveUserData>('/live', behavior('admin'));
    app.ws<LiveUserData>('/live/public', behavior('public'));
  };
}
