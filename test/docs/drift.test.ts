/**
 * What the documentation tells people to type, held to the code: every `steward …` command and
 * flag in README.md, docs/, the examples' and the SDK's READMEs and the CLI's own --help examples
 * exists in the CLI (read from the commander program itself); every `npm run X` is a script of
 * package.json; every STEWARD_* variable named is read somewhere; and docs/architecture.md's
 * layout names every folder of src/. (Error codes, gateway refusals and audit event types are
 * held to their tables in catalogue.test.ts.)
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** The pages people read, relative to the repository root. */
const PAGES = [
  'README.md',
  'examples/README.md',
  'packages/sdk/README.md',
  ...readdirSync(path.join(ROOT, 'docs'))
    .filter((file) => file.endsWith('.md'))
    .map((file) => `docs/${file}`),
];

/** Every .ts file under `dir` (relative to the root), recursively. */
function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(dir, file));
}

interface Mention {
  readonly where: string;
  readonly text: string;
}

/**
 * The command lines of a page: each line of its shell code blocks, and each inline code span
 * outside them. Output blocks (no language, `json`, …) are not commands and are left out.
 */
function commandLines(page: string): Mention[] {
  const found: Mention[] = [];
  let fence: string | undefined;
  read(page)
    .split('\n')
    .forEach((line, index) => {
      const where = `${page}:${index + 1}`;
      const opening = /^\s*```(\w*)/.exec(line);
      if (opening) {
        fence = fence === undefined ? (opening[1] ?? '') : undefined;
        return;
      }
      if (fence === undefined) {
        for (const [, span] of line.matchAll(/`([^`]+)`/g)) found.push({ where, text: span ?? '' });
      } else if (['sh', 'bash', 'shell', 'console'].includes(fence)) {
        found.push({ where, text: line.replace(/\s#\s.*$/, '') });
      }
    });
  return found;
}

/** The words after each way of running the CLI in `text`, up to the end of that command. */
function invocations(text: string): string[][] {
  const words = text
    .replace(/\$\(/g, ' ')
    .split(/\s+/)
    .filter((word) => word !== '');
  const runs: string[][] = [];
  for (let i = 0; i < words.length; i += 1) {
    const word = words[i] ?? '';
    const previous = words[i - 1];
    const startsCommand =
      previous === undefined ||
      ['|', '&&', ';', 'npx', '||'].includes(previous) ||
      /^[A-Z_][A-Z0-9_]*=/.test(previous);
    let rest: number | undefined;
    if (word === 'steward' && startsCommand) rest = i + 1;
    else if (word === 'node' && words[i + 1] === 'bin/steward.js') rest = i + 2;
    if (rest === undefined) continue;
    const run: string[] = [];
    for (let j = rest; j < words.length; j += 1) {
      const next = words[j] ?? '';
      if (/^(\||&&|;|\|\||>|<|2>|#)/.test(next) || next.endsWith(')')) {
        if (next.endsWith(')') && next.length > 1) run.push(next.slice(0, -1));
        break;
      }
      run.push(next);
    }
    runs.push(run);
  }
  return runs;
}

/** `npm run [--silent] <script> [-- args…]`, `npm start`, `npm test` in `text`. */
function npmScripts(text: string): { script: string; args: string[] }[] {
  const runs: { script: string; args: string[] }[] = [];
  for (const match of text.matchAll(
    /\bnpm (?:run(?: --silent)? ([\w:-]+)|(start|test)\b)((?: -- [^|;&#`]*)?)/g,
  )) {
    const args = (match[3] ?? '').replace(/^ -- /, '').split(/\s+/).filter(Boolean);
    runs.push({ script: match[1] ?? match[2] ?? '', args });
  }
  return runs;
}

/**
 * What is wrong with `steward <words>` against the program, or undefined. Subcommands must
 * exist (`a|b|c` names several); flags must belong to the command reached or be global.
 */
function checkInvocation(program: Command, words: readonly string[]): string | undefined {
  const globals = new Set(['--help', ...program.options.map((option) => option.long)]);
  let command = program;
  let descending = true;
  for (const word of words) {
    if (word.startsWith('--')) {
      const flag = word.split('=')[0] ?? word;
      const known = command.options.some((option) => option.long === flag) || globals.has(flag);
      if (!known) return `${flag} is not a flag of "${command.name()}"`;
      continue;
    }
    if (!descending || command.commands.length === 0) {
      descending = false;
      continue;
    }
    if (!/^[a-z][a-z0-9|-]*$/.test(word)) {
      descending = false; // a placeholder (<id>, $ID, …) or an argument
      continue;
    }
    const names = word.split('|');
    const missing = names.filter((name) => !command.commands.some((c) => c.name() === name));
    if (missing.length > 0)
      return `"${missing.join('", "')}" is not a command of "${command.name()}"`;
    const [only] = names;
    const next = command.commands.find((c) => c.name() === only);
    if (names.length > 1 || next === undefined) descending = false;
    else command = next;
  }
  return undefined;
}

/** Each command's --help text, with the examples added after it. */
function helpTexts(command: Command, prefix = 'steward'): Mention[] {
  let text = '';
  command.configureOutput({ writeOut: (chunk) => (text += chunk), writeErr: () => undefined });
  command.outputHelp();
  return [
    { where: `${prefix} --help`, text },
    ...command.commands.flatMap((sub) => helpTexts(sub, `${prefix} ${sub.name()}`)),
  ];
}

const packageJson = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
const sdkPackage = JSON.parse(read('packages/sdk/package.json')) as {
  scripts: Record<string, string>;
};

describe('the documentation matches the code', () => {
  const program = buildProgram();
  const mentions = PAGES.flatMap(commandLines);

  it('every steward command and flag in the docs exists in the CLI', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const { where, text } of mentions) {
      const runs = invocations(text);
      // `npm run X -- args` where X is `tsx src/cli/main.ts <words>` runs `steward <words> args`.
      for (const { script, args } of npmScripts(text)) {
        const cli = /^tsx src\/cli\/main\.ts ?(.*)$/.exec(packageJson.scripts[script] ?? '');
        if (cli) runs.push([...(cli[1] ?? '').split(/\s+/).filter(Boolean), ...args]);
      }
      for (const words of runs) {
        checked += 1;
        const problem = checkInvocation(program, words);
        if (problem !== undefined)
          problems.push(`${where}: steward ${words.join(' ')}: ${problem}`);
      }
    }
    assert.ok(checked > 60, `found only ${checked} commands in the docs: is the parser blind?`);
    assert.deepEqual(problems, []);
  });

  it("every example in the CLI's own --help exists", () => {
    const problems: string[] = [];
    let checked = 0;
    for (const { where, text } of helpTexts(buildProgram())) {
      const examples = text.split('\nExamples:\n')[1] ?? '';
      for (const line of examples.split('\n')) {
        for (const words of invocations(line.trim())) {
          checked += 1;
          const problem = checkInvocation(program, words);
          if (problem !== undefined) {
            problems.push(`${where}: steward ${words.join(' ')}: ${problem}`);
          }
        }
      }
    }
    assert.ok(checked > 60, `found only ${checked} examples in --help`);
    assert.deepEqual(problems, []);
  });

  it('the checker itself refuses an unknown command, verb or flag', () => {
    assert.equal(checkInvocation(program, ['team', 'create', 'x', '--contact', 'y']), undefined);
    assert.equal(checkInvocation(program, ['policy', 'versions|rollback|test']), undefined);
    assert.match(checkInvocation(program, ['teams', 'list']) ?? '', /"teams" is not a command/);
    assert.match(checkInvocation(program, ['team', 'remove']) ?? '', /"remove" is not a command/);
    assert.match(checkInvocation(program, ['up', '--database-url', 'x']) ?? '', /--database-url/);
    assert.match(
      checkInvocation(program, ['policy', 'versions|undo']) ?? '',
      /"undo" is not a command/,
    );
    assert.deepEqual(invocations('TOKEN=$(echo "$T" | steward token exchange --subject-token -)'), [
      ['token', 'exchange', '--subject-token', '-'],
    ]);
  });

  it('every npm script the docs name exists in package.json', () => {
    const problems: string[] = [];
    for (const { where, text } of mentions) {
      for (const { script } of npmScripts(text)) {
        const scripts = /--workspace|-w /.test(text) ? sdkPackage.scripts : packageJson.scripts;
        if (scripts[script] === undefined) problems.push(`${where}: npm run ${script}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('every STEWARD_* variable the docs name is read by the code', () => {
    const code = [
      ...sources('src'),
      ...sources('scripts'),
      ...sources('test/support'),
      // The Cedar corpus's location is the test suite's own variable.
      ...sources('test/policy/conformance'),
      ...sources('examples'),
      ...sources('bench'),
      ...sources('packages/sdk/src'),
      'scripts/test.mjs',
    ]
      .map(read)
      .join('\n');
    const problems = new Set<string>();
    for (const page of PAGES) {
      // Not an agent's own variable in an example (`process.env.STEWARD_TASK_ID`).
      const text = read(page).replace(/process\.env\.STEWARD_\w+/g, '');
      for (const [variable, name = '', prefix] of text.matchAll(
        /\b(STEWARD_[A-Z0-9_]*[A-Z0-9])(_[*…])?/g,
      )) {
        // <NAME>_FILE is read through the variable's own name; `NAME_*` is a family.
        const wanted = prefix === undefined ? name.replace(/_FILE$/, '') : `${name}_`;
        const quoted = prefix === undefined ? [`'${wanted}'`, `"${wanted}"`] : [`'${wanted}`];
        if (!quoted.some((form) => code.includes(form))) problems.add(`${page}: ${variable}`);
      }
    }
    assert.deepEqual([...problems], []);
  });

  it('docs/architecture.md lists every folder of src/, and no other; README.md the top ones', () => {
    // The layout block: `src/` and then two spaces of indent per level (`  gateway/`, `    http/`).
    const layout = read('docs/architecture.md').split('```')[1] ?? '';
    const listed: string[] = [];
    const stack: string[] = [];
    let inSrc = false;
    for (const line of layout.split('\n')) {
      const entry = /^( *)([\w.-]+)\/(?: |$)/.exec(line);
      if (!entry) continue;
      const depth = (entry[1] ?? '').length / 2;
      if (depth === 0) {
        inSrc = entry[2] === 'src';
        continue;
      }
      if (!inSrc) continue;
      stack.length = depth - 1;
      stack.push(entry[2] ?? '');
      listed.push(stack.join('/'));
    }
    const folders = readdirSync(path.join(ROOT, 'src'), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) =>
        path.relative(path.join(ROOT, 'src'), path.join(entry.parentPath, entry.name)),
      )
      .map((folder) => folder.split(path.sep).join('/'));
    assert.ok(folders.length > 20, `found only ${folders.length} folders`);
    assert.deepEqual([...listed].sort(), [...folders].sort());
    // The README's "Where things are" names every top-level one too.
    const readme = read('README.md');
    const missing = folders.filter((f) => !f.includes('/') && !readme.includes(`\`src/${f}/\``));
    assert.deepEqual(missing, [], 'README.md, "Where things are"');
  });
});
