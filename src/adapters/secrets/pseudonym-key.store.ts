import path from 'node:path';
import { Pseudonyms, type LogIdMode } from '../../domain/pseudonym.js';
import { readOrCreateSecret } from './token-secret.store.js';

/**
 * The service-wide secret behind erasure marks and log pseudonyms. The `.` keeps the name out
 * of the account alphabet, so it never collides with an account's `credentials/<account>/` dir.
 */
export const PSEUDONYM_KEY_FILE = 'pseudonym.key';

export function pseudonymKeyPath(dataDir: string): string {
  return path.join(dataDir, 'credentials', PSEUDONYM_KEY_FILE);
}

/**
 * Read (or create, exclusively, like the token secrets) the secret and return the keyed
 * hashes of this data dir. Every process sharing the data dir gets the same marks and
 * pseudonyms. Keep it with the data: without it the marks match nobody, so tokens of erased
 * persons would verify again until they expire.
 */
export async function loadPseudonyms(dataDir: string, logMode: LogIdMode): Promise<Pseudonyms> {
  return new Pseudonyms(await readOrCreateSecret(pseudonymKeyPath(dataDir)), logMode);
}
