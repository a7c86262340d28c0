/**
 * Cedar's integration tests are optional data beside the checkout (issue 9, fresh clone): without
 * them `npm test` was red (the corpus suite read a missing file) and the handwritten suite said
 * `skipped 0`. The suites that need them are run here as the test runner runs them, pointed at a
 * folder that does not exist: every such test is skipped and counted, with the reason, and under
 * CI=true every one fails instead.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SUITES = [
  'test/policy/engine/cedar-handwritten.test.ts',
  'test/policy/conformance/corpus.test.ts',
];

/** The runner's TAP summary (`# pass 0`, `# skipped 3`, …) of the suites, with `env` set. */
function runSuites(
  env: Record<string, string | undefined>,
): Promise<{ counts: Record<string, number>; output: string }> {
  const merged: Record<string, string> = {};
  // NODE_TEST_CONTEXT marks a child of the test runner, which would then not run its files.
  for (const [key, value] of Object.entries({
    ...process.env,
    NODE_TEST_CONTEXT: undefined,
    ...env,
  })) {
    if (value !== undefined) merged[key] = value;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=tap', ...SUITES],
      { cwd: ROOT, env: merged },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', reject);
    child.on('close', () => {
      const counts: Record<string, number> = {};
      for (const [, name, n] of output.matchAll(/^# (tests|pass|fail|skipped) (\d+)$/gm)) {
        counts[name ?? ''] = Number(n);
      }
      resolve({ counts, output });
    });
  });
}

describe("the suites that need Cedar's integration tests, without them", () => {
  let missing: string;
  before(async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'steward-no-corpus-'));
    missing = path.join(dir, 'cedar-integration-tests');
  });
  after(async () => rm(path.dirname(missing), { recursive: true, force: true }));

  it('are skipped, counted as skipped, and say why', async () => {
    const { counts, output } = await runSuites({ STEWARD_CEDAR_TESTS_DIR: missing, CI: undefined });
    assert.deepEqual(counts, { tests: 3, pass: 0, fail: 0, skipped: 3 }, output);
    assert.match(output, /# SKIP Cedar's integration tests are not in .*docs\/policy\.md/);
  });

  it('fail under CI=true', async () => {
    const { counts, output } = await runSuites({ STEWARD_CEDAR_TESTS_DIR: missing, CI: 'true' });
    assert.deepEqual(counts, { tests: 3, pass: 0, fail: 3, skipped: 0 }, output);
    assert.match(output, /CI=true, and Cedar's integration tests are not in/);
  });
});
