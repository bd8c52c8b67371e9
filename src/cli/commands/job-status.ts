import { UsageError, type CliCommand } from '../command.js';
import { waitForJob, type JobStatusView } from './job-wait.js';

/** `visitor job-status <jobId> [--wait]`: a queued job's state (GET /api/jobs/:id). */
export const jobStatusCommand: CliCommand = {
  name: 'job-status',
  summary: 'state, progress and result of an erasure or backfill job',
  usage: 'usage: visitor job-status <jobId> [--wait] [--json]',
  async run(args, api, io) {
    const id = args.positional[0];
    if (!id) throw new UsageError('a job id is required');
    const s = args.flags.wait ? await waitForJob(api, id, io.stderr) : await api.get<JobStatusView>(`/api/jobs/${encodeURIComponent(id)}`);
    return {
      json: s,
      table: { columns: ['job', 'state', 'progress', 'attempts'], rows: [[s.id, s.state, `${s.progress}%`, `${s.attemptsMade ?? 0}/${s.attempts ?? 1}`]] },
      notes: [s.failedReason ? `failed: ${s.failedReason}` : `result: ${JSON.stringify(s.result)}`],
    };
  },
};
