import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis, Cluster } from 'ioredis';

export const SCRIPTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../redis');

export interface ScriptSource {
  /** camelCase command name, e.g. `ingestCommit` for `ingest-commit.lua`. */
  name: string;
  /** From the file name suffix `-<n>.lua`; undefined when the caller passes the key count. */
  numberOfKeys?: number;
  lua: string;
}

function expandIncludes(lua: string, seen = new Set<string>()): string {
  return lua.replace(/^--\s*@include\s+"([a-z0-9-]+)"\s*$/gm, (_m, name: string) => {
    if (seen.has(name)) return '';
    seen.add(name);
    return expandIncludes(readFileSync(path.join(SCRIPTS_DIR, 'includes', `${name}.lua`), 'utf8'), seen);
  });
}

/** Every `redis/<name>[-<numKeys>].lua`, with `-- @include "x"` lines expanded from `redis/includes/`. */
export function loadScripts(dir = SCRIPTS_DIR): ScriptSource[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.lua'))
    .map((f) => {
      const m = /^([a-z0-9-]+?)(?:-(\d+))?\.lua$/.exec(f);
      if (!m) throw new Error(`bad script file name ${f}`);
      const name = m[1]!.replace(/-([a-z0-9])/g, (_x, c: string) => c.toUpperCase());
      return { name, numberOfKeys: m[2] ? Number(m[2]) : undefined, lua: expandIncludes(readFileSync(path.join(dir, f), 'utf8')) };
    });
}

/** Register every script as a command (EVALSHA with a fallback to EVAL on NOSCRIPT). */
export function defineScripts(client: Redis | Cluster): void {
  for (const s of loadScripts()) {
    client.defineCommand(s.name, s.numberOfKeys === undefined ? { lua: s.lua } : { lua: s.lua, numberOfKeys: s.numberOfKeys });
  }
}

/** Call a script registered by {@link defineScripts}. */
export function callScript(client: Redis | Cluster, name: string, keys: string[], args: (string | number)[], numberOfKeysInName = true): Promise<unknown> {
  const fn = (client as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[name];
  if (typeof fn !== 'function') throw new Error(`redis script ${name} is not defined`);
  return numberOfKeysInName ? fn.call(client, ...keys, ...args) : fn.call(client, keys.length, ...keys, ...args);
}
