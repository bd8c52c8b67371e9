import type { ApiClient } from './api-client.js';

export interface ParsedArgs {
  /** Positional arguments after the tool name. */
  positional: string[];
  /** `--name value` and `--flag` (true) options. */
  flags: Record<string, string | true>;
}

export type Cell = string | number | null | undefined;

/** What a command prints: JSON for machines (`--json`), a table for people. */
export interface CommandOutput {
  json: unknown;
  /**
   * Cells are printed whole: ids, tokens and paths are there to be copied. Only the columns
   * named in `clip` (prose such as page titles) are cut to fit.
   */
  table?: { columns: string[]; rows: Cell[][]; clip?: string[] };
  /** Extra lines printed under the table (people only). */
  notes?: string[];
}

export interface CliCommand {
  /** The tool name from the design's table, e.g. `online`. */
  name: string;
  summary: string;
  usage: string;
  run(args: ParsedArgs, api: ApiClient, io: CommandIo): Promise<CommandOutput>;
}

export interface CommandIo {
  stderr: NodeJS.WritableStream;
  /** Resolve a file name the user typed (relative to where they ran the CLI). */
  resolvePath(file: string): string;
}

export function parseArgs(argv: string[]): ParsedArgs {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
      else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags[a.slice(2)] = argv[++i]!;
      else flags[a.slice(2)] = true;
    } else positional.push(a);
  }
  return { positional, flags };
}

export function flag(args: ParsedArgs, name: string): string | undefined {
  const v = args.flags[name];
  return typeof v === 'string' ? v : undefined;
}

/** The first positional argument, or a usage error saying that `what` (`a person id`) is required. */
export function firstArg(args: ParsedArgs, what: string): string {
  const v = args.positional[0];
  if (!v) throw new UsageError(`${what} is required`);
  return v;
}

/** Widest a clipped (prose) column gets. */
const CLIP_WIDTH = 60;

/** Plain fixed-width table; only the `clip` columns are ever cut (with `…`). */
export function renderTable(columns: string[], rows: Cell[][], clip: readonly string[] = []): string {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '' : String(c))));
  const widths = columns.map((c, i) => {
    const w = Math.max(c.length, ...cells.map((r) => (r[i] ?? '').length));
    return clip.includes(c) ? Math.min(CLIP_WIDTH, w) : w;
  });
  const line = (r: string[]) =>
    r
      .map((c, i) => (c.length > widths[i]! ? `${c.slice(0, widths[i]! - 1)}…` : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** Bad arguments: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
