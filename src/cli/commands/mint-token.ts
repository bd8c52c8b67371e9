import { firstArg, flag, UsageError, type CliCommand } from '../command.js';

const DAY_MS = 86_400_000;

/** `visitor mint-token <personId> [--ttl-days N | --ttl-ms N]`: a signed visitor token (POST /api/tokens). */
export const mintTokenCommand: CliCommand = {
  name: 'mint-token',
  summary: 'mint a signed visitor token for a person (for email and recommendation links)',
  usage: [
    'usage: visitor mint-token <personId> [--ttl-days N | --ttl-ms N] [--json]',
    '',
    'Prints the person, the expiry and the whole token ({ token, expiryMs, personId } with --json).',
    'Default lifetime 30 days, at most 365. Put the token in a click link:',
    '/listings/<slug>/click?account=<account>&session=<session>&v=<token>&rec=<recId>',
  ].join('\n'),
  async run(args, api) {
    const personId = firstArg(args, 'a person id');
    const days = flag(args, 'ttl-days');
    const ms = flag(args, 'ttl-ms');
    if (days !== undefined && ms !== undefined) throw new UsageError('give --ttl-days or --ttl-ms, not both');
    let ttlMs: number | undefined;
    if (days !== undefined) ttlMs = Math.round(Number(days) * DAY_MS);
    if (ms !== undefined) ttlMs = Number(ms);
    if (ttlMs !== undefined && (!Number.isFinite(ttlMs) || ttlMs <= 0)) throw new UsageError('the lifetime must be a positive number');
    const r = await api.post<{ token: string; expiryMs: number; personId: string }>('/api/tokens', { personId, ttlMs });
    return {
      json: { token: r.token, expiryMs: r.expiryMs, personId: r.personId },
      table: { columns: ['person', 'expires', 'token'], rows: [[personId, new Date(r.expiryMs).toISOString(), r.token]] },
    };
  },
};
