import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = path.join(ROOT, 'test/support/identity-secret-race.ts');
const N = 6;

interface Racer {
  child: ChildProcessWithoutNullStreams;
  next(): Promise<Record<string, unknown>>;
}

function startRacer(dataDir: string, account: string, person: string): Racer {
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, dataDir, account, person], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const it = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    child,
    next: async () => {
      const r = await it.next();
      if (r.done) throw new Error(`racer ${person} ended early: ${stderr}`);
      return JSON.parse(String(r.value)) as Record<string, unknown>;
    },
  };
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('token secret race across real processes', () => {
  it(`${N} processes creating the secret at once end up with one secret and verify each other's tokens`, async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'identity-race-'));
    dirs.push(dataDir);
    const racers = Array.from({ length: N }, (_, i) => startRacer(dataDir, 'acme', `p-${i}`));
    try {
      // Every process has loaded its modules before any of them touches the file.
      for (const r of racers) expect(await r.next()).toEqual({ ready: true });
      for (const r of racers) r.child.stdin.write('go\n');
      const tokens = await Promise.all(racers.map(async (r) => String((await r.next()).token)));
      expect(new Set(tokens).size).toBe(N);
      for (const r of racers) r.child.stdin.write(`${JSON.stringify(tokens)}\n`);
      const verdicts = await Promise.all(racers.map(async (r) => (await r.next()).verified as { ok: boolean; personId?: string }[]));
      for (const v of verdicts) expect(v.map((x) => (x.ok ? x.personId : 'REJECTED'))).toEqual(tokens.map((_, i) => `p-${i}`));

      const dir = path.join(dataDir, 'credentials', 'acme');
      expect(await readdir(dir)).toEqual(['visitor-token-secret']);
      const file = path.join(dir, 'visitor-token-secret');
      expect((await readFile(file, 'utf8')).trim()).toMatch(/^[0-9a-f]{64}$/);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    } finally {
      for (const r of racers) r.child.kill();
    }
  });
});
