/**
 * Bounds before anything is decided (issue 9, item 2): a call's arguments are bounded in keys per
 * object, entries, string length, total size and nesting before the scanner, the Cedar request
 * or the record read them, so one call cannot hold the event loop. The worst cases are timed
 * through the real gateway against a budget relative to a small call made in the same test, with
 * `/healthz` answering while they run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ARGUMENT_BOUNDS,
  checkArgumentBounds,
  checkJsonTextBounds,
} from '../../../src/gateway/index.js';
import { testDatabases } from '../../support/databases.js';
import { HTTP_UPSTREAM, MCP_UPSTREAM, startCoreGateway, type CoreGateway } from './fixture.js';

/** `{"a":{"a":…1…}}`, `levels` deep, built without recursion. */
function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

describe('argument bounds', () => {
  test('arguments within every bound pass', () => {
    const atBounds = {
      ...Object.fromEntries(
        Array.from({ length: ARGUMENT_BOUNDS.maxKeysPerObject - 2 }, (_, i) => [`k${i}`, i]),
      ),
      long: 'x'.repeat(ARGUMENT_BOUNDS.maxStringLength),
      deep: nested(ARGUMENT_BOUNDS.maxDepth - 1),
    };
    assert.equal(checkArgumentBounds(atBounds), undefined);
    assert.equal(checkArgumentBounds({}), undefined);
  });

  test('each bound crossed is refused with its code', () => {
    const cases: [unknown, string, RegExp][] = [
      [
        Object.fromEntries(
          Array.from({ length: ARGUMENT_BOUNDS.maxKeysPerObject + 1 }, (_, i) => [`k${i}`, i]),
        ),
        'payload_too_large',
        /more than 512 keys/,
      ],
      [
        { list: Array.from({ length: ARGUMENT_BOUNDS.maxEntries }, () => 0), one: 1 },
        'payload_too_large',
        /more than 10000 keys and items/,
      ],
      [{ s: 'x'.repeat(ARGUMENT_BOUNDS.maxStringLength + 1) }, 'payload_too_large', /a string/],
      [{ ['k'.repeat(ARGUMENT_BOUNDS.maxStringLength + 1)]: 1 }, 'payload_too_large', /a key/],
      [
        {
          a: 'x'.repeat(200_000),
          b: 'x'.repeat(200_000),
          c: 'x'.repeat(200_000),
          d: 'x'.repeat(200_000),
          e: 'x'.repeat(200_000),
          f: 'x'.repeat(200_000),
        },
        'payload_too_large',
        /characters in all/,
      ],
      [{ deep: nested(ARGUMENT_BOUNDS.maxDepth) }, 'arguments_too_deep', /deeper than 32/],
      [
        { deep: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]] },
        'arguments_too_deep',
        /deeper/,
      ],
    ];
    for (const [value, code, message] of cases) {
      const violation = checkArgumentBounds(value);
      assert.equal(violation?.code, code);
      assert.match(violation.message, message);
    }
  });

  test('a value nested 200,000 deep is refused without recursing', () => {
    assert.equal(checkArgumentBounds(nested(200_000))?.code, 'arguments_too_deep');
  });

  test('JSON text is bounded before it is parsed, strings aside', () => {
    const bounds = { maxDepth: 3, maxKeysPerObject: 2, maxEntries: 5 };
    const code = (text: string) => checkJsonTextBounds(text, bounds)?.code;
    assert.equal(code('{"a":[1,{"b":2}]}'), undefined);
    assert.equal(code(' { "a" : [ ] , "b" : { } } '), undefined);
    assert.equal(code('{"a":[1,{"b":[2]}]}'), 'arguments_too_deep');
    assert.equal(code('{"a":1,"b":2,"c":3}'), 'payload_too_large');
    assert.equal(code('[1,2,3,4,5,6]'), 'payload_too_large');
    assert.equal(code('[1,2,3,4,5]'), undefined);
    // Brackets, colons and commas in strings (escaped quotes too) are not structure.
    assert.equal(code(`{"s":"${'[{:,'.repeat(100)}","t":"\\"{{{{:,"}`), undefined);
    assert.equal(code('not json at all'), undefined);
    assert.equal(
      checkJsonTextBounds('['.repeat(1_000_000), ARGUMENT_BOUNDS)?.code,
      'arguments_too_deep',
    );
  });
});

/** One HTTP request and how long its answer took. */
async function timed(
  send: () => Promise<Response>,
): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  const response = await send();
  const body = await response.text();
  return { status: response.status, body, ms: performance.now() - started };
}

