#!/usr/bin/env node
// The installed `steward` command: runs the compiled CLI (build it with `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write(
    'steward is not built yet: run `npm run build` (or use `npm run steward -- <args>`).\n',
  );
  process.exit(1);
}
const { main } = await import(entry.href);
const code = await main(process.argv.slice(2));
if (code !== 0 || process.argv[2] !== 'up') process.exitCode = code;
