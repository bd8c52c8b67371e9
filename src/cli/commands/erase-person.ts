import { flag, UsageError, type CliCommand } from '../command.js';
import type { ErasureResult } from '../../domain/job-results.js';
import { waitForJob } from './job-wait.js';

/** `visitor erase-person <personId> [--wait]`: queue the erasure of a person (POST /api/persons/:id/erase). */
export const erasePersonCommand: CliCommand = {
  name: 'erase-person',
  summary: 'erase every trace of a person (queued job; --wait shows progress)',
  usage: [
    'usage: visitor erase-person <personId> [--wait] [--timeout SECONDS] [--json]',
    '',
    'Queues the erasure and prints the job id. With --wait, polls the job (progress bar on stderr)',
    'and prints the rows removed per table. Running it again for the same person is harmless.',
  ].join('\n'),
  async run(args, api, io) {
    const person = args.positional[0];
    if (!person) throw new UsageError('a person id is required');
    const { jobId } = await api.post<{ jobId: string }>(`/api/persons/${encodeURIComponent(person)}/erase`, {});
    if (!args.flags.wait) return { json: { jobId }, table: { columns: ['jobId'], rows: [[jobId]] }, notes: [`follow it with: visitor job-status ${jobId}`] };
    const timeout = flag(args, 'timeout');
    const s = await waitForJob(api, jobId, io.stderr, { timeoutMs: timeout ? Number(timeout) * 1000 : undefined });
    const r = s.result as ErasureResult;
    return {
      json: { jobId, ...s },
      table: { columns: ['table', 'rows removed'], rows: Object.entries(r.tables ?? {}).map(([t, n]) => [t, n]) },
      notes: [
        `total rows ${r.totalRows}; visitors ${r.visitors}; sessions ${r.sessions}; stream entries ${r.streamEntries}; presence entries ${r.presenceEntries}`,
        `job ${jobId}`,
      ],
    };
  },
};
