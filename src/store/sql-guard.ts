/**
 * What a user of the store port may run, decided by ClickHouse's own parser rather than by
 * matching SQL text (comments, case, quoting and escapes all defeat text matching):
 *
 * 1. `formatQuery({q:String})` parses the client's SQL, passed as a value so it never runs, and
 *    refuses anything but exactly one statement. Its canonical text (no comments, escapes
 *    decoded) is what is checked and then executed, so the checked query is the one that runs.
 * 2. `EXPLAIN AST <canonical>` (which never executes its query, nor honours its FORMAT or
 *    INTO OUTFILE) gives the syntax tree, walked line by line, failing closed on any line it
 *    cannot read:
 *    - the statement kind must be one the user may run (reads; the service's user also writes,
 *      runs DDL, kills its mutations and the two SYSTEM commands its erasure job needs; never SET,
 *      USE, other SYSTEM commands, ATTACH, BACKUP, grants or users);
 *    - no function node anywhere may name a table function, table engine or database engine that
 *      reaches files, processes or the network (the names come from ClickHouse's own
 *      `system.table_functions`, `system.table_engines` and `system.database_engines`, minus an
 *      allow-list of local ones), nor the scalar `file()`;
 *    - no `INTO OUTFILE` / `FROM INFILE` (a literal directly under a SELECT or INSERT node), no
 *      dictionary definitions (their sources read files, run programs, open connections);
 *    - where the tree holds a SETTINGS clause, its names (read from the canonical text) pass
 *      {@link checkSettingName}.
 */
import { storeError } from './store-errors.js';

/** `read`: Grafana's user and any GET (ClickHouse's HTTP GET is read-only too). */
export type StoreAccess = 'full' | 'read';

/** Runs one statement of the store's own on its private session and returns JSONEachRow text. */
export type GuardRunner = (sql: string, params: Record<string, unknown>) => Promise<string>;

const READ_ROOTS = /^(?:SelectWithUnionQuery|SelectIntersectExceptQuery|Show\w*|Exists\w*|DescribeQuery|Explain)$/;
const WRITE_ROOTS =
  /^(?:InsertQuery|CreateQuery|AlterQuery|DropQuery|Rename|TruncateQuery|OptimizeQuery|DeleteQuery|UpdateQuery|CheckQuery|KillQueryQuery|SYSTEM)$/;
/** The SYSTEM commands the service's own jobs run (erasure: cleanup of old parts, replica sync). */
const SERVICE_SYSTEM = /^SYSTEM (?:START CLEANUP|SYNC REPLICA) /;

/** Table functions that only compute or read this store's own tables. */
const LOCAL_TABLE_FUNCTIONS = [
  'numbers',
  'numbers_mt',
  'zeros',
  'zeros_mt',
  'values',
  'generate_series',
  'generateseries',
  'generaterandom',
  'null',
  'view',
  'merge',
  'format',
  'primes',
];
/** Table and database engines that keep data inside the store's own data path. */
const LOCAL_ENGINES = [
  'memory',
  'null',
  'log',
  'tinylog',
  'stripelog',
  'set',
  'join',
  'buffer',
  'merge',
  'generaterandom',
  'view',
  'materializedview',
  'atomic',
  'ordinary',
  'replicated',
  'lazy',
];
/** Scalar functions that read files (`file`, a CatBoost model path) or inspect the binary. */
const OUTSIDE_SCALARS = ['file', 'catboostevaluate', 'modelevaluate', 'addresstosymbol', 'addresstoline', 'addresstolinewithinlines', 'demangle'];

/**
 * Settings that name files (format schemas and templates, error logs), URLs or disks, or that
 * lift read-only mode. Checked on URL parameters and on SETTINGS clauses alike.
 */
const OUTSIDE_SETTING = /schema|template|path|file|url|disk|polic|readonly|allow_ddl|introspection/i;
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export function checkSettingName(name: string): void {
  if (!SETTING_NAME.test(name)) throw storeError(115, 'UNKNOWN_SETTING', `Unknown setting ${name.slice(0, 64)}`);
  if (OUTSIDE_SETTING.test(name)) throw storeError(497, 'ACCESS_DENIED', `setting ${name} is not allowed through the store port`);
}

