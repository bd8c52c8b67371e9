import { readFileSync } from 'node:fs';

/** The `<event id> <ms>` lines of a load run's `recordSendsTo` file, as id → when it was sent. */
export function readSends(file: string): Map<string, number> {
  return new Map(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id, at] = l.split(' ');
        return [id!, Number(at)] as const;
      }),
  );
}
