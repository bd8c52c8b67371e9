import type { PageVisitors } from '../../domain/analytics.api.js';
import { UsageError, flag, type CliCommand } from '../command.js';
import { duration, intFlag, shortTime, whoLabel } from '../analytics.format.js';

export const recentByPageCommand: CliCommand = {
  name: 'recent-by-page',
  summary: 'who looked at a page or listing, newest first',
  usage:
    'usage: visitor recent-by-page (--path /listings/12-high-st | --listing 12-high-st) [--limit N] [--json]\n\nOne row per person (all their devices) or anonymous visitor (GET /api/pages/visitors).',
  async run(args, api) {
    const path = flag(args, 'path');
    const listing = flag(args, 'listing');
    if ((path === undefined) === (listing === undefined)) throw new UsageError('give exactly one of --path or --listing');
    const out = await api.get<PageVisitors>('/api/pages/visitors', { path, listing, limit: intFlag(args, 'limit') });
    return {
      json: out,
      table: {
        columns: ['last seen', 'who', 'devices', 'views', 'depth', 'dwell', 'first seen'],
        rows: out.visitors.map((v) => [
          shortTime(v.lastSeen),
          whoLabel(v),
          v.visitorIds.length,
          v.views,
          v.maxDepth ? `${v.maxDepth}%` : '',
          duration(v.dwellMs),
          shortTime(v.firstSeen),
        ]),
      },
      notes: [`${out.visitors.length} visitor(s) of ${path ?? `listing ${listing}`} (${out.pages.map((p) => p.path).join(', ') || 'no page metadata yet'})`],
    };
  },
};
