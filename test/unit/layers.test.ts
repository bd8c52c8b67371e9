/**
 * Layers point one way: `app/` (the composition root) may import `workers/` and `src/`,
 * `workers/` may import `src/`, and `src/` imports neither.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const sources = (dir: string): string[] =>
  readdirSync(path.join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.relative(ROOT, path.join(e.parentPath, e.name)));

/** The top-level directories a file's relative imports (static and dynamic) reach. */
function importedDirs(file: string): { spec: string; dir: string }[] {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const specs = [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((spec) => ({ spec, dir: path.relative(ROOT, path.resolve(ROOT, path.dirname(file), spec)).split(path.sep)[0]! }));
}

function violations(dir: string, forbidden: string[]): string[] {
  return sources(dir).flatMap((f) =>
    importedDirs(f)
      .filter((i) => forbidden.includes(i.dir))
      .map((i) => `${f} imports ${i.spec}`),
  );
}

describe('layers', () => {
  it('finds the imports it checks', () => {
    expect(importedDirs('app/service.ts').map((i) => i.dir)).toEqual(expect.arrayContaining(['src', 'workers']));
  });

  it('src/ imports neither workers/ nor app/', () => {
    expect(violations('src', ['workers', 'app'])).toEqual([]);
  });

  it('workers/ does not import app/', () => {
    expect(violations('workers', ['app'])).toEqual([]);
  });
});
