/** Figures of a bench run, and their readable rendering (`bench/results/latest.md`). */

export interface Figure {
  id: string;
  /** What is measured, in words. */
  name: string;
  unit: string;
  /** Higher or lower is better (for the ratio's reading). */
  better: 'higher' | 'lower';
  service: number | null;
  baseline: number | null;
  /** service / baseline. */
  ratio: number | null;
  /** What the baseline is. */
  baselineIs: string;
  target?: { op: '>=' | '<'; value: number };
  met?: boolean;
  status: 'ok' | 'unavailable' | 'skipped' | 'error';
  note?: string;
  detail?: Record<string, unknown>;
}

export interface BenchResult {
  generatedAt: string;
  command: string;
  mode: 'full' | 'quick';
  durationS: number;
  machine: Record<string, unknown>;
  setup: Record<string, unknown>;
  figures: Figure[];
  /** Share of the machine's CPU used by processes other than this bench, per phase. */
  contention: Record<string, number>;
  /** Where time went, for reading the figures (not figures themselves). */
  diagnostics?: Record<string, unknown>;
  notes: string[];
}

export function figure(f: Omit<Figure, 'ratio' | 'met' | 'status'> & { status?: Figure['status'] }): Figure {
  const ratio = f.service !== null && f.baseline !== null && f.baseline > 0 ? Math.round((f.service / f.baseline) * 100) / 100 : null;
  let met: boolean | undefined;
  if (f.target && f.service !== null) met = f.target.op === '>=' ? f.service >= f.target.value : f.service < f.target.value;
  return { ...f, ratio, met, status: f.status ?? (f.service === null ? 'unavailable' : 'ok') };
}

function fmt(n: number | null, unit: string): string {
  if (n === null) return '—';
  const v = Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en-US') : String(Math.round(n * 10) / 10);
  return `${v} ${unit}`;
}

export function renderMarkdown(r: BenchResult): string {
  const lines: string[] = [];
  lines.push(`# Bench results (${r.mode})`, '');
  lines.push(`Produced by \`${r.command}\` on ${r.generatedAt} in ${Math.round(r.durationS)} s.`, '');
  lines.push(
    `Machine: ${String(r.machine.cpus)} × ${String(r.machine.cpuModel)}, ${String(r.machine.memGb)} GB, Node ${String(r.machine.node)}, ${String(r.machine.redis)}; load average at start ${String(r.machine.loadavgStart)}.`,
    '',
  );
  lines.push('| figure | service | baseline | service / baseline | target | |', '|---|---:|---:|---:|---|---|');
  for (const f of r.figures) {
    const target = f.target ? `${f.target.op} ${fmt(f.target.value, f.unit)}` : '';
    const mark = f.status !== 'ok' ? f.status : f.met === undefined ? '' : f.met ? 'met' : '**missed**';
    lines.push(`| ${f.name} | ${fmt(f.service, f.unit)} | ${fmt(f.baseline, f.unit)} | ${f.ratio === null ? '—' : `${f.ratio}×`} | ${target} | ${mark} |`);
  }
  lines.push('', 'Baselines, figure by figure:', '');
  for (const f of r.figures) lines.push(`- **${f.name}**: ${f.baselineIs}${f.note ? ` — ${f.note}` : ''}`);
  if (Object.keys(r.contention).length) {
    lines.push('', 'CPU used by other processes on the machine during each phase (share of both cores; the bench shares the machine):', '');
    lines.push(
      Object.entries(r.contention)
        .map(([k, v]) => `${k} ${Math.round(v * 100)} %`)
        .join(', '),
    );
  }
  if (r.notes.length) lines.push('', 'Notes:', '', ...r.notes.map((n) => `- ${n}`));
  lines.push('', 'Setup:', '', '```json', JSON.stringify(r.setup, null, 2), '```', '');
  return `${lines.join('\n')}\n`;
}

export function percentile(values: readonly number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
