/**
 * One table of environment variables: `loadConfig` takes its defaults and bounds from it, the
 * configuration page is generated from it, and no variable the code reads is missing from it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../../src/cli/main.js';
import {
  CLIENT_VARIABLES,
  ConfigError,
  DEFAULT_SIGNING,
  INTERNAL_VARIABLES,
  loadConfig,
  SERVER_VARIABLES,
  type Variable,
} from '../../src/config/index.js';
import { SIGNING_ALGORITHMS } from '../../src/signing/index.js';
import { readConfigurationPage, renderConfigurationPage } from '../../scripts/configuration-doc.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const ALL: readonly Variable[] = [
  ...Object.values(SERVER_VARIABLES),
  ...Object.values(CLIENT_VARIABLES),
  ...Object.values(INTERNAL_VARIABLES),
];

function refusal(env: Record<string, string>): string | undefined {
  try {
    loadConfig(env);
    return undefined;
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.variable;
  }
}

describe('the table of environment variables', () => {
  it('docs/configuration.md is what scripts/configuration-doc.ts generates now', async () => {
    const committed = readConfigurationPage();
    assert.equal(
      committed,
      await renderConfigurationPage(committed),
      'docs/configuration.md is stale: run npm run docs:config',
    );
  });

  it('declares every STEWARD_* variable and DATABASE_URL that src/ reads', () => {
    const declared = new Map(ALL.map((variable) => [variable.name, variable]));
    const files = readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .map((file) => path.join(ROOT, 'src', file));
    const read = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const [, name = ''] of text.matchAll(
        /env(?:\[['"]|\.)(STEWARD_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL(?:_FILE)?)\b/g,
      )) {
        read.add(name);
      }
    }
    // loadConfig reads through the table; the CLI still names what it reads.
    assert.ok(read.has('STEWARD_URL') && read.has('STEWARD_CLI_ENTRY'), 'is the scan blind?');
    const missing = [...read].filter((name) => {
      if (declared.has(name)) return false;
      const base = declared.get(name.replace(/_FILE$/, ''));
      return !(name.endsWith('_FILE') && base?.fromFile === true);
    });
    assert.deepEqual(missing, []);
  });

  it("names the signing module's algorithms, and loadConfig's signing defaults are the table's", () => {
    assert.deepEqual([...SERVER_VARIABLES.signingAlgorithm.choices], [...SIGNING_ALGORITHMS]);
    assert.deepEqual(loadConfig({}).signing, DEFAULT_SIGNING);
    assert.deepEqual(DEFAULT_SIGNING, {
      algorithm: SERVER_VARIABLES.signingAlgorithm.default,
      rotationSeconds: SERVER_VARIABLES.keyRotationSeconds.default,
      leadSeconds: SERVER_VARIABLES.keyLeadSeconds.default,
    });
  });

  it('loadConfig accepts each whole number at its bounds and refuses one past them', () => {
    // The lead must stay below the rotation, so its upper bound is tried with the longest one.
    const context = {
      [SERVER_VARIABLES.keyRotationSeconds.name]: String(SERVER_VARIABLES.keyRotationSeconds.max),
    };
    for (const variable of Object.values(SERVER_VARIABLES)) {
      if (variable.kind !== 'whole') continue;
      const env = (value: number) => ({ ...context, [variable.name]: String(value) });
      assert.equal(refusal(env(variable.min)), undefined, `${variable.name}=${variable.min}`);
      assert.equal(refusal(env(variable.max)), undefined, `${variable.name}=${variable.max}`);
      assert.equal(refusal(env(variable.max + 1)), variable.name, `${variable.name} above max`);
      if (variable.min > 0) {
        assert.equal(refusal(env(variable.min - 1)), variable.name, `${variable.name} below min`);
      }
    }
    // The bound another variable sets: the lead time is shorter than the rotation.
    assert.equal(
      refusal({ STEWARD_KEY_ROTATION_SECONDS: '3600', STEWARD_KEY_LEAD_SECONDS: '3600' }),
      'STEWARD_KEY_LEAD_SECONDS',
    );
  });

  it('loadConfig accepts exactly the choices of each word variable', () => {
    for (const variable of Object.values(SERVER_VARIABLES)) {
      if (variable.kind !== 'choice') continue;
      for (const choice of variable.choices) {
        assert.equal(refusal({ [variable.name]: choice }), undefined, `${variable.name}=${choice}`);
      }
      assert.equal(refusal({ [variable.name]: 'none-of-these' }), variable.name);
    }
  });

  it("every flag the table names is a flag of 'steward up'", () => {
    const up = buildProgram().commands.find((command) => command.name() === 'up');
    assert.ok(up !== undefined);
    const flags = new Set(up.options.map((option) => option.long));
    const unknown = ALL.flatMap((variable) =>
      variable.flag === undefined || flags.has(variable.flag) ? [] : [variable.flag],
    );
    assert.deepEqual(unknown, []);
  });

  it("'steward up' helps each flag with its variable and its default, read from the table", () => {
    const up = buildProgram().commands.find((command) => command.name() === 'up');
    assert.ok(up !== undefined);
    const flagged = ALL.filter((variable) => variable.flag !== undefined);
    assert.equal(up.options.filter((option) => option.long !== '--help').length, flagged.length);
    for (const variable of flagged) {
      const option = up.options.find((candidate) => candidate.long === variable.flag);
      assert.ok(option !== undefined, String(variable.flag));
      const shown =
        variable.kind === 'rate'
          ? `${variable.default.perSecond}/${variable.default.burst}`
          : variable.kind === 'text'
            ? (variable.defaultText ?? variable.default ?? '').replaceAll('`', '')
            : String(variable.default);
      assert.ok(option.description.includes(`(${shown}`), `${option.description} shows ${shown}`);
      assert.ok(option.description.endsWith(`; or ${variable.name}`), option.description);
    }
  });
});
