/**
 * The house rules, checked over the source itself (as the MCP SDK's barrel test checks its door):
 *
 * - across folders of `src/`, a file imports only another folder's `index.ts`, anything in
 *   `src/shared/`, and (as types) the store's table shapes in `src/store/schema.ts`;
 * - no two folders import each other;
 * - every table belongs to exactly one folder, and only that folder names it in a query; the
 *   others reach it through the owner's read port.
 *
 * A rule broken where the fix belongs to other work in flight is listed in PENDING with the
 * reason; the test fails on any violation not listed, and on any listed one that is gone, so
 * the list only shrinks.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');
const SRC = path.join(ROOT, 'src');

/** Who owns each table of `Database` (src/store/schema.ts). */
const TABLE_OWNERS: Readonly<Record<string, string>> = {
  teams: 'registry',
  people: 'registry',
  services: 'registry',
  identities: 'registry',
  api_keys: 'access',
  audit_events: 'audit',
  meta: 'store',
  signing_keys: 'signing',
  join_tokens: 'attestation',
  federation_trusts: 'attestation',
  tasks: 'tasks',
  tokens: 'tokens',
  revocations: 'revocation',
  policy_versions: 'policy',
  secrets: 'secrets',
  secret_versions: 'secrets',
  upstreams: 'upstreams',
  egress_allowlist: 'upstreams',
  mcp_sessions: 'gateway',
  mcp_session_messages: 'gateway',
  tool_pin_upstreams: 'toolpins',
  tool_pins: 'toolpins',
};

/**
 * Known violations, each waiting on a change to a file that other work of issue 10 is rewriting
 * at the same time. Remove an entry when its fix lands; the test then holds the line.
 */
const PENDING: Readonly<Record<string, string>> = {};

/**
 * Modules that import nothing of Steward, declaring constants and types only, that the CLI may
 * import instead of their folder's index: the index would load the store and both database
 * drivers into every CLI run. Each is also exported by its folder's index.
 */
const LIGHT_DOORS: readonly string[] = ['registry/vocabulary.ts', 'tokens/claims.ts'];

interface Import {
  readonly from: string;
  readonly to: string;
  readonly typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

const relative = (file: string) => path.relative(SRC, file).split(path.sep).join('/');
const folderOf = (file: string) => relative(file).split('/')[0] ?? '';

/**
 * Every `import … from`, `export … from` and `import('…')` of `file` that names another file of
 * src/ (a dynamic import loads lazily, but it is an edge all the same).
 */
function importsOf(file: string, text: string): Import[] {
  const found: Import[] = [];
  const resolve = (specifier: string) =>
    relative(path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts')));
  const staticPattern = /^\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*'(\.[^']+)'/gms;
  for (const match of text.matchAll(staticPattern)) {
    const typeOnly =
      match[2] !== undefined || /^\{\s*(type\s+[^,}]+,?\s*)+\}$/.test(match[3] ?? '');
    found.push({ from: relative(file), to: resolve(match[4] ?? ''), typeOnly });
  }
  for (const match of text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)) {
    found.push({ from: relative(file), to: resolve(match[1] ?? ''), typeOnly: false });
  }
  return found;
}

