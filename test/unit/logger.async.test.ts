import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, flushLogger } from '../../src/logger.js';

describe('logger', () => {
  it('writes through an asynchronous destination and loses nothing once flushed', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'logger-'));
    const file = path.join(dir, 'log.json');
    const dest = pino.destination({ dest: file, sync: false, mkdir: true });
    const log = createLogger('info', dest);
    for (let i = 0; i < 20_000; i++) log.info({ i }, '[visitor-event] type=pageview account=acme path=/x');
    await flushLogger(log);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(20_000);
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ i: 19_999, msg: '[visitor-event] type=pageview account=acme path=/x' });
    dest.end();
    rmSync(dir, { recursive: true, force: true });
  });
});
