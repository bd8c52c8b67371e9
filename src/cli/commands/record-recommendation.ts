import { UsageError, flag, type CliCommand } from '../command.js';
import { readJsonItems } from '../analytics.format.js';

const BATCH = 1000;

export const recordRecommendationCommand: CliCommand = {
  name: 'record-recommendation',
  summary: 'report what the recommender showed (impressions for CTR)',
  usage:
    'usage: visitor record-recommendation --listing SLUG --rec REC_ID [--session ID] [--person ID] [--visitor ID] [--ts TIME] [--json]\n' +
    '       visitor record-recommendation --file recs.json\n\n' +
    'At least one of --session, --person, --visitor. The file holds one object, an array, { "recommendations": [ … ] }\n' +
    'or one object per line, each { listing, recId, sessionId?, personId?, visitorId?, ts? }. POST /api/recommendations.',
  async run(args, api, io) {
    const file = flag(args, 'file');
    let items: unknown[];
    if (file) items = readJsonItems(io.resolvePath(file), 'recommendations');
    else {
      const listing = flag(args, 'listing');
      const recId = flag(args, 'rec');
      if (!listing || !recId) throw new UsageError('--listing and --rec are required (or --file)');
      const ts = flag(args, 'ts');
      items = [
        {
          listing,
          recId,
          sessionId: flag(args, 'session'),
          personId: flag(args, 'person'),
          visitorId: flag(args, 'visitor'),
          ts: ts && /^\d+$/.test(ts) ? Number(ts) : ts,
        },
      ];
    }
    if (!items.length) throw new UsageError('no recommendations to send');
    let accepted = 0;
    for (let i = 0; i < items.length; i += BATCH) {
      const out = await api.post<{ accepted: number }>('/api/recommendations', { recommendations: items.slice(i, i + BATCH) });
      accepted += out.accepted;
    }
    return { json: { accepted }, table: { columns: ['accepted'], rows: [[accepted]] } };
  },
};
