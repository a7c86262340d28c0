/**
 * The CLI pointed where no Steward listens: it says which URL it tried, where that URL came from
 * (STEWARD_URL or --url), that STEWARD_URL sets it, and exits 7, for the admin API and for the
 * OAuth endpoints alike.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { closedPortUrl, runCli } from '../support/cli.js';

describe('the CLI on an unreachable URL', () => {
  let down: string;
  let elsewhere: string;
  before(async () => {
    down = await closedPortUrl();
    elsewhere = await closedPortUrl();
  });

  it('names the URL from STEWARD_URL, the failure, and how to change it; exits 7', async () => {
    const run = await runCli(['team', 'list'], { url: `${down}/`, key: 'stw_key_unused' });
    assert.equal(run.code, 7, run.stderr);
    assert.equal(run.stdout, '');
    assert.match(
      run.stderr,
      new RegExp(
        `^error: cannot reach Steward at ${down} \\(from STEWARD_URL\\): ECONNREFUSED$`,
        'm',
      ),
    );
    assert.match(
      run.stderr,
      /^ {2}Set STEWARD_URL \(or --url\) to the address Steward listens on/m,
    );
    assert.doesNotMatch(run.stderr, /fetch failed/);
  });

  it('says when the URL came from --url instead', async () => {
    const run = await runCli(['--url', elsewhere, 'service', 'list'], {
      url: down,
      key: 'stw_key_unused',
    });
    assert.equal(run.code, 7, run.stderr);
    assert.match(run.stderr, new RegExp(`cannot reach Steward at ${elsewhere} \\(from --url\\)`));
    assert.match(run.stderr, /Set STEWARD_URL/);
  });

  it('the same on the OAuth endpoints (token revoke)', async () => {
    const run = await runCli(['token', 'revoke', '--token', '-'], {
      url: down,
      key: 'stw_key_unused',
      input: 'eyJhbGciOiJFZERTQSJ9.e30.sig\n',
    });
    assert.equal(run.code, 7, run.stderr);
    assert.match(run.stderr, new RegExp(`cannot reach Steward at ${down} \\(from STEWARD_URL\\)`));
    assert.match(run.stderr, /Set STEWARD_URL/);
  });
});
