import type { StreamRow } from '../../src/adapters/redis/row-stream.js';
import { presenceArg, type PresenceEventInput } from '../../src/domain/presence.rules.js';

/**
 * A stream row carrying an event's presence fields packed as ingest packs them: a page view of
 * visitor `v` in tab `<v>-s` on `/x`, anonymous, unless `event` says otherwise.
 */
export function presenceRow(row: Omit<StreamRow, 'presence'>, event: Partial<PresenceEventInput> & Pick<PresenceEventInput, 'v' | 'id'>): StreamRow {
  return {
    ...row,
    presence: presenceArg({
      t: 'pageview',
      s: `${event.v}-s`,
      p: '/x',
      ti: 'X',
      ua: 'Chrome',
      dv: 'desktop',
      pe: '',
      sg: '',
      ps: '',
      lb: '',
      dp: 0,
      ls: '',
      ts: Date.now(),
      ...event,
    }),
  };
}
