/**
 * The private redis-server the service starts (REDIS_URL unset) listens on loopback, which other
 * users of the machine reach too: it answers nothing without the generated password, the
 * password is in a 0600 file and in a 0600 config file, never on the command line.
 */
import { readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { useTestService } from '../support/fixture.js';

const t = useTestService();

describe('the private Redis', () => {
  it('refuses a client without the password, serves one with the printed URL', async () => {
    const url = new URL(t.service.redisUrl);
    expect(url.password).toMatch(/^[0-9a-f]{64}$/);
    // A raw client, as any local process could be: every command is refused.
    const replies = await new Promise<string>((resolve) => {
      const sock = net.connect(Number(url.port), '127.0.0.1');
      let got = '';
      sock.on('connect', () => sock.write(`PING\r\nXRANGE ${t.service.keys.eventStream(t.account.id)} - +\r\nCONFIG GET dir\r\n`));
      sock.on('data', (d) => {
        got += d.toString();
        if (got.split('\r\n').filter(Boolean).length >= 3) sock.end();
      });
      sock.on('close', () => resolve(got));
      sock.setTimeout(5000, () => sock.destroy());
    });
    expect(
      replies
        .split('\r\n')
        .filter(Boolean)
        .map((l) => l.split(' ')[0]),
    ).toEqual(['-NOAUTH', '-NOAUTH', '-NOAUTH']);
    // A guessed password is refused too (ioredis reports it and closes).
    const wrong = new Redis({
      host: '127.0.0.1',
      port: Number(url.port),
      password: 'guess',
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    const errors: string[] = [];
    wrong.on('error', (err: Error) => errors.push(err.message));
    await wrong.connect().catch((err: Error) => errors.push(err.message));
    wrong.disconnect();
    expect(errors.join(' ')).toMatch(/WRONGPASS|invalid password/);
    const owner = new Redis(t.service.redisUrl);
    expect(await owner.ping()).toBe('PONG');
    owner.disconnect();
  });

  it('keeps the password in 0600 files, out of the command line and the logs', () => {
    const password = new URL(t.service.redisUrl).password;
    const file = path.join(t.dataDir, 'credentials', '_redis', 'password');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(password);
    expect(statSync(path.join(t.dataDir, 'redis', 'redis.conf')).mode & 0o777).toBe(0o600);
    const pid = t.service.localRedis!.pid!;
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(password);
    expect(readFileSync(t.logFile, 'utf8')).not.toContain(password);
  });
});
