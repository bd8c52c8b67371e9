/**
 * One racer of the token-secret race test, run as its own process:
 *   node --import tsx test/support/identity-secret-race.ts <dataDir> <account> <personId>
 * Protocol on stdin/stdout (one JSON line each way):
 *   → {"ready":true}                 modules loaded; waiting for the start signal
 *   ← go                             every racer got it at once: read or create the secret now
 *   → {"token":"…"}                  a token minted with the secret this process ended up with
 *   ← ["tok1","tok2",…]              every racer's token
 *   → {"verified":[{ok,…},…]}        how this process judged each of them
 */
import { createInterface } from 'node:readline';
import { TokenSecretStore } from '../../src/adapters/secrets/token-secret.store.js';
import { signToken, verifyToken } from '../../src/domain/visitor-token.js';

const [dataDir, account, personId] = process.argv.slice(2) as [string, string, string];
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const next = async () => String((await lines.next()).value ?? '');
const say = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);

say({ ready: true });
await next();
const store = new TokenSecretStore(dataDir);
const secrets = await store.get(account);
say({ token: signToken(secrets.current, personId, Date.now() + 3_600_000) });
const all = JSON.parse(await next()) as string[];
const now = Date.now();
say({ verified: all.map((t) => verifyToken(t, secrets.all, now)) });
process.exit(0);
