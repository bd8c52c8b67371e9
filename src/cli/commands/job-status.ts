import { firstArg, type CliCommand } from '../command.js';
import { waitForJob, type JobStatusView } from './job-wait.js';

/**
 * BullMQ counts an attempt in `attemptsMade` only when it ends, and in `attemptsStarted` when it
 * starts: a job running its first try has made 0 and started 1. So a running job shows the
 * attempt it is on, any other the attempts it has made.
 */
export function attemptText(s: JobStatusView): string {
  const of = s.attempts ?? 1;
  if (s.state === 'active') return `${s.attemptsStarted ?? (s.attemptsMade ?? 0) + 1} of ${of}, running`;
  return `${s.attemptsMade ?? 0} of ${of}`;
}

/** `visitor job-status <jobId> [--wait]`: a queued job's state (GET /api/jobs/:id). */
export const jobStatusCommand: CliCommand = {
  name: 'job-status',
  summary: 'state, progress and result of an erasure or backfill job',
  usage: 'usage: visitor job-status <jobId> [--wait] [--json]',
  async run(args, api, io) {
    const id = firstArg(args, 'a job id');
    const s = args.flags.wait ? await waitForJob(api, id, io.stderr) : await api.get<JobStatusView>(`/api/jobs/${encodeURIComponent(id)}`);
    return {
      json: s,
      table: { columns: ['job', 'state', 'progress', 'attempt'], rows: [[s.id, s.state, `${s.progress}%`, attemptText(s)]] },
      notes: [s.failedReason ? `failed: ${s.failedReason}` : `result: ${JSON.stringify(s.result)}`],
    };
  },
};
