/** The flags of the presence commands (`online`, `live-visitors`), checked before any request. */
import { UsageError, flag, type ParsedArgs } from './command.js';

/** `--page /path`: a path, as the live API takes it. */
export function pageFlag(args: ParsedArgs): string | undefined {
  const page = flag(args, 'page');
  if (page !== undefined && !page.startsWith('/')) throw new UsageError('--page must be a path starting with /');
  return page;
}

/** `--limit N`, 1 to 1000 as the live API allows. */
export function limitFlag(args: ParsedArgs): number | undefined {
  const v = flag(args, 'limit');
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError('--limit must be an integer from 1 to 1000');
  return n;
}
