/**
 * The ceiling for the ingest figures: the same uWebSockets.js, reading the whole body and
 * answering 204, nothing else (no parsing, no Redis). What this machine's HTTP path allows.
 *
 * Usage: node --import tsx bench/baseline/bare-uws.ts <port>
 */
import uWS from 'uWebSockets.js';

const port = Number(process.argv[2]);
const app = uWS.App();
app.post('/v/event', (res) => {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  res.onData((_chunk, last) => {
    if (last && !aborted) res.cork(() => res.writeStatus('204 No Content').end());
  });
});
app.listen('127.0.0.1', port, (s) => {
  if (!s) process.exit(1);
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
