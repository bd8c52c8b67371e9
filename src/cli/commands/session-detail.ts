import type { SessionDetail } from '../../domain/analytics.api.js';
import { firstArg, type CliCommand } from '../command.js';
import { clipText, duration, intFlag, shortTime } from '../analytics.format.js';

/** Titles are prose and cut; the label, listing and rec ids after them are printed whole. */
const TITLE_WIDTH = 40;

export const sessionDetailCommand: CliCommand = {
  name: 'session-detail',
  summary: 'the full ordered timeline of one session',
  usage: 'usage: visitor session-detail <sessionId> [--limit N] [--json]\n\nGET /api/sessions/:id.',
  async run(args, api) {
    const session = firstArg(args, 'a session id');
    const out = await api.get<SessionDetail>(`/api/sessions/${encodeURIComponent(session)}`, { limit: intFlag(args, 'limit') });
    const s = out.summary;
    return {
      json: out,
      table: {
        columns: ['time', 'type', 'path', 'detail'],
        rows: out.timeline.map((e) => [
          shortTime(e.ts),
          e.type,
          e.path,
          [
            e.title && `"${clipText(e.title, TITLE_WIDTH)}"`,
            e.label && `label=${e.label}`,
            e.depth && `depth=${e.depth}`,
            e.dwellMs && `dwell=${duration(e.dwellMs)}`,
            e.listing && `listing=${e.listing}`,
            e.recId && `rec=${e.recId}`,
          ]
            .filter(Boolean)
            .join(' '),
        ]),
      },
      notes: [
        `session ${out.sessionId}: visitor ${out.visitorId}${out.personId ? `, person ${out.personId}` : ' (anonymous)'}, ${s.device} ${s.browser}`,
        `${s.events} events, ${s.pageViews} page views over ${duration(s.durationMs)}, dwell ${duration(s.dwellMs)}, max depth ${s.maxDepth}%, ` +
          `entry ${s.entryPath} from ${s.referrerHost || s.channel}, exit ${s.exitPath}${out.truncated ? ' (timeline truncated: raise --limit)' : ''}`,
      ],
    };
  },
};
