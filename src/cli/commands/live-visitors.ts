import type { LiveVisitorsResponse } from '../../domain/presence.messages.js';
import type { CliCommand } from '../command.js';
import { limitFlag, pageFlag } from '../presence.flags.js';

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} ago`;
}

export const liveVisitorsCommand: CliCommand = {
  name: 'live-visitors',
  summary: 'the visitors online now, most recently active first',
  usage:
    'usage: visitor live-visitors [--page /path] [--limit N] [--json]\n\n' +
    'One row per visitor (tabs counted once): who, where, pages viewed, when they joined and were\n' +
    'last active (GET /api/visitors/live; --limit default 100, at most 1000).',
  async run(args, api) {
    const out = await api.get<LiveVisitorsResponse>('/api/visitors/live', { page: pageFlag(args), limit: limitFlag(args) });
    const now = out.ts;
    return {
      json: out,
      table: {
        columns: ['last active', 'who', 'path', 'title', 'pages', 'tabs', 'segment', 'joined'],
        rows: out.visitors.map((v) => [
          ago(v.lastActivity, now),
          v.personId ? `person ${v.personId}` : `anon ${v.visitorId}`,
          v.path,
          v.title,
          v.pagesViewed,
          v.tabs,
          v.segment ? `${v.segment}${v.crossSegment ? ` → ${v.pageSegment}` : ''}` : '',
          ago(v.joinedAt, now),
        ]),
        clip: ['title'],
      },
      notes: [
        `${out.online} online${out.page ? ` on ${out.page}` : ''} (${out.authenticated} authenticated, ${out.anonymous} anonymous)${out.truncated ? `; showing ${out.visitors.length}` : ''}`,
      ],
    };
  },
};
