import type { EngagementQueue } from '../../domain/analytics.api.js';
import type { CliCommand } from '../command.js';
import { duration, fixed, intFlag, shortTime, whoLabel } from '../analytics.format.js';

export const engagementScoreCommand: CliCommand = {
  name: 'engagement-score',
  summary: 'the nurture queue: people ranked by recency × depth × dwell',
  usage:
    'usage: visitor engagement-score [--limit N] [--persons] [--json]\n\n--persons keeps only known people (visitors bound to a person). GET /api/engagement.',
  async run(args, api) {
    const out = await api.get<EngagementQueue>('/api/engagement', { limit: intFlag(args, 'limit'), include: args.flags.persons ? 'persons' : undefined });
    return {
      json: out,
      table: {
        columns: ['#', 'who', 'score', 'recency', 'depth', 'dwell', 'last seen', 'views', 'milestones', 'engaged', 'sessions'],
        rows: out.queue.map((e) => [
          e.rank,
          whoLabel(e),
          fixed(e.score),
          fixed(e.recency),
          fixed(e.depth),
          fixed(e.dwell),
          shortTime(e.lastSeen),
          e.pageViews,
          e.scrollMilestones,
          duration(e.dwellMs),
          e.sessions,
        ]),
      },
      notes: [`${out.formula}`, `half-life ${out.params.halfLifeDays} d, as of ${shortTime(out.asOf)} UTC`],
    };
  },
};
