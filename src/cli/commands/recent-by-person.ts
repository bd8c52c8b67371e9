import type { PersonSessions } from '../../domain/analytics.api.js';
import { firstArg, type CliCommand } from '../command.js';
import { duration, intFlag, shortTime } from '../analytics.format.js';

export const recentByPersonCommand: CliCommand = {
  name: 'recent-by-person',
  summary: 'recent sessions of one person, across all their devices',
  usage: 'usage: visitor recent-by-person <personId> [--limit N] [--json]\n\nNewest sessions first (GET /api/persons/:id/sessions).',
  async run(args, api) {
    const person = firstArg(args, 'a person id');
    const out = await api.get<PersonSessions>(`/api/persons/${encodeURIComponent(person)}/sessions`, { limit: intFlag(args, 'limit') });
    return {
      json: out,
      table: {
        columns: ['last seen', 'session', 'visitor', 'device', 'pages', 'depth', 'dwell', 'entry', 'exit', 'referrer'],
        rows: out.sessions.map((s) => [
          shortTime(s.lastSeen),
          s.sessionId,
          s.visitorId,
          s.device,
          s.pageViews,
          s.maxDepth ? `${s.maxDepth}%` : '',
          duration(s.dwellMs),
          s.entryPath,
          s.exitPath,
          s.referrerHost || s.channel,
        ]),
      },
      notes: [`${out.sessions.length} session(s) of person ${out.personId} on ${out.visitorIds.length} device(s)`],
    };
  },
};
