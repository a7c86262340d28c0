/**
 * How a resource URI an upstream does not list is matched against its RFC 6570 templates: only
 * in one strict normal form (no second spelling a careless server reads as the same resource),
 * and by an automaton that costs time linear in the URI, bounded per call, where a backtracking
 * regular expression would not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  compileTemplate,
  inNormalForm,
  matchesAnyTemplate,
  MATCH_BUDGET,
  type CompiledTemplate,
} from '../../../src/gateway/mcp/catalog/index.js';

function compiled(...templates: string[]): CompiledTemplate[] {
  return templates.map((template) => {
    const result = compileTemplate(template);
    assert.ok(result, template);
    return result;
  });
}

describe('resource URIs in normal form', () => {
  it('takes plain URIs, upper-case escapes of bytes that need one, non-ASCII as UTF-8 escapes', () => {
    for (const uri of [
      'notes://team/plan',
      'file:///srv/data/report.csv',
      'notes://items/caf%C3%A9',
      'notes://items/a%20b',
      'db://orders?id=7&x=y',
      'notes://items/a..b',
      'notes://items/.hidden',
    ]) {
      assert.equal(inNormalForm(uri), true, uri);
    }
  });

  it('refuses every second spelling', () => {
    for (const uri of [
      '',
      'no-scheme',
      'NOTES://team/plan',
      'notes://TEAM/plan',
      'notes://team/%70lan', // an escaped unreserved character
      'notes://team/%2e%2e/secret',
      'notes://team/a%2Fb', // an escaped slash
      'notes://team/a%5Cb',
      'notes://team/%252F', // a double escape
      'notes://team/caf%c3%a9', // lower-case hex
      'notes://team/%zz',
      'notes://team/%4',
      'notes://team/%00',
      'notes://team/x/../plan',
      'notes://team/./plan',
      'notes://team/..',
      'notes://team/..;jsessionid=1/plan',
      'notes://team/plan ',
      'notes://team/pl an',
      'notes://team\\plan',
      'notes://team/ümlaut',
      'notes://team/\u200bplan',
      `notes://team/${'a'.repeat(2048)}`,
    ]) {
      assert.equal(inNormalForm(uri), false, JSON.stringify(uri));
    }
  });
});

describe('resource templates', () => {
  it('matches what RFC 6570 expansion can produce, and nothing else', () => {
    const cases: [string, string, boolean][] = [
      ['notes://items/{id}', 'notes://items/42', true],
      ['notes://items/{id}', 'notes://items/', true],
      ['notes://items/{id}', 'notes://items/a/b', false],
      ['notes://items/{id}', 'notes://items/a?b', false],
      ['notes://items/{id}', 'notes://other/42', false],
      ['notes://items/{id}/view', 'notes://items/42/view', true],
      ['notes://items/{id}/view', 'notes://items/42/edit', false],
      ['repo://{owner}/{repo}/issues/{n}', 'repo://acme/web/issues/7', true],
      ['repo://{owner}/{repo}/issues/{n}', 'repo://acme/issues/7', false],
      ['files://{+path}', 'files://srv/a/b.txt', true],
      ['files://root{/segments*}', 'files://root/a/b', true],
      ['files://root{/segments*}', 'files://root', true],
      ['search://q{?term,limit}', 'search://q?term=x&limit=5', true],
      ['search://q{?term,limit}', 'search://q/x', false],
      ['doc://x{#section}', 'doc://x#intro', true],
      ['doc://x{.ext}', 'doc://x.json', true],
      ['m://a{;p,q}', 'm://a;p=1;q=2', true],
      ['m://{a}{b}{c}', 'm://abc', true],
      ['static://fixed', 'static://fixed', true],
      ['static://fixed', 'static://fixed2', false],
    ];
    for (const [template, uri, expected] of cases) {
      assert.equal(matchesAnyTemplate(compiled(template), uri), expected, `${template} ~ ${uri}`);
    }
  });

  it('reads no malformed template, nor one with a reserved operator or over its length', () => {
    for (const template of [
      'notes://{id',
      'notes://id}',
      'notes://{}',
      'notes://{=id}',
      'notes://{!id}',
      'notes://{|id}',
      'notes://{id:0}',
      'notes://{i d}',
      'notes://ümlaut/{id}',
      `notes://${'a'.repeat(600)}/{id}`,
    ]) {
      assert.equal(compileTemplate(template), undefined, template);
    }
  });

  it('costs linear time on the worst input, within its budget per call', () => {
    // Many expressions whose classes overlap, and a URI that almost matches: a backtracking
    // matcher ((.+)(.+)… per expression) takes time polynomial in the URI here.
    const hostile = compiled(
      ...Array.from(
        { length: 100 },
        (_, index) => `x://{+a}{+b}{+c}{+d}{+e}{+f}{+g}{+h}{+i}{+j}/end${index}`,
      ),
    );
    const uri = `x://${'a/'.repeat(1020)}!`;
    const started = performance.now();
    assert.equal(matchesAnyTemplate(hostile, uri), false);
    const elapsed = performance.now() - started;
    // A million automaton steps at most: milliseconds, where the backtracking form takes minutes.
    assert.ok(elapsed < 1_000, `${elapsed} ms`);
    // The budget holds whatever the templates: a match found past it does not count.
    assert.equal(matchesAnyTemplate(compiled('x://{+a}'), `x://${'a'.repeat(100)}`, 50), false);
    assert.equal(matchesAnyTemplate(compiled('x://{+a}'), `x://${'a'.repeat(100)}`), true);
    assert.ok(MATCH_BUDGET >= 100_000);
  });
});
