import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { minifySnippet, SNIPPET_OUTPUT, SNIPPET_SOURCE } from '../../bin/build-snippet.js';
import { snippetAsset } from '../../src/gateway/web.routes.js';
import { MAX_EVENTS_PER_REQUEST, MAX_PROPS_BYTES, zBeaconEvent } from '../../src/domain/event.schema.js';

const source = readFileSync(SNIPPET_SOURCE, 'utf8');
const served = readFileSync(SNIPPET_OUTPUT, 'utf8');

/** A `var NAME = <number>;` or `var NAME = /re/;` constant of the snippet source. */
function snippetConst(name: string): string {
  const m = new RegExp(`\\bvar ${name} = ([^;]+);`).exec(source);
  if (!m) throw new Error(`t.js declares no ${name}`);
  return m[1]!;
}

const num = (name: string) => Number(snippetConst(name));

describe('the served snippet', () => {
  it('is the minifier output of t.js (run `npm run build:snippet` after editing t.js)', () => {
    expect(served).toBe(minifySnippet(source));
    expect(snippetAsset().body.toString('utf8')).toBe(served);
  });

  it('stays within 3 KB gzip: the README quotes the figure', () => {
    const a = snippetAsset();
    expect(a.gzip.length).toBeLessThanOrEqual(3072);
    expect(a.body.length).toBeLessThan(6_500);
  });

  it('is ES5: no arrow functions, let/const, classes, template literals or spread in the output', () => {
    expect(served).not.toMatch(/=>|\b(let|const|class)\s|`|\.\.\./);
    expect(() => new vm.Script(served)).not.toThrow();
  });
});

describe('the snippet keeps to the server schema (src/domain/event.schema.ts)', () => {
  const shape = zBeaconEvent.shape;
  const maxLen = (field: 'url' | 'referrer' | 'title' | 'label'): number | null => shape[field].unwrap().maxLength;

  it('batches no more events than a request may carry, and caps props as the server does', () => {
    expect(num('MAX_BATCH')).toBe(MAX_EVENTS_PER_REQUEST);
    expect(num('MAX_PROPS_BYTES')).toBe(MAX_PROPS_BYTES);
    // The props schema refuses more keys than this, and string values longer than MAX_PROP_VALUE.
    const props = shape.props.unwrap();
    const keys = Object.fromEntries(Array.from({ length: num('MAX_PROPS_KEYS') }, (_, i) => [`k${i}`, 1]));
    expect(props.safeParse(keys).success).toBe(true);
    expect(props.safeParse({ ...keys, one: 1 }).success).toBe(false);
    expect(props.safeParse({ href: 'x'.repeat(num('MAX_PROP_VALUE')) }).success).toBe(true);
    expect(props.safeParse({ href: 'x'.repeat(num('MAX_PROP_VALUE') + 1) }).success).toBe(false);
  });

  it('clips text fields to the lengths the schema accepts', () => {
    expect(num('MAX_URL')).toBe(maxLen('url'));
    expect(num('MAX_URL')).toBe(maxLen('referrer'));
    expect(num('MAX_TITLE')).toBe(maxLen('title'));
    expect(num('MAX_LABEL')).toBe(maxLen('label'));
    expect(num('MAX_PATH')).toBe(shape.path.maxLength);
    expect(shape.dwellMs.safeParse(num('MAX_DWELL_MS')).success).toBe(true);
    expect(shape.dwellMs.safeParse(num('MAX_DWELL_MS') + 1).success).toBe(false);
  });

  it('sends only ids, listings and segments the schema accepts', () => {
    const re = (name: string) => new RegExp(snippetConst(name).slice(1, -1));
    const cases: [string, keyof typeof shape, string[]][] = [
      ['ID_RE', 'sessionId', ['a', 'x'.repeat(128), 'x'.repeat(129), 'a b', 'a/b', '5f0c-1:2.3_4']],
      ['LISTING_RE', 'listing', ['12-high-st', 'a~b', 'x'.repeat(257), 'a b', 'a/b']],
      ['SEGMENT_RE', 'segment', ['north', 'north east', 'x'.repeat(65), 'a/b', '']],
    ];
    for (const [name, field, samples] of cases) {
      for (const s of samples) expect(re(name).test(s), `${name} ${s}`).toBe(shape[field].safeParse(s).success);
    }
  });
});

describe('the snippet never throws into the host page', () => {
  it('swallows a hostile environment where every property access throws', () => {
    const hostile: object = new Proxy(
      {},
      {
        get() {
          throw new Error('hostile');
        },
        has() {
          return true;
        },
      },
    );
    const ctx = vm.createContext({ window: hostile, document: hostile, navigator: hostile, location: hostile });
    expect(() => vm.runInContext(served, ctx)).not.toThrow();
  });

  it('does nothing without its script tag', () => {
    const calls: string[] = [];
    const document = {
      currentScript: null,
      querySelectorAll: () => [],
      addEventListener: () => calls.push('listen'),
    };
    const window = { addEventListener: () => calls.push('listen'), document };
    const ctx = vm.createContext({ window, document, navigator: {}, location: { pathname: '/', href: 'http://x/' } });
    vm.runInContext(served, ctx);
    expect(calls).toEqual([]);
    expect((window as Record<string, unknown>).mxy).toBeUndefined();
  });
});