interface Token {
  kind: 'word' | 'quoted' | 'string' | 'punct' | 'other';
  text: string;
}

/** Tokens of a canonical (formatQuery) text: strings and quoted names are kept whole. */
function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '`' || c === '"') {
      let j = i + 1;
      let text = '';
      while (j < sql.length && sql[j] !== c) {
        if (sql[j] === '\\' && j + 1 < sql.length) j++;
        text += sql[j];
        j++;
      }
      out.push({ kind: c === "'" ? 'string' : 'quoted', text });
      i = j + 1;
    } else if (/[A-Za-z0-9_]/.test(c)) {
      const m = /^[A-Za-z0-9_.]+/.exec(sql.slice(i))!;
      const text = /^[A-Za-z_]/.test(c) ? /^[A-Za-z0-9_]+/.exec(m[0])![0] : m[0];
      out.push({ kind: /^[A-Za-z_]/.test(c) ? 'word' : 'other', text });
      i += text.length;
    } else {
      out.push({ kind: '()[]{},='.includes(c) ? 'punct' : 'other', text: c });
      i++;
    }
  }
  return out;
}

/**
 * The names of every `SETTINGS a = …, b = …` (and `MODIFY SETTING …`) clause of a canonical
 * text: the first name after the keyword and each one after a comma outside brackets. Erring
 * wide is fine (an extra name is only checked too), missing one is not, so a value runs to the
 * next such comma.
 */
export function settingNames(canonical: string): string[] {
  const t = tokenize(canonical);
  const names: string[] = [];
  const isPunct = (x: Token | undefined, p: string) => x?.kind === 'punct' && x.text === p;
  for (let i = 0; i < t.length; i++) {
    if (t[i]!.kind !== 'word' || !/^SETTINGS?$/i.test(t[i]!.text)) continue;
    let j = i + 1;
    for (;;) {
      const name = t[j];
      if (!name || (name.kind !== 'word' && name.kind !== 'quoted') || !isPunct(t[j + 1], '=')) break;
      names.push(name.text);
      let depth = 0;
      for (j += 2; j < t.length; j++) {
        const x = t[j]!;
        if (x.kind !== 'punct') continue;
        if ('([{'.includes(x.text)) depth++;
        else if (')]}'.includes(x.text)) {
          if (depth === 0) break;
          depth--;
        } else if (depth === 0 && x.text === ',') break;
      }
      if (!isPunct(t[j], ',')) break;
      j++;
    }
  }
  return names;
}

/** `Function file (alias b) (children 1)`: the name is the first word after the node type. */
const FUNCTION_NODE = /^Function(?:WithKeyValueArguments)?\s+(\S+)/;

function refuse(message: string): never {
  throw storeError(497, 'ACCESS_DENIED', `${message}: not allowed through the store port`);
}

export class SqlGuard {
  /** Canonical text of queries already found allowed, by access and text (parameter values never change a verdict). */
  readonly #allowed = new Map<string, string>();

  private constructor(
    private readonly run: GuardRunner,
    private readonly outsideNames: ReadonlySet<string>,
  ) {}