/** `work`, while `/healthz` is asked again and again: the slowest health answer meanwhile. */
async function withHealthProbes<T>(
  g: CoreGateway,
  work: () => Promise<T>,
): Promise<{ result: T; slowestHealthMs: number; probes: number }> {
  let done = false;
  let slowest = 0;
  let probes = 0;
  const probing = (async () => {
    while (!done) {
      const { status, ms } = await timed(() => fetch(`${g.url}/healthz`));
      assert.equal(status, 200);
      slowest = Math.max(slowest, ms);
      probes += 1;
    }
  })();
  // The first probe goes out with the work, not after it.
  await new Promise((resolve) => setImmediate(resolve));
  try {
    return { result: await work(), slowestHealthMs: slowest, probes };
  } finally {
    done = true;
    await probing;
  }
}

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

for (const database of await testDatabases()) {
  describe(`the worst calls through the real gateway (${database.name})`, () => {
    let g: CoreGateway;
    let mcpToken: string;
    let httpToken: string;
    before(async () => {
      g = await startCoreGateway(database);
      mcpToken = await g.token(MCP_UPSTREAM);
      httpToken = await g.token(HTTP_UPSTREAM);
    });
    after(() => g.close());

    const toolCall = (args: unknown): string =>
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'tools/call',
        params: { name: 'lookup_order', arguments: args },
      });
    const mcp = (body: string): Promise<Response> =>
      fetch(`${g.url}/gw/mcp/${MCP_UPSTREAM}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${mcpToken}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          'mcp-protocol-version': '2025-06-18',
        },
        body,
      });
    const refusalCode = (body: string): unknown =>
      (JSON.parse(body) as { error?: { data?: { code?: string } } }).error?.data?.code;

    test('40,000 keys, deep nesting and a call at every bound cost a small multiple of a small call', async (t) => {
      const small = toolCall({ id: 'A-1' });
      for (let i = 0; i < 3; i++) assert.equal((await timed(() => mcp(small))).status, 200);
      const smallTimes: number[] = [];
      for (let i = 0; i < 7; i++) {
        const answer = await timed(() => mcp(small));
        assert.equal(answer.status, 200);
        smallTimes.push(answer.ms);
      }
      const smallMs = median(smallTimes);
      const budgetMs = 40 * smallMs;

      const wide = toolCall(
        Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`key${i}`, 'value'])),
      );
      assert.ok(wide.length > 500_000);
      const deepObject = `${'{"a":'.repeat(150_000)}1${'}'.repeat(150_000)}`;
      const deep = toolCall(null).replace('null', deepObject);
      const deepArray = toolCall(null).replace(
        'null',
        `${'['.repeat(450_000)}${']'.repeat(450_000)}`,
      );
      // The largest call the bounds let through: it is decided, recorded and forwarded.
      const atBounds = toolCall(
        Object.fromEntries(
          Array.from({ length: ARGUMENT_BOUNDS.maxKeysPerObject }, (_, i) => [
            `key${i}`,
            `${i} `.repeat(300),
          ]),
        ),
      );
      const cases = [
        { name: '40,000 keys', body: wide, status: 413, code: 'payload_too_large' },
        { name: '150,000 nested objects', body: deep, status: 400, code: 'arguments_too_deep' },
        { name: '450,000 nested arrays', body: deepArray, status: 400, code: 'arguments_too_deep' },
        { name: 'every bound at once', body: atBounds, status: 200, code: undefined },
      ];
      const reached = g.mcp.toolCalls.length;
      for (const { name, body, status, code } of cases) {
        const { result, slowestHealthMs, probes } = await withHealthProbes(g, () =>
          timed(() => mcp(body)),
        );
        t.diagnostic(
          `${name}: ${result.ms.toFixed(0)} ms (small call ${smallMs.toFixed(1)} ms), slowest /healthz ${slowestHealthMs.toFixed(0)} ms of ${probes}`,
        );
        assert.equal(result.status, status, `${name}: ${result.body.slice(0, 300)}`);
        assert.equal(refusalCode(result.body), code, name);
        assert.ok(
          result.ms <= budgetMs,
          `${name}: ${result.ms.toFixed(0)} ms, budget ${budgetMs.toFixed(0)} ms (40 × ${smallMs.toFixed(1)})`,
        );
        assert.ok(probes > 0);
        assert.ok(
          slowestHealthMs <= budgetMs,
          `${name}: /healthz took ${slowestHealthMs.toFixed(0)} ms meanwhile`,
        );
      }
      // Only the call within the bounds reached the tool.
      assert.equal(g.mcp.toolCalls.length, reached + 1);
    });

    test('an HTTP call with thousands of query parameters is refused before its decision', async () => {
      const seen = g.http.received.length;
      const query = Array.from({ length: 2_000 }, (_, i) => `p${i}=1`).join('&');
      const answer = await fetch(`${g.url}/gw/http/${HTTP_UPSTREAM}/search?${query}`, {
        headers: { authorization: `Bearer ${httpToken}` },
      });
      assert.equal(answer.status, 413);
      const problem = (await answer.json()) as { code: string; detail: string };
      assert.equal(problem.code, 'payload_too_large');
      assert.match(problem.detail, /more than 512 keys/);
      assert.equal(g.http.received.length, seen);
    });
  });
}
