import type { CtrReport } from '../../domain/analytics.api.js';
import { flag, type CliCommand } from '../command.js';
import { percent, shortTime } from '../analytics.format.js';

export const recommendationCtrCommand: CliCommand = {
  name: 'recommendation-ctr',
  summary: 'click-through rate of recommended listings over a window',
  usage:
    'usage: visitor recommendation-ctr [--from TIME] [--to TIME] [--json]\n\nTIME: ISO 8601, epoch ms, or a duration ago (24h, 7d). Default: the 30 days before --to (now). GET /api/ctr.',
  async run(args, api) {
    const out = await api.get<CtrReport>('/api/ctr', { from: flag(args, 'from'), to: flag(args, 'to') });
    return {
      json: out,
      table: {
        columns: ['listing', 'impressions', 'clicks', 'ctr'],
        rows: [
          ...out.listings.map((l) => [l.listing, l.impressions, l.clicks, percent(l.ctr)]),
          ['(all)', out.overall.impressions, out.overall.clicks, percent(out.overall.ctr)],
        ],
      },
      notes: [`window ${shortTime(out.from)} → ${shortTime(out.to)} UTC`],
    };
  },
};