/** The tables `text` names in a query: `selectFrom('x')`, `innerJoin('x', …)` and the like. */
function tablesOf(text: string): Set<string> {
  const pattern =
    /\.(?:selectFrom|insertInto|updateTable|deleteFrom|innerJoin|leftJoin|rightJoin|fullJoin)\(\s*'([a-z_]+)(?:\s+as\s+[a-z_]+)?'/g;
  return new Set([...text.matchAll(pattern)].map((match) => match[1] ?? ''));
}

const files = sourceFiles(SRC).map((file) => ({ file, text: readFileSync(file, 'utf8') }));
const imports = files.flatMap(({ file, text }) => importsOf(file, text));

function deepImports(): string[] {
  const out: string[] = [];
  for (const { from, to, typeOnly } of imports) {
    const [fromFolder] = from.split('/');
    const [toFolder] = to.split('/');
    if (fromFolder === toFolder || toFolder === 'shared') continue;
    if (to === `${toFolder}/index.ts` || LIGHT_DOORS.includes(to)) continue;
    if (to === 'store/schema.ts' && typeOnly) continue;
    out.push(`deep import: ${from} -> ${to}`);
  }
  return out;
}

function twoWayEdges(): string[] {
  const edges = new Map<string, Set<string>>();
  for (const { from, to } of imports) {
    const [a = '', b = ''] = [from.split('/')[0], to.split('/')[0]];
    if (a === b) continue;
    edges.set(a, (edges.get(a) ?? new Set()).add(b));
  }
  const out: string[] = [];
  for (const [a, targets] of edges) {
    for (const b of targets) {
      if (a < b && edges.get(b)?.has(a)) out.push(`two-way edge: ${a} <-> ${b}`);
    }
  }
  return out;
}

function foreignTables(): string[] {
  const out: string[] = [];
  for (const { file, text } of files) {
    const folder = folderOf(file);
    for (const table of tablesOf(text)) {
      const owner = TABLE_OWNERS[table];
      if (owner === undefined) out.push(`unowned table: ${table} in ${relative(file)}`);
      else if (owner !== folder)
        out.push(`foreign table: ${relative(file)} queries ${table} (${owner}'s)`);
    }
  }
  return out;
}

/** Fails on what is neither allowed nor pending, and on pending entries that no longer occur. */
function holdTheLine(t: TestContext, kind: string, found: readonly string[]): void {
  const pending = Object.keys(PENDING).filter((entry) => entry.startsWith(`${kind}:`));
  const unexpected = found.filter((entry) => PENDING[entry] === undefined);
  const stale = pending.filter((entry) => !found.includes(entry));
  for (const entry of pending) t.diagnostic(`pending ${entry}: ${PENDING[entry] ?? ''}`);
  assert.deepEqual(unexpected, [], `${kind}s that break the house rules`);
  assert.deepEqual(stale, [], `${kind}s listed as pending that are gone: remove them from PENDING`);
}

describe('the import graph of src/', () => {
  it('sees the tree: every folder that others import has a door (src/shared/ is open)', () => {
    const imported = new Set(
      imports
        .map(({ from, to }) => [from.split('/')[0], to.split('/')[0] ?? ''] as const)
        .filter(([fromFolder, toFolder]) => fromFolder !== toFolder)
        .map(([, toFolder]) => toFolder),
    );
    assert.ok(imported.size > 10 && imports.length > 100, 'the walk found the sources');
    for (const folder of [...imported].filter((folder) => folder !== 'shared')) {
      assert.ok(
        files.some(({ file }) => relative(file) === `${folder}/index.ts`),
        `src/${folder} has an index.ts`,
      );
    }
  });

  it('keeps the light doors light: they import nothing of Steward', () => {
    for (const door of LIGHT_DOORS) {
      assert.deepEqual(
        imports.filter(({ from }) => from === door),
        [],
        `${door} imports nothing`,
      );
    }
  });

  it('crosses folders only through index.ts, src/shared/ and the schema types', (t) => {
    holdTheLine(t, 'deep import', deepImports());
  });

  it('has no two folders importing each other', (t) => {
    holdTheLine(t, 'two-way edge', twoWayEdges());
  });
});

describe('table ownership', () => {
  it('gives every table of the schema exactly one owner folder', () => {
    const schema = readFileSync(path.join(SRC, 'store/schema.ts'), 'utf8');
    const body = /export interface Database \{([^}]*)\}/.exec(schema)?.[1] ?? '';
    const tables = [...body.matchAll(/^\s*([a-z_]+):/gm)].map((match) => match[1]);
    assert.ok(tables.length > 10, 'the Database interface was read');
    assert.deepEqual([...tables].sort(), Object.keys(TABLE_OWNERS).sort());
  });

  it('lets only the owner folder name a table in a query', (t) => {
    holdTheLine(t, 'foreign table', foreignTables());
    assert.deepEqual(
      foreignTables().filter((entry) => entry.startsWith('unowned table')),
      [],
      'every queried table has an owner',
    );
  });

  it('recognises a foreign query and a deep import (the checks can fail)', () => {
    assert.deepEqual(
      [...tablesOf("db.selectFrom('tokens').innerJoin('identities as i', 'i.id', 'x')")],
      ['tokens', 'identities'],
    );
    const sample = importsOf(
      path.join(SRC, 'tokens/example.ts'),
      "import type { Row } from '../store/schema.js';\nimport { x } from '../registry/services.js';\nconst y = await import('../tasks/tasks.js');\n",
    );
    assert.deepEqual(sample, [
      { from: 'tokens/example.ts', to: 'store/schema.ts', typeOnly: true },
      { from: 'tokens/example.ts', to: 'registry/services.ts', typeOnly: false },
      { from: 'tokens/example.ts', to: 'tasks/tasks.ts', typeOnly: false },
    ]);
  });
});
