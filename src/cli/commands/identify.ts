import { flag, UsageError, type CliCommand } from '../command.js';

/** `visitor identify <visitorId> <personId> [--confidence X]`: bind a visitor to a person (POST /api/identify). */
export const identifyCommand: CliCommand = {
  name: 'identify',
  summary: "bind a visitor (browser) to a person from the site's own login",
  usage: [
    'usage: visitor identify <visitorId> <personId> [--confidence 0..1] [--json]',
    '',
    "Writes an identity edge with source 'identify' (default confidence 1). Every session of the",
    "visitor, earlier ones included, becomes the person's; the newest edge of a visitor wins.",
  ].join('\n'),
  async run(args, api) {
    const [visitorId, personId] = args.positional;
    if (!visitorId || !personId) throw new UsageError('a visitor id and a person id are required');
    const c = flag(args, 'confidence');
    const confidence = c === undefined ? undefined : Number(c);
    if (confidence !== undefined && !(confidence >= 0 && confidence <= 1)) throw new UsageError('--confidence must be between 0 and 1');
    const r = await api.post<{ visitorId: string; personId: string; source: string; confidence: number; ts: number }>('/api/identify', {
      visitorId,
      personId,
      confidence,
    });
    return {
      json: r,
      table: {
        columns: ['visitor', 'person', 'source', 'confidence', 'at'],
        rows: [[r.visitorId, r.personId, r.source, r.confidence, new Date(r.ts).toISOString()]],
      },
    };
  },
};
