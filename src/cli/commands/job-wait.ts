import type { ApiClient } from '../api-client.js';
import { flag, type CommandIo, type CommandOutput, type ParsedArgs } from '../command.js';

/** What `GET /api/jobs/:id` answers (the fields the CLI reads). */
export interface JobStatusView {
  id: string;
  state: string;
  progress: number;
  step?: string;
  result: unknown;
  failedReason?: string;
  attemptsMade?: number;
  attemptsStarted?: number;
  attempts?: number;
}

const FINAL = new Set(['completed', 'failed']);
const BAR_WIDTH = 30;

export function progressBar(pct: number, state: string, step?: string): string {
  const p = Math.max(0, Math.min(100, Math.round(pct)));
  const filled = Math.round((p / 100) * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${String(p).padStart(3)}% ${state}${step ? ` – ${step}` : ''}`;
}

export interface WaitOptions {
  /** Poll interval. @defaultValue 500 */
  intervalMs?: number;
  /** Give up after this long (the job keeps running). @defaultValue 1 hour */
  timeoutMs?: number;
}

/**
 * Poll a job until it completes or fails, drawing a progress bar on stderr (redrawn in place on
 * a terminal, one line per change otherwise). A failed job (after its retries) is an error.
 */
export async function waitForJob(api: ApiClient, jobId: string, stderr: NodeJS.WritableStream, opts: WaitOptions = {}): Promise<JobStatusView> {
  const tty = Boolean((stderr as { isTTY?: boolean }).isTTY);
  const deadline = Date.now() + (opts.timeoutMs ?? 3_600_000);
  let last = '';
  for (;;) {
    const s = await api.get<JobStatusView>(`/api/jobs/${encodeURIComponent(jobId)}`);
    const line = progressBar(s.progress, s.state, FINAL.has(s.state) ? undefined : s.step);
    if (line !== last) {
      stderr.write(tty ? `\r\u001b[2K${line}` : `${line}\n`);
      last = line;
    }
    if (FINAL.has(s.state)) {
      if (tty) stderr.write('\n');
      if (s.state === 'failed') throw new Error(`job ${jobId} failed after ${s.attemptsMade ?? '?'} attempt(s): ${s.failedReason ?? 'unknown reason'}`);
      return s;
    }
    if (Date.now() > deadline) {
      if (tty) stderr.write('\n');
      throw new Error(`job ${jobId} still ${s.state} after waiting; check it later with: visitor job-status ${jobId}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
}

/**
 * What a command that queued a job prints: the job id and how to follow it, or with `--wait`
 * (bounded by `--timeout SECONDS`) the finished job, its result shown by `finished`.
 */
export async function queuedJob(
  args: ParsedArgs,
  api: ApiClient,
  io: CommandIo,
  jobId: string,
  finished: (s: JobStatusView) => Omit<CommandOutput, 'json'>,
): Promise<CommandOutput> {
  if (!args.flags.wait) return { json: { jobId }, table: { columns: ['jobId'], rows: [[jobId]] }, notes: [`follow it with: visitor job-status ${jobId}`] };
  const timeout = flag(args, 'timeout');
  const s = await waitForJob(api, jobId, io.stderr, { timeoutMs: timeout ? Number(timeout) * 1000 : undefined });
  return { json: { jobId, ...s }, ...finished(s) };
}
