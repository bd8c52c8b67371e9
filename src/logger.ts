import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/** Paths that never reach a log line: admin keys, tokens, cookies, raw IPs, raw ids. */
export const REDACT_PATHS = [
  'key',
  'token',
  'adminKey',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  'ip',
  // Raw ids under their schema names: product lines name persons and visitors as `person` and
  // `visitor`, already pseudonymised (LOG_PERSON_IDS); a raw id logged by mistake is censored.
  ...['personId', 'visitorId', 'sessionId', 'person_id', 'visitor_id', 'session_id'].flatMap((k) => [k, `*.${k}`]),
];

/** What the logger needs of pino's asynchronous destination (sonic-boom). */
interface AsyncDestination {
  write(chunk: string): boolean;
  flushSync(): void;
  once(event: 'drain' | 'error', fn: () => void): void;
  _writing?: boolean;
  _len?: number;
}

const batchedDestinations = new Set<WeakRef<TurnBatchedDestination>>();

/** Registered with the first destination, before its sonic-boom registers its own exit flush. */
function handOverOnExit(dest: TurnBatchedDestination): void {
  if (batchedDestinations.size === 0) {
    process.on('exit', () => {
      for (const ref of batchedDestinations) ref.deref()?.flushPending();
    });
  }
  batchedDestinations.add(new WeakRef(dest));
}

/**
 * Lines of one event-loop turn go to the file in one write: under load a turn answers dozens of
 * requests, each with its `[visitor-event]` line, and a write per line costs a thread-pool hop
 * and a syscall (a tenth of the gateway's time in a profile). A line waits at most for the end
 * of its turn; one still waiting when the process exits is handed over before sonic-boom's own
 * exit flush writes it.
 */
export class TurnBatchedDestination implements DestinationStream {
  #lines: string[] = [];
  #scheduled = false;
  readonly inner: AsyncDestination;

  /** @param file where the lines go; standard output by default. */
  constructor(file?: string) {
    handOverOnExit(this);
    this.inner = pino.destination({ dest: file, sync: false, mkdir: file !== undefined }) as unknown as AsyncDestination;
  }

  write(line: string): void {
    this.#lines.push(line);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    this.flushPending();
  };

  /** Hand the lines of this turn to sonic-boom now. */
  flushPending(): void {
    if (this.#lines.length === 0) return;
    const chunk = this.#lines.length === 1 ? this.#lines[0]! : this.#lines.join('');
    this.#lines = [];
    this.inner.write(chunk);
  }

  flushSync(): void {
    this.flushPending();
    this.inner.flushSync();
  }
}

/**
 * pino's `isoTime`, formatted once per millisecond: under load a turn logs dozens of lines in
 * the same millisecond, and `toISOString` was a few microseconds of each.
 */
export const isoTimeOncePerMs: () => string = (() => {
  let ms = Number.NaN;
  let text = '';
  return () => {
    const now = Date.now();
    if (now !== ms) {
      ms = now;
      text = `,"time":"${new Date(now).toISOString()}"`;
    }
    return text;
  };
})();

/** pino's internals the line writer reads (exported by pino as `pino.symbols`). */
interface PinoInternals {
  [key: symbol]: unknown;
}

/**
 * Writes lines of one fixed shape (string fields, then the message) exactly as `log.info(fields,
 * msg)` would, into the same destination: the logger's bindings, level prefix and time are
 * pino's own. It is for the `[visitor-event]` line, one per accepted event, whose fields are
 * ids and whose persons are already pseudonymised: pino's general path (serialisers,
 * redaction, a stringifier looked up per key) was the largest piece of the gateway's work per
 * event in batches. A test holds its lines equal to pino's.
 */
export class FixedLineWriter {
  readonly #prefixes: string[];
  readonly #log: Logger;

  constructor(log: Logger, keys: readonly string[]) {
    this.#log = log;
    this.#prefixes = keys.map((k) => `,${JSON.stringify(k)}:`);
  }

  get enabled(): boolean {
    return this.#log.isLevelEnabled('info');
  }

  /** One info line; `values` in the order of the writer's keys. */
  info(values: readonly string[], msg: string): void {
    const log = this.#log as unknown as PinoInternals;
    const s = pino.symbols;
    const head = (log[s.lsCacheSym] as Record<number, string>)[30]! + (log[s.timeSym] as () => string)() + (log[s.chindingsSym] as string);
    let fields = '';
    for (let i = 0; i < values.length; i++) fields += this.#prefixes[i]! + JSON.stringify(values[i]);
    (log[s.streamSym] as DestinationStream).write(`${head}${fields},"msg":${JSON.stringify(msg)}${log[s.endSym] as string}`);
  }
}

/**
 * The one root logger factory; modules take `logger.child({ module })`. By default lines go
 * through pino's asynchronous destination (sonic-boom), a turn's lines at a time: a log call
 * never blocks the loop on the file, which matters with one `[visitor-event]` line per accepted
 * event. Call {@link flushLogger} before exiting.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: isoTimeOncePerMs,
    },
    destination ?? new TurnBatchedDestination(),
  );
}

/**
 * Resolve once every line logged so far is written (on shutdown, before exit). pino's own
 * `flush(cb)` answers at once on a destination without a minimum length, so this waits for
 * the destination's `drain` while it still holds or writes data; bounded, so a stuck disk
 * cannot hold the exit (pino's exit handler still writes what is left synchronously).
 */
export function flushLogger(log: Logger, timeoutMs = 2000): Promise<void> {
  let dest = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as AsyncDestination | TurnBatchedDestination | undefined;
  if (dest instanceof TurnBatchedDestination) {
    dest.flushPending();
    dest = dest.inner;
  }
  if (!dest || typeof dest.once !== 'function' || (!dest._writing && !dest._len)) return Promise.resolve();
  const inner = dest;
  return new Promise((resolve) => {
    const t = setTimeout(resolve, timeoutMs);
    t.unref();
    const done = () => {
      clearTimeout(t);
      resolve();
    };
    inner.once('drain', done);
    inner.once('error', done);
  });
}

export { kv } from './domain/log-lines.js';
