import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, type RedisClient } from '../../src/adapters/redis/client.js';
import { ErasedStore, type FilterableRow } from '../../src/adapters/redis/erased.store.js';
import { RedisKeys } from '../../src/adapters/redis/keys.js';
import { Pseudonyms } from '../../src/domain/pseudonym.js';
import { startTestRedis, type TestRedis } from '../support/services.js';

let redis: TestRedis;
let client: RedisClient;
beforeAll(async () => {
  redis = await startTestRedis();
  client = connectRedis({ url: redis.url });
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

/** A flusher row of `account`'s stream that counts how often its fields are read. */
class Row implements FilterableRow {
  reads = 0;
  constructor(
    readonly account: string,
    readonly name: string,
    private readonly ids: { visitor_id: string; person_id: string },
  ) {}

  field(name: string): string | undefined {
    this.reads++;
    return (this.ids as Record<string, string>)[name];
  }
}

describe('the flusher’s erasure filter', () => {
  it('drops the rows of marked visitors and persons of their own account, and reads no row of an account without marks', async () => {
    const keys = new RedisKeys(`t${randomBytes(4).toString('hex')}`);
    const erased = new ErasedStore(client, keys, new Pseudonyms(randomBytes(32)));
    await erased.mark('a', 'p-gone', ['v-gone'], Date.now());
    const rows = [
      new Row('a', 'erased visitor', { visitor_id: 'v-gone', person_id: '' }),
      new Row('a', 'erased person', { visitor_id: 'v-new-device', person_id: 'p-gone' }),
      new Row('a', 'kept', { visitor_id: 'v-other', person_id: 'p-other' }),
      // The same ids in another account name someone else.
      new Row('b', 'other account', { visitor_id: 'v-gone', person_id: 'p-gone' }),
    ];
    const kept = await erased.filter(rows);
    expect(kept.map((r) => r.name)).toEqual(['kept', 'other account']);
    // Account b has no marks: its row was never scanned for ids.
    expect(rows[3]!.reads).toBe(0);
    expect(rows[2]!.reads).toBeGreaterThan(0);

    const unmarked = [new Row('b', 'one', { visitor_id: 'v-1', person_id: '' }), new Row('c', 'two', { visitor_id: 'v-2', person_id: 'p-2' })];
    expect(await erased.filter(unmarked)).toBe(unmarked);
    expect(unmarked.map((r) => r.reads)).toEqual([0, 0]);
  });
});
