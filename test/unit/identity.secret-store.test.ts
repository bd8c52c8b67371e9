import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readOrCreateSecret, TokenSecretStore } from '../../src/adapters/secrets/token-secret.store.js';
import { signToken, verifyToken } from '../../src/domain/visitor-token.js';

const dirs: string[] = [];
async function tmpDir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'identity-secret-'));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('token secret store', () => {
  it('creates a 32-byte secret on first read, mode 0600, under credentials/<account>', async () => {
    const dir = await tmpDir();
    const store = new TokenSecretStore(dir);
    const s = await store.get('acme');
    const file = path.join(dir, 'credentials', 'acme', 'visitor-token-secret');
    expect(store.file('acme')).toBe(file);
    expect(s.current).toHaveLength(32);
    expect(s.all).toEqual([s.current]);
    expect((await readFile(file, 'utf8')).trim()).toBe(s.current.toString('hex'));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    // No temp files are left behind.
    expect(await readdir(path.dirname(file))).toEqual(['visitor-token-secret']);
  });

  it('gives every store over the same data dir the same secret, and accounts different ones', async () => {
    const dir = await tmpDir();
    const [a, b] = await Promise.all([new TokenSecretStore(dir).get('acme'), new TokenSecretStore(dir).get('acme')]);
    expect(a.current.equals(b.current)).toBe(true);
    const c = await new TokenSecretStore(dir).get('other');
    expect(c.current.equals(a.current)).toBe(false);
  });

  it('concurrent first reads in one process agree', async () => {
    const file = path.join(await tmpDir(), 'x', 'visitor-token-secret');
    const got = await Promise.all(Array.from({ length: 20 }, () => readOrCreateSecret(file)));
    for (const g of got) expect(g.equals(got[0]!)).toBe(true);
  });

  it('refuses an account id that is not a plain id (it becomes a path)', async () => {
    const store = new TokenSecretStore(await tmpDir());
    await expect(store.get('../etc')).rejects.toThrow();
  });

  it('names the file when its content is not a secret', async () => {
    const dir = await tmpDir();
    const store = new TokenSecretStore(dir);
    await store.get('acme');
    await writeFile(store.file('acme'), 'nonsense\n');
    await expect(new TokenSecretStore(dir).get('acme')).rejects.toThrow(/visitor-token-secret: expected 32 bytes/);
  });

  it('rotates: old tokens verify with the previous secret, new ones are signed by the new secret', async () => {
    const dir = await tmpDir();
    const store = new TokenSecretStore(dir);
    const before = await store.get('acme');
    const oldToken = signToken(before.current, 'p-1', Date.now() + 60_000);
    const after = await store.rotate('acme');
    expect(after.current.equals(before.current)).toBe(false);
    expect(after.previous?.equals(before.current)).toBe(true);
    expect(verifyToken(oldToken, after.all, Date.now())).toMatchObject({ ok: true, secretIndex: 1 });
    // Another process (a fresh store) sees the rotation from the files.
    const fresh = await new TokenSecretStore(dir).get('acme');
    expect(fresh.current.equals(after.current)).toBe(true);
    expect(verifyToken(oldToken, fresh.all, Date.now())).toMatchObject({ ok: true, personId: 'p-1' });
  });

  it('re-reads the files after reloadMs, so a rotation by another process is picked up', async () => {
    const dir = await tmpDir();
    const store = new TokenSecretStore(dir, { reloadMs: 0 });
    const before = await store.get('acme');
    await new TokenSecretStore(dir).rotate('acme');
    await store.get('acme'); // triggers the background reload
    const after = await new Promise<Awaited<ReturnType<TokenSecretStore['get']>>>((resolve) => setTimeout(() => resolve(store.get('acme')), 50));
    expect(after.current.equals(before.current)).toBe(false);
    expect(after.previous?.equals(before.current)).toBe(true);
  });
});
