import type { Briefing } from '../../domain/analytics.api.js';
import { flag, type CliCommand } from '../command.js';
import { duration, intFlag, shortTime, whoLabel } from '../analytics.format.js';

export const briefingCommand: CliCommand = {
  name: 'briefing',
  summary: 'who was on the site since a time, and what they looked at',
  usage:
    'usage: visitor briefing [--since TIME] [--limit N] [--pages N] [--json]\n\nTIME: ISO 8601, epoch ms, or a duration ago (12h, 3d); default 24h. GET /api/briefing.',
  async run(args, api) {
    const out = await api.get<Briefing>('/api/briefing', { since: flag(args, 'since'), limit: intFlag(args, 'limit'), pages: intFlag(args, 'pages') });
    return {
      json: out,
      table: {
        columns: ['last seen', 'who', 'sessions', 'views', 'dwell', 'looked at'],
        rows: out.people.map((p) => [
          shortTime(p.lastSeen),
          whoLabel(p),
          p.sessions,
          p.pageViews,
          duration(p.dwellMs),
          p.pages.map((pg) => pg.title || pg.path).join(', ') + (p.pageCount > p.pages.length ? ` (+${p.pageCount - p.pages.length})` : ''),
        ]),
        clip: ['looked at'],
      },
      notes: [`${out.people.length} people and visitors since ${shortTime(out.since)} UTC`],
    };
  },
};
