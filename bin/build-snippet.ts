/**
 * Minify the browser snippet: src/web/t.js (the readable source) → src/web/t.min.js (what
 * `/t.js` serves, committed so the service needs no build step or minifier at run time).
 * Run `npm run build:snippet` after editing t.js; test/unit/web.snippet.test.ts fails when the
 * committed output is not what this produces.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';

export const SNIPPET_SOURCE = fileURLToPath(new URL('../src/web/t.js', import.meta.url));
export const SNIPPET_OUTPUT = fileURLToPath(new URL('../src/web/t.min.js', import.meta.url));

/** ES5 output: the snippet runs on every visitor's browser, old ones included. */
export function minifySnippet(source: string): string {
  return transformSync(source, { minify: true, target: 'es5', charset: 'utf8', legalComments: 'none' }).code;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const out = minifySnippet(readFileSync(SNIPPET_SOURCE, 'utf8'));
  writeFileSync(SNIPPET_OUTPUT, out);
  process.stdout.write(`${SNIPPET_OUTPUT}: ${out.length} bytes\n`);
}
