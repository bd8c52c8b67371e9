import { firstArg, type CliCommand } from '../command.js';
import type { ErasureResult } from '../../domain/job-results.js';
import { queuedJob } from './job-wait.js';

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
    const person = firstArg(args, 'a person id');
    const { jobId } = await api.post<{ jobId: string }>(`/api/persons/${encodeURIComponent(person)}/erase`, {});
    return queuedJob(args, api, io, jobId, (s) => {
      const r = s.result as ErasureResult;
      return {
        table: { columns: ['table', 'rows removed'], rows: Object.entries(r.tables ?? {}).map(([t, n]) => [t, n]) },
        notes: [
          `total rows ${r.totalRows}; visitors ${r.visitors}; sessions ${r.sessions}; stream entries ${r.streamEntries}; presence entries ${r.presenceEntries}`,
          `job ${jobId}`,
        ],
      };
    });
  },
};
