/**
 * The plain baseline for the gateway figures: `node:http` + ioredis, one XADD per event into a
 * stream (the same fields as the service's stream: target table and the row as JSON), answering
 * 204 once Redis has it. No validation, CORS, rate limit, de-duplication, enrichment, presence or
 * log line: what is left when everything the service adds is taken away.
 *
 * Usage: node --import tsx bench/baseline/ingest-server.ts <port> <redisUrl> <streamKey>
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { Redis } from 'ioredis';

const [port, redisUrl, stream] = [Number(process.argv[2]), process.argv[3]!, process.argv[4]!];
const redis = new Redis(redisUrl, { enableAutoPipelining: true });

interface Beacon {
  account?: string;
  eventId?: string;
  type?: string;
  sessionId?: string;
  visitorId?: string;
  path?: string;
  url?: string;
  title?: string;
  referrer?: string;
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let events: Beacon[];
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events?: Beacon[] } & Beacon;
      events = Array.isArray(body.events) ? body.events : [body];
    } catch {
      res.writeHead(400, { 'content-length': '0' }).end();
      return;
    }
    const now = new Date().toISOString().replace('T', ' ').replace('Z', '');
    Promise.all(
      events.map((e) =>
        redis.xadd(
          stream,
          '*',
          't',
          'events',
          'r',
          JSON.stringify({
            account_id: e.account ?? '',
            event_id: e.eventId ?? randomUUID(),
            ts: now,
            received_at: now,
            type: e.type ?? '',
            session_id: e.sessionId ?? '',
            visitor_id: e.visitorId ?? '',
            path: e.path ?? '',
            url: e.url ?? '',
            title: e.title ?? '',
            referrer: e.referrer ?? '',
          }),
        ),
      ),
    ).then(
      () => res.writeHead(204).end(),
      () => res.writeHead(503, { 'content-length': '0' }).end(),
    );
  });
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => {
  server.close();
  redis.disconnect();
  process.exit(0);
});
