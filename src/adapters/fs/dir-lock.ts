/**
 * An exclusive lock on a directory, held by this process for as long as it runs: flock(2) on a
 * file in it.
 *
 * Why flock and not a pid file or a socket: the kernel drops the lock when the last descriptor of
 * it closes, that is when the process ends however it ends (kill -9 included). A stale lock cannot
 * exist, and a reused pid cannot look like a live holder: the pid-file check trusted exactly such
 * a pid. Two processes cannot both take it (no check-then-create race as with a `wx` file whose
 * stale copy must be removed first), and it holds between containers that mount the same volume,
 * where pids and abstract sockets of the other side are invisible.
 *
 * Node has no flock(2). The `flock` command (util-linux, on every Debian system) takes it on a
 * descriptor this process hands over and exits; the lock belongs to the open file description,
 * which stays this process's. Node opens files close-on-exec, so children (redis-server) do not
 * inherit it and cannot keep it alive after this process is gone.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';

/** What a holder writes into its lock file, for whoever is refused. */
export type LockRecord = Record<string, string | number | undefined>;

export interface DirLock {
  readonly file: string;
  /** Add fields to the holder's record (e.g. the gateway URL once it listens). */
  update(fields: LockRecord): void;
  /** Drop the lock (also dropped by the kernel when the process ends). */
  release(): void;
}

/** Thrown when another process holds the lock; `holder` is its record, when it wrote one. */
export class DirLockedError extends Error {
  override name = 'DirLockedError';
  constructor(
    readonly dir: string,
    readonly holder: LockRecord | undefined,
  ) {
    super(`${dir} is locked by another process${holder?.pid ? ` (pid ${holder.pid})` : ''}`);
  }
}

/** Exit code of `flock` when the lock is held elsewhere (anything else is a failure to lock). */
const CONFLICT_EXIT = 75;

function flockNonBlocking(fd: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    // The descriptor becomes the child's fd 3; nothing is read from or written to the terminal.
    const child = spawn('flock', ['--nonblock', '--exclusive', '--conflict-exit-code', String(CONFLICT_EXIT), '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new Error('the `flock` command is missing: install it with `apt-get install -y util-linux`') : err),
    );
    child.once('exit', (code) => {
      if (code === 0) resolve(true);
      else if (code === CONFLICT_EXIT) resolve(false);
      else reject(new Error(`flock exited with ${code}: ${stderr.trim()}`));
    });
  });
}

function readRecord(file: string): LockRecord | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockRecord;
  } catch {
    return undefined;
  }
}

/**
 * Take the lock `name` in `dir` (created if missing) and write `record` into it, or throw
 * `DirLockedError` naming the holder. A refused caller changes nothing: the file is opened
 * without truncation and left as the holder wrote it.
 */
export async function lockDir(dir: string, name: string, record: LockRecord): Promise<DirLock> {
  mkdirSync(dir, { recursive: true });
  const file = path.join(path.resolve(dir), name);
  const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600);
  let locked = false;
  try {
    locked = await flockNonBlocking(fd);
  } finally {
    if (!locked) closeSync(fd);
  }
  if (!locked) throw new DirLockedError(path.resolve(dir), readRecord(file));
  let open = true;
  let current = record;
  const write = (r: LockRecord) => {
    ftruncateSync(fd, 0);
    writeSync(fd, `${JSON.stringify(r)}\n`, 0);
  };
  write(current);
  return {
    file,
    update(fields) {
      if (!open) return;
      current = { ...current, ...fields };
      write(current);
    },
    release() {
      if (!open) return;
      open = false;
      // Emptied first: a record left behind would name a process that no longer holds the lock.
      ftruncateSync(fd, 0);
      closeSync(fd);
    },
  };
}
