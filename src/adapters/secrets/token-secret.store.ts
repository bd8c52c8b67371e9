import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { zAccountId } from '../../domain/ids.js';
import { SECRET_BYTES } from '../../domain/visitor-token.js';

/** File names under `DATA_DIR/credentials/<account>/`. */
export const SECRET_FILE = 'visitor-token-secret';
/** The secret in use before the last rotation: tokens it signed still verify. */
export const PREVIOUS_SECRET_FILE = 'visitor-token-secret.previous';

export interface AccountSecrets {
  /** Signs new tokens. */
  current: Buffer;
  previous?: Buffer;
  /** Verification order: current, then previous. */
  all: Buffer[];
}

function parseSecret(text: string, file: string): Buffer {
  const hex = text.trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`${file}: expected ${SECRET_BYTES} bytes as 64 hex characters`);
  return Buffer.from(hex, 'hex');
}

async function readSecret(file: string): Promise<Buffer | undefined> {
  try {
    return parseSecret(await readFile(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Read the secret in `file`, creating it first if there is none. Creation is exclusive so that
 * processes starting together agree on one secret: the new secret is written whole into a file
 * of this process's own (`wx`, mode 0600) and then hard-linked to the final name. `link` fails
 * with EEXIST when another process got there first, and the final name never shows a partly
 * written file (an `open(wx)` on the final name would, to a reader arriving between the create
 * and the write).
 */
export async function readOrCreateSecret(file: string): Promise<Buffer> {
  const existing = await readSecret(file);
  if (existing) return existing;
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, `${randomBytes(SECRET_BYTES).toString('hex')}\n`, { flag: 'wx', mode: 0o600, flush: true });
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const won = await readSecret(file);
  if (!won) throw new Error(`${file}: vanished right after it was created`);
  return won;
}

export interface TokenSecretStoreOptions {
  /**
   * Cached secrets are re-read from disk this often (in the background; callers get the cached
   * ones meanwhile), so a rotation reaches every running process without a restart.
   * @defaultValue 60000
   */
  reloadMs?: number;
}

interface Entry {
  secrets?: AccountSecrets;
  loadedAt: number;
  loading?: Promise<AccountSecrets>;
}

/**
 * Per-account visitor-token secrets in `DATA_DIR/credentials/<account>/`. Every process that
 * shares the data dir (gateways, CLI scripts) ends up with the same secret.
 */
export class TokenSecretStore {
  readonly #entries = new Map<string, Entry>();
  readonly #reloadMs: number;

  constructor(
    readonly dataDir: string,
    opts: TokenSecretStoreOptions = {},
  ) {
    this.#reloadMs = opts.reloadMs ?? 60_000;
  }

  dir(account: string): string {
    // The account id becomes a path segment: only the validated alphabet gets there.
    return path.join(this.dataDir, 'credentials', zAccountId.parse(account));
  }

  file(account: string): string {
    return path.join(this.dir(account), SECRET_FILE);
  }

  previousFile(account: string): string {
    return path.join(this.dir(account), PREVIOUS_SECRET_FILE);
  }

  async #load(account: string): Promise<AccountSecrets> {
    const current = await readOrCreateSecret(this.file(account));
    const previous = await readSecret(this.previousFile(account));
    return { current, previous, all: previous ? [current, previous] : [current] };
  }

  #refresh(account: string, entry: Entry): Promise<AccountSecrets> {
    entry.loading ??= this.#load(account)
      .then((s) => {
        entry.secrets = s;
        entry.loadedAt = Date.now();
        return s;
      })
      .finally(() => {
        entry.loading = undefined;
      });
    return entry.loading;
  }

  /** The account's secrets (created on first use). */
  async get(account: string): Promise<AccountSecrets> {
    let entry = this.#entries.get(account);
    if (!entry) this.#entries.set(account, (entry = { loadedAt: 0 }));
    if (!entry.secrets) return this.#refresh(account, entry);
    if (Date.now() - entry.loadedAt >= this.#reloadMs) {
      // Stale-while-revalidate: the hot path never waits on the disk after the first read.
      this.#refresh(account, entry).catch(() => undefined);
    }
    return entry.secrets;
  }

  /**
   * Rotate: the current secret becomes the previous one (tokens it signed keep verifying until
   * the next rotation) and a new current secret is created. Other processes pick it up on their
   * next reload.
   */
  async rotate(account: string): Promise<AccountSecrets> {
    await readOrCreateSecret(this.file(account));
    await rename(this.file(account), this.previousFile(account));
    const entry = this.#entries.get(account) ?? { loadedAt: 0 };
    this.#entries.set(account, entry);
    entry.secrets = undefined;
    return this.#refresh(account, entry);
  }
}
