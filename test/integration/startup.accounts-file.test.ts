/**
 * A broken accounts file stops `npm start`'s entry (`app/main.ts`, a real process) with one
 * message naming the file, the line and column or the field, and no stack trace.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/processes.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'visitor-accounts-file-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The service's own variables are not inherited from the test runner. */
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(PORT|HOST|DATA_DIR|REDIS_|CLICKHOUSE_|STORE_PORT|ACCOUNTS_FILE|ROLES|LOG_LEVEL)/.test(k)),
  ) as Record<string, string>;
}

async function start(accountsJson: string): Promise<{ code: number | null; stderr: string; file: string }> {
  const file = path.join(dir, `accounts-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, accountsJson);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'app/main.ts')], {
    cwd: REPO_ROOT,
    env: { ...cleanEnv(), ACCOUNTS_FILE: file, DATA_DIR: path.join(dir, 'data'), PORT: '0', STORE_PORT: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, stderr, file };
}

function expectNoStack(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at /m);
  expect(stderr).not.toMatch(/Error:/);
}

describe('a malformed ACCOUNTS_FILE', () => {
  it('a trailing comma: file:line:col, the reason, the line with a caret; exit 2, no stack', async () => {
    const { code, stderr, file } = await start('{ "accounts": [\n  { "id": "acme",\n    "origins": ["https://acme.example"],\n  }\n] }\n');
    expect(code).toBe(2);
    expectNoStack(stderr);
    expect(stderr).toBe(`start-up failed: ACCOUNTS_FILE: ${file}:4:3: not valid JSON: Expected double-quoted property name\n    }\n    ^\n`);
  });

  it('single quotes, where JSON.parse names no position, still get their line and column', async () => {
    const { code, stderr, file } = await start('{ "accounts": [\n  { "id": \'acme\' }\n] }\n');
    expect(code).toBe(2);
    expectNoStack(stderr);
    expect(stderr.split('\n')[0]).toBe(`start-up failed: ACCOUNTS_FILE: ${file}:2:11: not valid JSON: Unexpected token '''`);
  });

  it('valid JSON of the wrong shape: every zod issue with its path', async () => {
    const { code, stderr, file } = await start(
      JSON.stringify({
        accounts: [
          { id: 'acme', origins: ['acme.example'], listingUrl: 'https://acme.example/listings' },
          { id: 'Bad Id' },
          { id: 'acme-2', adminKeySha256: ['nothex'] },
        ],
      }),
    );
    expect(code).toBe(2);
    expectNoStack(stderr);
    const lines = stderr.trimEnd().split('\n');
    expect(lines[0]).toBe(`start-up failed: ACCOUNTS_FILE: ${file} is invalid:`);
    expect(lines.slice(1).sort()).toEqual(
      [
        '  accounts[0].origins[0]: origin must be scheme://host[:port], with optional :* port wildcard',
        '  accounts[0].listingUrl: listingUrl must contain {slug}',
        '  accounts[1].id: account id must match [a-z0-9-]{1,64}',
        '  accounts[2].adminKeySha256[0]: hex sha256',
      ].sort(),
    );
  });

  it('a duplicate account id is named with its place in the file', async () => {
    const { code, stderr } = await start(JSON.stringify({ accounts: [{ id: 'acme' }, { id: 'other' }, { id: 'acme' }] }));
    expect(code).toBe(2);
    expectNoStack(stderr);
    expect(stderr).toContain('  accounts[2].id: duplicate account id acme');
  });

  it('a missing file is named, absolute, in one line', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'app/main.ts')], {
      cwd: REPO_ROOT,
      env: { ...cleanEnv(), ACCOUNTS_FILE: 'nope/accounts.json', DATA_DIR: path.join(dir, 'data'), PORT: '0', STORE_PORT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(code).toBe(2);
    expect(stderr).toBe(`start-up failed: ACCOUNTS_FILE: cannot read ${path.join(REPO_ROOT, 'nope/accounts.json')}: no such file\n`);
  });
});
