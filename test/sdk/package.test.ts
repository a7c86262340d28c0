/**
 * The SDK installs without the server's dependencies: no runtime dependencies in its manifest,
 * and its source imports nothing but Node's built-in modules and its own files.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const sdk = fileURLToPath(new URL('../../packages/sdk/', import.meta.url));

describe('the SDK package', () => {
  it('declares no runtime dependencies', () => {
    const manifest = JSON.parse(readFileSync(path.join(sdk, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
      const value = manifest[field];
      assert.ok(
        value === undefined || Object.keys(value as object).length === 0,
        `${field} must be empty`,
      );
    }
  });

  it('imports only node: built-ins and its own modules', () => {
    const files = readdirSync(path.join(sdk, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .map((file) => path.join(sdk, 'src', file));
    assert.ok(files.length > 5, 'found the SDK sources');
    const outside: string[] = [];
    for (const file of files) {
      // TypeScript's own pre-processor finds static imports, re-exports, import() and require(),
      // and, unlike a regular expression, ignores the examples in TSDoc comments.
      const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
      for (const { fileName } of importedFiles) {
        if (!fileName.startsWith('node:') && !fileName.startsWith('./')) {
          outside.push(`${path.basename(file)}: ${fileName}`);
        }
      }
    }
    assert.deepEqual(outside, []);
  });
});
