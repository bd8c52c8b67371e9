/** Shared formatting of the analytics CLI tables (people read these; `--json` is for machines). */
import { readFileSync } from 'node:fs';
import { formatJsonError } from '../json-error.js';
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
 * JSON items from a file (or stdin with `-`): one object, an array, `{ "<key>": [ … ] }`, or one
 * JSON value per line (when the first line is JSON on its own). Broken JSON is a usage error
 * naming the line and column.
 */
export function readJsonItems(file: string, key: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  text = text.replace(/^\uFEFF/, '');
  if (!text.trim()) return [];
  const shown = file === '-' ? '(stdin)' : file;
  const lines = text.split('\n');
  const first = lines.findIndex((l) => l.trim());
  const parses = (s: string) => {
    try {
      JSON.parse(s);
      return true;
    } catch {
      return false;
    }
  };
  if (lines.slice(first + 1).some((l) => l.trim()) && parses(lines[first]!)) {
    const items: unknown[] = [];
    lines.forEach((l, i) => {
      if (!l.trim()) return;
      try {
        items.push(JSON.parse(l));
      } catch (err) {
        throw new UsageError(formatJsonError(shown, l, err, i + 1));
      }
    });
    return items;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new UsageError(formatJsonError(shown, text, err));
  }
  if (Array.isArray(v)) return v;
  if (v && typeof v === 'object' && Array.isArray((v as Record<string, unknown>)[key])) return (v as Record<string, unknown[]>)[key]!;
  return [v];
}

/** Cut prose (a page title) to `max` characters with `…`; ids are never cut. */
export function clipText(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