  /** Reads the engine's own lists of table functions and engines (fails closed if it cannot). */
  static async create(run: GuardRunner): Promise<SqlGuard> {
    const text = await run(
      `SELECT lower(name) AS n FROM system.table_functions
       UNION ALL SELECT lower(name) FROM system.table_engines
       UNION ALL SELECT lower(name) FROM system.database_engines`,
      {},
    );
    const names = text
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { n: string }).n);
    if (!names.includes('file') || !names.includes('url')) throw new Error('store: could not read the engine list of table functions');
    const local = new Set([...LOCAL_TABLE_FUNCTIONS, ...LOCAL_ENGINES]);
    const outside = new Set(names.filter((n) => !local.has(n) && !n.endsWith('mergetree')));
    for (const n of OUTSIDE_SCALARS) outside.add(n);
    // AI functions call a model provider over the network.
    const ai = await run(`SELECT lower(name) AS n FROM system.functions WHERE match(name, '^ai[A-Z]')`, {});
    for (const l of ai.split('\n').filter(Boolean)) outside.add((JSON.parse(l) as { n: string }).n);
    return new SqlGuard(run, outside);
  }

  /** The canonical text to execute, or a ClickHouse-style refusal. */
  async check(sql: string, params: Record<string, unknown>, access: StoreAccess): Promise<string> {
    const key = `${access}\u0000${sql}`;
    const known = this.#allowed.get(key);
    if (known !== undefined) return known;
    const canonical = (JSON.parse((await this.run('SELECT formatQuery({__q:String}) AS q', { __q: sql })).trim()) as { q: string }).q;
    const rows = (await this.run(`EXPLAIN AST ${canonical}`, params)).split('\n').filter(Boolean);
    const lines = rows.map((r) => (JSON.parse(r) as { explain: string }).explain);
    this.#walk(lines, canonical, access);
    if (this.#allowed.size >= 1000) this.#allowed.delete(this.#allowed.keys().next().value!);
    this.#allowed.set(key, canonical);
    return canonical;
  }

  #walk(lines: string[], canonical: string, access: StoreAccess): void {
    if (!lines.length) refuse('an empty syntax tree');
    const stack: { depth: number; type: string }[] = [];
    let settingsNodes = 0;
    let insertHasSelect = false;
    for (const [i, line] of lines.entries()) {
      const m = /^( *)(\S[^\n]*)$/.exec(line);
      if (!m) refuse('an unreadable syntax tree');
      const depth = m[1]!.length;
      const text = m[2]!;
      if ((i === 0) !== (depth === 0)) refuse('more than one statement');
      while (stack.length && stack[stack.length - 1]!.depth >= depth) stack.pop();
      if (stack.length && depth !== stack[stack.length - 1]!.depth + 1) refuse('an unreadable syntax tree');
      const type = text.split(' ')[0]!;
      const parent = stack[stack.length - 1]?.type;
      if (i === 0) {
        if (WRITE_ROOTS.test(type)) {
          if (access === 'read') throw storeError(164, 'READONLY', `${type}: Cannot execute query in readonly mode`);
        } else if (!READ_ROOTS.test(type)) {
          refuse(`statement ${type === 'Set' ? 'SET' : type}`);
        }
      }
      const fn = FUNCTION_NODE.exec(text);
      if (fn && this.outsideNames.has(fn[1]!.toLowerCase())) refuse(`${fn[1]} (reaches files, programs or the network)`);
      if (type === 'Literal' && (parent === 'SelectWithUnionQuery' || parent === 'InsertQuery')) refuse('INTO OUTFILE / FROM INFILE');
      if (text.startsWith('Dictionary definition')) refuse('CREATE DICTIONARY');
      if (text === 'Set') settingsNodes++;
      if (parent === 'InsertQuery' && type === 'SelectWithUnionQuery') insertHasSelect = true;
      stack.push({ depth, type });
    }
    const root = lines[0]!.split(' ')[0];
    if (root === 'SYSTEM' && !SERVICE_SYSTEM.test(canonical)) refuse(`statement ${canonical.split(/\s+/).slice(0, 3).join(' ')}`);
    // INSERT … VALUES/FORMAT with rows inline: the rows are not in the tree (and `Values` would
    // evaluate expressions in them). Rows go in the request body, as clickhouse-js sends them.
    if (root === 'InsertQuery' && !insertHasSelect) refuse('INSERT with inline rows (send them in the request body)');
    if (settingsNodes) {
      const names = settingNames(canonical);
      if (!names.length) refuse('a SETTINGS clause that could not be read');
      for (const n of names) checkSettingName(n);
    }
  }
}
