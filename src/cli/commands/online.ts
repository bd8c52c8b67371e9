import type { OnlineResponse } from '../../domain/presence.messages.js';
import type { CliCommand } from '../command.js';
import { limitFlag, pageFlag } from '../presence.flags.js';

export const onlineCommand: CliCommand = {
  name: 'online',
  summary: 'who is online now: totals, authenticated share, top pages, segments',
  usage:
    'usage: visitor online [--page /path] [--limit N] [--json]\n\n' +
    'Online visitors of the site (or of one page), authenticated vs anonymous, the pages with\n' +
    'the most visitors (--limit, default 10), segments and peaks (GET /api/online).',
  async run(args, api) {
    const out = await api.get<OnlineResponse>('/api/online', { page: pageFlag(args), limit: limitFlag(args) });
    const notes = [
      `${out.online} online${out.page ? ` on ${out.page}` : ''}: ${out.authenticated} authenticated (${out.percentages.authenticated}%), ${out.anonymous} anonymous (${out.percentages.anonymous}%)`,
    ];
    if (out.segments.length) {
      notes.push(`segments: ${out.segments.map((s) => `${s.segment}=${s.online}${s.crossSegment ? ` (${s.crossSegment} elsewhere)` : ''}`).join(', ')}`);
    }
    if (out.peaks) notes.push(`peaks: today ${out.peaks.day}, this week ${out.peaks.week}, this month ${out.peaks.month}`);
    return {
      json: out,
      table: { columns: ['page', 'visitors', 'authenticated'], rows: out.pages.map((p) => [p.path, p.count, p.authenticated]) },
      notes,
    };
  },
};
