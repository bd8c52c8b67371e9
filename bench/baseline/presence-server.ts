/**
 * The plain baseline for the heartbeat-to-join figure: the same uWebSockets.js, a POST that adds
 * the visitor to a Redis set (ioredis) and, when it is new, publishes a `join` to every live
 * subscriber through one uWS topic. No validation, presence model, Lua, pub/sub between
 * gateways, snapshot or sequence numbers.
 *
 * Usage: node --import tsx bench/baseline/presence-server.ts <port> <redisUrl> <setKey>
 */
import uWS from 'uWebSockets.js';
import { Redis } from 'ioredis';

const [port, redisUrl, key] = [Number(process.argv[2]), process.argv[3]!, process.argv[4]!];
const redis = new Redis(redisUrl, { enableAutoPipelining: true });

interface Beacon {
  visitorId: string;
  sessionId: string;
  path: string;
  title?: string;
}

const app = uWS.App();
app.ws('/live', {
  maxPayloadLength: 4096,
  maxBackpressure: 1 << 20,
  open: (ws) => {
    ws.send(JSON.stringify({ type: 'snapshot', online: 0, visitors: [] }));
    ws.subscribe('live');
  },
});
app.post('/v/event', (res) => {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  const chunks: Buffer[] = [];
  res.onData((ab, last) => {
    chunks.push(Buffer.from(ab.slice(0)));
    if (!last) return;
    let e: Beacon;
    try {
      e = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Beacon;
    } catch {
      if (!aborted) res.cork(() => res.writeStatus('400 Bad Request').end());
      return;
    }
    redis.sadd(key, e.visitorId).then(
      (added) => {
        if (added === 1) {
          const now = Date.now();
          app.publish(
            'live',
            JSON.stringify({
              type: 'join',
              visitor: { visitorId: e.visitorId, sessionId: e.sessionId, path: e.path, title: e.title ?? '', joinedAt: now, lastSeen: now },
            }),
          );
        }
        if (!aborted) res.cork(() => res.writeStatus('204 No Content').end());
      },
      () => {
        if (!aborted) res.cork(() => res.writeStatus('503 Service Unavailable').end());
      },
    );
  });
});
app.listen('127.0.0.1', port, (s) => {
  if (!s) process.exit(1);
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => {
  redis.disconnect();
  process.exit(0);
});
