import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Pseudonyms } from '../../src/domain/pseudonym.js';

describe('keyed pseudonyms', () => {
  const secret = randomBytes(32);

  it('are stable per id, account and kind, and differ under another secret', () => {
    const a = new Pseudonyms(secret);
    const b = new Pseudonyms(secret);
    expect(a.personLogId('acme', 'p-42')).toMatch(/^ps_[0-9a-f]{12}$/);
    expect(a.personLogId('acme', 'p-42')).toBe(b.personLogId('acme', 'p-42'));
    expect(a.personLogId('acme', 'p-42')).not.toBe(a.personLogId('other', 'p-42'));
    expect(a.visitorLogId('acme', 'p-42')).toMatch(/^vs_/);
    expect(a.mark('acme', 'person', 'p-42')).toMatch(/^[0-9a-f]{32}$/);
    expect(a.mark('acme', 'person', 'p-42')).not.toBe(a.mark('acme', 'visitor', 'p-42'));
    // A log pseudonym is not a prefix of the mark: seeing one tells nothing of the other.
    expect(a.mark('acme', 'person', 'p-42')).not.toContain(a.personLogId('acme', 'p-42')!.slice(3));
    expect(new Pseudonyms(randomBytes(32)).personLogId('acme', 'p-42')).not.toBe(a.personLogId('acme', 'p-42'));
  });

  it('write ids raw on request, and leave empty ones empty', () => {
    const raw = new Pseudonyms(secret, 'raw');
    expect(raw.personLogId('acme', 'p-42')).toBe('p-42');
    expect(raw.mark('acme', 'person', 'p-42')).toBe(new Pseudonyms(secret).mark('acme', 'person', 'p-42'));
    expect(new Pseudonyms(secret).personLogId('acme', '')).toBe('');
    expect(new Pseudonyms(secret).personLogId('acme', undefined)).toBeUndefined();
  });
});
