import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SNIPPET_SOURCE } from '../../bin/build-snippet.js';
import { LISTING_SLUG_RE, OPAQUE_ID_RE, SEGMENT_RE, zAccountId, zPersonId, zRecId, zSessionId, zVisitorId } from '../../src/domain/ids.js';

const REDIS_DIR = path.resolve(import.meta.dirname, '../../redis');
const luaFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? luaFiles(path.join(dir, e.name)) : e.name.endsWith('.lua') ? [path.join(dir, e.name)] : [],
  );
const lua = luaFiles(REDIS_DIR).map((f) => ({ file: path.relative(REDIS_DIR, f), text: readFileSync(f, 'utf8') }));

/** Every literal a script splits a stored value on: `string.find(x, 'c', 1, true)`. */
const separators = lua.flatMap(({ file, text }) =>
  [...text.matchAll(/string\.find\(\s*\w+\s*,\s*'([^']+)'\s*,\s*1\s*,\s*true\s*\)/g)].map((m) => ({ file, sep: m[1]! })),
);

const ids = { account: zAccountId, session: zSessionId, visitor: zVisitorId, person: zPersonId, rec: zRecId };

describe("the Lua scripts' assumptions about ids (redis/)", () => {
  it('split only on the separators reviewed here', () => {
    expect(new Set(separators.map((s) => s.sep))).toEqual(new Set(['|', ':']));
  });

  it('join visitorId|sessionId with a character no id may contain', () => {
    const joins = lua.filter(({ text }) => /vid \.\. '\|' \.\. sid/.test(text)).map((l) => l.file);
    expect(joins.length).toBeGreaterThan(0);
    for (const [name, schema] of Object.entries(ids)) {
      expect(schema.safeParse('a|b').success, `${name} admits |`).toBe(false);
      expect(schema.safeParse('a').success, name).toBe(true);
    }
  });

  it('split an identity binding "<tsMs>:<personId>" at its first ":", so a person id may hold ":"', () => {
    const confirm = lua.find((l) => l.file === 'identity-confirm-1.lua')!;
    expect(separators.filter((s) => s.sep === ':').map((s) => s.file)).toEqual(['identity-confirm-1.lua']);
    expect(confirm.text).toContain("ARGV[1] .. ':' .. ARGV[2]");
    expect(zPersonId.safeParse('crm:42').success).toBe(true);
  });
});

describe('the snippet (src/web/t.js) uses the alphabets of src/domain/ids.ts', () => {
  const source = readFileSync(SNIPPET_SOURCE, 'utf8');
  const snippetRe = (name: string): string => {
    const m = new RegExp(`\\bvar ${name} = /(.+)/;`).exec(source);
    if (!m) throw new Error(`t.js declares no ${name}`);
    return m[1]!;
  };

  it('writes the same id, listing and segment patterns', () => {
    expect(snippetRe('ID_RE')).toBe(OPAQUE_ID_RE.source);
    expect(snippetRe('LISTING_RE')).toBe(LISTING_SLUG_RE.source);
    expect(snippetRe('SEGMENT_RE')).toBe(SEGMENT_RE.source);
  });
});
