/** Shared formatting of the analytics CLI tables (people read these; `--json` is for machines). */
import { readFileSync } from 'node:fs';
import { UsageError, flag, type ParsedArgs } from './command.js';

/** ISO time → `2026-11-20 08:15:02` (UTC). */
export function shortTime(iso: string | null | undefined): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : '';
}

/** Milliseconds → `2m 05s`, `45s`, `1h 02m`. */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function fixed(n: number | null | undefined, digits = 3): string {
  return n === null || n === undefined ? '' : n.toFixed(digits);
}

export function percent(n: number | null | undefined): string {
  return n === null || n === undefined ? '' : `${(n * 100).toFixed(1)}%`;
}

/** `person p-42` or `visitor v-9`. */
export function whoLabel(w: { kind: string; personId: string | null; visitorIds: string[] }): string {
  return w.kind === 'person' ? `person ${w.personId}` : `visitor ${w.visitorIds[0] ?? ''}`;
}

/** A positive integer flag, checked before any request. */
export function intFlag(args: ParsedArgs, name: string): number | undefined {
  const v = flag(args, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,6}$/.test(v) || Number(v) < 1) throw new UsageError(`--${name} must be a positive integer`);
  return Number(v);
}

/**
 * JSON items from a file (or stdin with `-`): one object, an array, `{ "<key>": [ … ] }`, or
 * one JSON object per line.
 */
export function readJsonItems(file: string, key: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  const trimmed = text.trim();
  if (!trimmed) return [];
  try {
    const v = JSON.parse(trimmed) as unknown;
    if (Array.isArray(v)) return v;
    if (v && typeof v === 'object' && Array.isArray((v as Record<string, unknown>)[key])) return (v as Record<string, unknown[]>)[key]!;
    return [v];
  } catch {
    return trimmed.split('\n').filter((l) => l.trim()).map((l, i) => {
      try {
        return JSON.parse(l) as unknown;
      } catch {
        throw new UsageError(`${file}: line ${i + 1} is not JSON`);
      }
    });
  }
}
