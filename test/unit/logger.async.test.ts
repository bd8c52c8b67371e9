import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger, flushLogger, TurnBatchedDestination } from '../../src/logger.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'logger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LINE = '[visitor-event] type=pageview account=acme path=/x';

describe('logger', () => {
  it('writes through an asynchronous destination and loses nothing once flushed', async () => {
    const file = path.join(dir, 'log.json');
    const dest = pino.destination({ dest: file, sync: false, mkdir: true });
    const log = createLogger('info', dest);
    for (let i = 0; i < 20_000; i++) log.info({ i }, LINE);
    await flushLogger(log);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(20_000);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ i: 19_999, msg: LINE });
    dest.end();
  });

  it('hands the lines of one event-loop turn to the file in one write, in order, and loses none once flushed', async () => {
    const file = path.join(dir, 'turns.json');
    const dest = new TurnBatchedDestination(file);
    const writes: number[] = [];
    const write = dest.inner.write.bind(dest.inner);
    dest.inner.write = (chunk: string) => {
      writes.push(chunk.split('\n').length - 1);
      return write(chunk);
    };
    const log = createLogger('info', dest);
    let i = 0;
    for (let turn = 0; turn < 3; turn++) {
      for (let k = 0; k < 100; k++) log.info({ i: i++ }, LINE);
      await new Promise((r) => setImmediate(r));
    }
    for (let k = 0; k < 50; k++) log.info({ i: i++ }, LINE);
    await flushLogger(log);
    expect(writes).toEqual([100, 100, 100, 50]);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual(Array.from({ length: 350 }, (_, n) => n));
  });

  it('writes the lines of the last turn when the process exits in it', () => {
    const logger = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/logger.ts');
    const script = `import { createLogger } from ${JSON.stringify(logger)};
const log = createLogger('info');
for (let i = 0; i < 3; i++) log.info({ i }, 'before exit');
process.exit(0);`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(
      out
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { i: number }).i),
    ).toEqual([0, 1, 2]);
  });
});
