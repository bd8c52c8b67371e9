/** The visitor CLI run in the test's process against a test service, its output captured. */
import { Writable } from 'node:stream';
import { runCli } from '../../src/cli/main.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Run `visitor <argv…> --url <url> --key <key>`: the exit code, and what it wrote to stdout and stderr. */
export async function cliAgainst(url: string, key: string, argv: string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write: (c: Buffer, _e, cb) => (f(c.toString()), cb()) });
  // runCli's io is typed by its default (process.stdout/stderr); it only ever calls write().
  const io = { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) } as unknown as Parameters<typeof runCli>[1];
  const code = await runCli([...argv, '--url', url, '--key', key], io);
  return { code, out, err };
}
