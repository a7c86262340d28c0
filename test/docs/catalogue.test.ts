/**
 * Every code a client can receive is documented, and nothing documented is missing from the
 * code, as fastify's errors test holds `lib/errors.js` to `docs/Reference/Errors.md`: each
 * `ErrorCode` of `ERROR_CATALOG` in docs/api.md's error table with its status, each gateway
 * refusal of `REFUSAL_CATALOG` in its "Gateway refusals" table with its status and JSON-RPC code,
 * and each audit event type in docs/audit-events.md, each of which some code writes.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AUDIT_EVENT_TYPES } from '../../src/audit/index.js';
import { ERROR_CATALOG } from '../../src/errors/index.js';
import { REFUSAL_CATALOG } from '../../src/gateway/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** The `.ts` files under `dir` (relative to the root), recursively. */
function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(dir, file));
}

/**
 * The rows of the first table under the heading `heading` of `page` (or of the page): the cells
 * of each line whose first cell is a code in backticks, keyed by that code, and the codes listed
 * twice.
 */
function table(page: string, heading?: string): { rows: Map<string, string[]>; twice: string[] } {
  const lines = read(page).split('\n');
  const start = heading === undefined ? 0 : lines.indexOf(heading);
  assert.ok(start >= 0, `${page} has no heading "${heading}"`);
  const rows = new Map<string, string[]>();
  const twice: string[] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (heading !== undefined && line.startsWith('#')) break;
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    const code = /^`([a-z_]+(?:\.[a-z_]+)?)`$/.exec(cells[0] ?? '')?.[1];
    if (code === undefined) continue;
    if (rows.has(code)) twice.push(code);
    rows.set(code, cells.slice(1));
  }
  return { rows, twice };
}

/** What differs between the documented codes and the code's, both ways. */
function difference(documented: Iterable<string>, declared: Iterable<string>) {
  const docs = new Set(documented);
  const code = new Set(declared);
  return {
    undocumented: [...code].filter((name) => !docs.has(name)).sort(),
    notInCode: [...docs].filter((name) => !code.has(name)).sort(),
  };
}

describe('the documented codes are the code', () => {
  it('docs/api.md lists every ErrorCode of ERROR_CATALOG with its status, and no other', () => {
    const { rows, twice } = table('docs/api.md', '### Errors');
    assert.ok(rows.size > 20, `found only ${rows.size} error codes: is the parser blind?`);
    assert.deepEqual(twice, [], 'a code is listed twice');
    assert.deepEqual(difference(rows.keys(), Object.keys(ERROR_CATALOG)), {
      undocumented: [],
      notInCode: [],
    });
    const wrong = Object.entries(ERROR_CATALOG)
      .filter(([code, { status }]) => rows.get(code)?.[0] !== String(status))
      .map(([code, { status }]) => `${code}: documented ${rows.get(code)?.[0]}, is ${status}`);
    assert.deepEqual(wrong, []);
  });

  it('docs/api.md lists every gateway refusal with its status and JSON-RPC code, and no other', () => {
    const { rows, twice } = table('docs/api.md', '### Gateway refusals');
    assert.ok(rows.size > 10, `found only ${rows.size} refusals: is the parser blind?`);
    assert.deepEqual(twice, [], 'a refusal is listed twice');
    assert.deepEqual(difference(rows.keys(), Object.keys(REFUSAL_CATALOG)), {
      undocumented: [],
      notInCode: [],
    });
    const wrong = Object.entries(REFUSAL_CATALOG)
      .filter(([code, { status, jsonRpc }]) => {
        const [documentedStatus, documentedJsonRpc] = rows.get(code) ?? [];
        return documentedStatus !== String(status) || documentedJsonRpc !== String(jsonRpc);
      })
      .map(([code, { status, jsonRpc }]) => {
        const [documentedStatus, documentedJsonRpc] = rows.get(code) ?? [];
        return `${code}: documented ${documentedStatus} ${documentedJsonRpc}, is ${status} ${jsonRpc}`;
      });
    assert.deepEqual(wrong, []);
  });

  it('no two refusals share a JSON-RPC code, so a client can tell them apart', () => {
    const numbers = Object.values(REFUSAL_CATALOG).map(({ jsonRpc }) => jsonRpc);
    assert.equal(new Set(numbers).size, numbers.length);
  });

  it('the table reader finds a missing, an extra and a wrong row', () => {
    // Held against a table written here, so that a blind reader cannot pass the tests above.
    const rows = new Map([
      ['forbidden', ['403']],
      ['teapot', ['418']],
    ]);
    assert.deepEqual(difference(rows.keys(), ['forbidden', 'not_found']), {
      undocumented: ['not_found'],
      notInCode: ['teapot'],
    });
    const { rows: refusals } = table('docs/api.md', '### Gateway refusals');
    assert.deepEqual(refusals.get('unauthenticated')?.slice(0, 2), ['401', '-32010']);
  });

  describe('audit event types', () => {
    const { rows, twice } = table('docs/audit-events.md');

    it('docs/audit-events.md lists exactly the types of AUDIT_EVENT_TYPES, each once', () => {
      assert.ok(rows.size > 30, `found only ${rows.size} event types: is the parser blind?`);
      assert.deepEqual(twice, [], 'a type is listed twice');
      assert.deepEqual(difference(rows.keys(), AUDIT_EVENT_TYPES), {
        undocumented: [],
        notInCode: [],
      });
    });

    it('every listed type is written somewhere in src/', () => {
      // The type system checks the other way round: writers can only name listed types.
      const code = sources('src')
        .filter((file) => !file.endsWith(path.join('audit', 'event-types.ts')))
        .map(read)
        .join('\n');
      const unwritten = AUDIT_EVENT_TYPES.filter((type) => {
        const family = type.split('.')[0] ?? '';
        // Written by name, or by a family's template (`revocation.${entry.kind}`).
        return !code.includes(`'${type}'`) && !code.includes(`\`${family}.\${`);
      });
      assert.deepEqual(unwritten, []);
    });
  });
});
