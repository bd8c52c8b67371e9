import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { snippetAsset, stripJs } from '../../src/gateway/web.routes.js';

const source = readFileSync(new URL('../../src/web/t.js', import.meta.url), 'utf8');

describe('stripJs', () => {
  it('drops comment-only lines and indentation, and keeps line breaks and code', () => {
    const input = ['/*', ' * header', ' */', 'var a = 1;', '  // why', '  if (a) {', '    a = "http://x"; // kept: not a whole-line comment', '  }', '', '/* one line */', 'a++'].join('\n');
    expect(stripJs(input)).toBe(['var a = 1;', 'if (a) {', 'a = "http://x"; // kept: not a whole-line comment', '}', 'a++', ''].join('\n'));
  });

  it('leaves the snippet a valid script that keeps every statement', () => {
    const served = stripJs(source);
    expect(() => new vm.Script(served)).not.toThrow();
    expect(served).not.toMatch(/^\s*\/\//m);
    // Code lines only lose their indentation.
    const code = source.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('//') && !l.startsWith('/*') && !l.startsWith('*'));
    expect(served.trimEnd().split('\n')).toEqual(code);
  });

  it('stays small: the README quotes its gzip size', () => {
    const a = snippetAsset();
    // The README quotes the served gzip size (4,293 bytes); this bound keeps it honest.
    expect(a.gzip.length).toBeLessThan(4_600);
    expect(a.body.length).toBeLessThan(13_000);
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
    expect(() => vm.runInContext(stripJs(source), ctx)).not.toThrow();
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
    vm.runInContext(stripJs(source), ctx);
    expect(calls).toEqual([]);
    expect((window as Record<string, unknown>).mxy).toBeUndefined();
  });
});
