/**
 * Disagreements the differential test found, kept as JSON files under `regressions/` (committed)
 * and replayed by `regression.test.ts`.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  AuthorizationRequest,
  Entity,
  PolicySource,
} from '../../../src/policy/engine/index.js';
import type { Outcome } from './outcome.js';

export const REGRESSIONS_DIR = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  'regressions',
);

export interface RegressionCase {
  /** The generator seed that found it (and the request's index), for the record. */
  readonly seed: number;
  readonly requestIndex: number;
  readonly schema: string;
  readonly policies: PolicySource;
  readonly entities: readonly Entity[];
  readonly request: AuthorizationRequest;
  /** What the official engine answered when the case was found. */
  readonly expected: Outcome;
  /** What the engine under test answered. */
  readonly actual: Outcome;
  readonly engine: string;
}

/** Writes the case as `regressions/<hash>.json` and returns the file name. */
export function saveRegression(regression: RegressionCase): string {
  mkdirSync(REGRESSIONS_DIR, { recursive: true });
  const key = JSON.stringify([regression.policies, regression.entities, regression.request]);
  const name = `${createHash('sha256').update(key).digest('hex').slice(0, 16)}.json`;
  writeFileSync(path.join(REGRESSIONS_DIR, name), `${JSON.stringify(regression, null, 2)}\n`);
  return name;
}

export function loadRegressions(): {
  readonly file: string;
  readonly regression: RegressionCase;
}[] {
  let files: string[];
  try {
    files = readdirSync(REGRESSIONS_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.sort().map((file) => ({
    file,
    regression: JSON.parse(
      readFileSync(path.join(REGRESSIONS_DIR, file), 'utf8'),
    ) as RegressionCase,
  }));
}
