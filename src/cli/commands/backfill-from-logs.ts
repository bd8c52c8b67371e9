import { readFile } from 'node:fs/promises';
import { firstArg, flag, UsageError, type CliCommand } from '../command.js';
import type { BackfillResult } from '../../domain/job-results.js';
import { queuedJob } from './job-wait.js';

/** `reason=count …` */
const reasons = (counts: Record<string, number> | undefined): string =>
  Object.entries(counts ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

/** `visitor backfill-from-logs <file> [--from ISO] [--to ISO] [--wait]`: send a local log file (POST /api/backfill). */
export const backfillFromLogsCommand: CliCommand = {
  name: 'backfill-from-logs',
  summary: 'backfill recommendations and clicks from recommender log lines (queued job)',
  usage: [
    'usage: visitor backfill-from-logs <file> [--from ISO] [--to ISO] [--wait] [--timeout SECONDS] [--json]',
    '',
    'Reads the local file and sends its text to the service (which never reads server files).',
    'Lines: <ISO time> [property-recommended] account=… session=… listing=… rec=… [person=…]',
    '       <ISO time> [property-card-click] account=… session=… listing=… rec=… [person=…]',
    '--from (inclusive) and --to (exclusive) filter by the line time. With --wait, shows a',
    'progress bar on stderr and prints recWritten, clickWritten, skipped and invalid.',
  ].join('\n'),
  async run(args, api, io) {
    const file = firstArg(args, 'a log file');
    let logs: string;
    try {
      logs = await readFile(io.resolvePath(file), 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
    }
    const { jobId } = await api.post<{ jobId: string }>('/api/backfill', { logs, from: flag(args, 'from'), to: flag(args, 'to') });
    return queuedJob(args, api, io, jobId, (s) => {
      const r = s.result as BackfillResult;
      return {
        table: { columns: ['recWritten', 'clickWritten', 'skipped', 'invalid'], rows: [[r.recWritten, r.clickWritten, r.skipped, r.invalid]] },
        notes: [`skipped: ${reasons(r.skippedReasons)}`, `invalid: ${reasons(r.invalidReasons)}; other lines ignored: ${r.ignored ?? 0}`, `job ${jobId}`],
      };
    });
  },
};
