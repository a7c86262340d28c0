import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { Option, type Command } from 'commander';
import { StewardError } from '../../errors/index.js';
import {
  compilePolicies,
  runPolicyTests,
  type PolicyTestFile,
  type PolicyTestResult,
} from '../../policy/index.js';
import { client, printList, printRecord, type OutputOptions, UsageError } from '../context.js';
import { integer, time } from '../flags.js';
import { columns, send, subcommand, type Row } from '../verbs.js';

const POLICIES = '/v1/policies';

/** Reads a file named on the command line; a missing file is a usage error, not a crash. */
function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
}

function json(command: Command): boolean {
  return command.optsWithGlobals<OutputOptions>().json === true;
}

/** Prints each problem of a refused policy set as `file:line:column: detail`, as compilers do. */
function reportInvalid(file: string, error: StewardError): never {
  for (const problem of error.errors) {
    const at = problem.line === undefined ? file : `${file}:${problem.line}:${problem.column ?? 1}`;
    process.stderr.write(`${at}: ${problem.detail.replace(/^line \d+, column \d+: /, '')}\n`);
  }
  throw new Error(error.message);
}

interface PolicyRead {
  readonly id: string;
  readonly text: string;
}

interface SetRead {
  readonly version: number;
  readonly filtered: boolean;
  readonly policies: PolicyRead[];
}

interface WarningRead {
  readonly detail: string;
}

interface Change {
  readonly removed: string[];
  readonly added: string[];
  readonly changed: string[];
  readonly kept: number;
}

/** What replacing `before` with `after` does, by policy id. */
function compare(before: readonly PolicyRead[], after: readonly PolicyRead[]): Change {
  const old = new Map(before.map((p) => [p.id, p.text.trim()]));
  const next = new Set(after.map((p) => p.id));
  const removed = before.filter((p) => !next.has(p.id)).map((p) => p.id);
  const added: string[] = [];
  const changed: string[] = [];
  let kept = 0;
  for (const p of after) {
    const was = old.get(p.id);
    if (was === undefined) added.push(p.id);
    else if (was !== p.text.trim()) changed.push(p.id);
    else kept++;
  }
  return { removed, added, changed, kept };
}

function describeChange(current: SetRead, count: number, change: Change): string {
  const lines = [
    `version ${current.version} (${plural(current.policies.length)}) -> the file (${plural(count)}):`,
  ];
  const list = (verb: string, ids: readonly string[]) => {
    if (ids.length > 0) lines.push(`  ${verb.padEnd(8)}${ids.join(', ')}`);
  };
  list('removes', change.removed);
  list('adds', change.added);
  list('changes', change.changed);
  lines.push(`  ${'keeps'.padEnd(8)}${plural(change.kept)} as they are`);
  return `${lines.join('\n')}\n`;
}

function plural(n: number): string {
  return `${n} ${n === 1 ? 'policy' : 'policies'}`;
}

/**
 * Removing policies is what a file of one policy does to a set of five: a person confirms it at
 * the terminal, a script says --yes. Without a terminal and without --yes, nothing is stored.
 */
async function confirmRemoval(current: SetRead, removed: readonly string[]): Promise<void> {
  const what = `this change removes ${plural(removed.length)} from version ${current.version} (${removed.join(', ')})`;
  if (!process.stdin.isTTY) {
    throw new UsageError(
      `${what}; nothing was stored. The file replaces the whole set: add them to it, or run again with --yes to remove them.`,
    );
  }
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`Remove ${plural(removed.length)}? [y/N] `);
    if (!/^y(es)?$/i.test(answer.trim())) {
      throw new UsageError(`${what}; not confirmed, nothing was stored.`);
    }
  } finally {
    prompt.close();
  }
}

/** `steward policy …`: Cedar policies, their versions, local checks and simulation. */
export function registerPolicy(program: Command): void {
  const policy = subcommand(
    program,
    'policy',
    'Cedar policies: the versioned set that decides every call, tested and simulated before it ships',
    [
      'steward policy schema > steward.cedarschema',
      'steward policy validate policies.cedar',
      'steward policy test policy-tests.json --policies policies.cedar',
      'steward policy simulate policies.cedar --since 7d',
      'steward policy put policies.cedar --message "refunds need a task"',
    ],
  );

  const get = subcommand(
    policy,
    'get',
    'Print the current policy set (or one version with its diff)',
    ['steward policy get > policies.cedar', 'steward policy get --version 3 --json'],
  ).option(
    '--version <n>',
    'a stored version, with its diff',
    integer('--version', 1, 2_147_483_647),
  );
  get.action(async () => {
    const { version } = get.opts<{ version?: number }>();
    const record = await send(get, {
      method: 'GET',
      path: version === undefined ? POLICIES : `/v1/policy/versions/${version}`,
    });
    if (json(get)) return printRecord(get, record);
    process.stderr.write(`# version ${String(record['version'])}: ${String(record['message'])}\n`);
    process.stdout.write(
      version === undefined ? String(record['text']) : `${String(record['diff'])}\n`,
    );
  });

  const put = subcommand(
    policy,
    'put',
    'Store a policy file as the new version of the whole set (admin, security): shows what it removes, adds and changes, and asks before removing',
    [
      'steward policy get > policies.cedar   # edit the current set, then:',
      'steward policy put policies.cedar --message "refunds need a task"',
      'steward policy put policies.cedar --message "start over" --yes   # scripts: confirm removals',
      'steward policy put policies.cedar --message "check" --dry-run    # show the change only',
    ],
  )
    .argument('<file>', 'Cedar policies: the whole new set, not an addition to it')
    .requiredOption('--message <text>', 'why: kept with the version and in the trail')
    .option('--yes', 'remove the policies the file leaves out without asking')
    .option('--dry-run', 'show what would change, store nothing');
  put.action(async (file: string) => {
    const { message, yes, dryRun } = put.opts<{
      message: string;
      yes?: boolean;
      dryRun?: boolean;
    }>();
    const text = readText(file);
    const current = await send<SetRead>(put, { method: 'GET', path: POLICIES });
    const draft = await send<{ policies: PolicyRead[]; warnings: WarningRead[] }>(put, {
      method: 'POST',
      path: '/v1/policy/validate',
      body: { policies: text },
    });
    for (const warning of draft.warnings) process.stderr.write(`warning: ${warning.detail}\n`);
    // An owner's view holds its team's policies only: no diff of the whole set can be made,
    // and the server refuses the write to that key anyway.
    if (!current.filtered) {
      const change = compare(current.policies, draft.policies);
      process.stderr.write(describeChange(current, draft.policies.length, change));
      if (dryRun) return;
      if (change.removed.length > 0 && yes !== true) await confirmRemoval(current, change.removed);
    } else if (dryRun) {
      return;
    }
    printRecord(
      put,
      await client(put).request<Row>('PUT', POLICIES, {
        body: { policies: text, message },
        // The version the change was computed against: a set stored meanwhile is not replaced.
        headers: { 'if-match': `"${current.version}"` },
      }),
    );
  });

  const validate = subcommand(
    policy,
    'validate',
    "Validate a policy file against Steward's schema: locally, or with --remote by the server",
    ['steward policy validate policies.cedar', 'steward policy validate policies.cedar --remote'],
  )
    .argument('<file>', 'Cedar policies')
    .option('--remote', "ask the server (its schema) instead of this program's");
  validate.action(async (file: string) => {
    const text = readText(file);
    let result: Row;
    if (validate.opts<{ remote?: boolean }>().remote) {
      result = await send(validate, {
        method: 'POST',
        path: '/v1/policy/validate',
        body: { policies: text },
      });
    } else {
      try {
        const draft = compilePolicies(text, { pointer: file });
        result = {
          valid: true,
          policies: draft.policies.map((p) => ({ id: p.id, effect: p.effect, line: p.line })),
          warnings: draft.warnings,
        };
      } catch (error) {
        if (error instanceof StewardError) reportInvalid(file, error);
        throw error;
      }
    }
    if (json(validate)) return printRecord(validate, result);
    const policies = result['policies'] as { id: string }[];
    process.stdout.write(
      `${file}: valid, ${policies.length} ${policies.length === 1 ? 'policy' : 'policies'}\n`,
    );
    for (const warning of result['warnings'] as { detail: string }[])
      process.stderr.write(`warning: ${warning.detail}\n`);
  });

  const versions = subcommand(policy, 'versions', 'List stored versions, newest first', [
    'steward policy versions',
    'steward policy versions --limit 5 --json',
  ])
    .addOption(
      new Option('--limit <n>', 'rows per page (1-500)').argParser(integer('--limit', 1, 500)),
    )
    .option('--cursor <cursor>', 'continue from a previous page');
  versions.action(async () => {
    const page = await send<{ items: Row[]; nextCursor?: string }>(versions, {
      method: 'GET',
      path: '/v1/policy/versions',
      query: versions.opts(),
    });
    printList(
      versions,
      page,
      columns({
        version: 'version',
        policies: 'policyCount',
        author: 'author',
        created: 'createdAt',
        message: 'message',
      }),
    );
  });

  const rollback = subcommand(
    policy,
    'rollback',
    'Restore an earlier version as a new version (admin, security)',
    ['steward policy rollback 3 --message "v4 denied the refund agent"'],
  )
    .argument('<version>', 'the version to restore', integer('<version>', 1, 2_147_483_647))
    .requiredOption('--message <text>', 'why: kept with the version and in the trail');
  rollback.action(async (version: number) => {
    const { message } = rollback.opts<{ message: string }>();
    printRecord(
      rollback,
      await send(rollback, {
        method: 'POST',
        path: '/v1/policy/rollback',
        body: { version, message },
      }),
    );
  });

  const test = subcommand(
    policy,
    'test',
    'Run policy unit tests (a JSON file of expected decisions) locally; exits 1 on any mismatch',
    [
      'steward policy test policy-tests.json --policies policies.cedar',
      '# policy-tests.json: {"entities": [...], "tests": [{"name", "principal", "action", "resource", "context", "expect": "allow"|"deny"}]}',
    ],
  )
    .argument('<tests>', 'JSON: an array of cases, or {"entities": [...], "tests": [...]}')
    .requiredOption('--policies <file>', 'Cedar policies to test');
  test.action(async (testsFile: string) => {
    const policiesFile = test.opts<{ policies: string }>().policies;
    let suite: PolicyTestFile;
    try {
      suite = JSON.parse(readText(testsFile)) as PolicyTestFile;
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`${testsFile} is not JSON: ${(error as Error).message}`);
    }
    let results: PolicyTestResult[];
    try {
      results = runPolicyTests(readText(policiesFile), suite);
    } catch (error) {
      if (error instanceof StewardError) reportInvalid(policiesFile, error);
      throw error;
    }
    const failed = results.filter((r) => !r.passed);
    if (json(test)) {
      process.stdout.write(
        `${JSON.stringify({ passed: results.length - failed.length, failed: failed.length, results }, null, 2)}\n`,
      );
    } else {
      for (const r of results) {
        const why =
          r.error ??
          `${r.explanation?.kind ?? ''} ${r.policies.length > 0 ? `by ${r.policies.join(', ')}` : ''}`.trim();
        process.stdout.write(
          `${r.passed ? 'pass' : 'FAIL'}  ${r.name}: expected ${r.expected}, got ${r.actual} (${why})\n`,
        );
        const near = r.explanation?.scopeMatchedPermits ?? [];
        if (!r.passed && near.length > 0)
          process.stdout.write(
            `      permits in scope whose conditions did not hold: ${near.join(', ')}\n`,
          );
      }
      process.stdout.write(`${results.length - failed.length} passed, ${failed.length} failed\n`);
    }
    if (failed.length > 0)
      throw new Error(`${failed.length} of ${results.length} policy tests failed`);
  });

  const simulate = subcommand(
    policy,
    'simulate',
    'Replay recorded decisions against a draft and show what would change',
    [
      'steward policy simulate policies.cedar --since 7d',
      'steward policy simulate policies.cedar --since 2025-06-01 --until 2025-06-02 --json',
    ],
  )
    .argument('<file>', 'draft Cedar policies')
    .option(
      '--since <time>',
      'decisions at or after: ISO 8601 or an age such as 24h',
      time('--since'),
    )
    .option('--until <time>', 'decisions before: ISO 8601 or an age', time('--until'))
    .option(
      '--limit <n>',
      'at most this many decisions, newest first (1-10000)',
      integer('--limit', 1, 10_000),
    );
  simulate.action(async (file: string) => {
    const flags = simulate.opts<{ since?: string; until?: string; limit?: number }>();
    const report = await send(simulate, {
      method: 'POST',
      path: '/v1/policy/simulate',
      body: { policies: readText(file), ...flags },
    });
    if (json(simulate)) return printRecord(simulate, report);
    printList(
      simulate,
      { items: report['changes'] as Row[] },
      columns({
        time: 'occurredAt',
        principal: (row) => (row['principal'] as { id: string }).id,
        action: 'action',
        resource: (row) => (row['resource'] as { id: string }).id,
        before: (row) => (row['before'] as { decision: string }).decision,
        after: (row) => (row['after'] as { decision: string }).decision,
        by: (row) => (row['after'] as { policies: string[] }).policies.join(','),
      }),
    );
    process.stdout.write(
      `${String(report['evaluated'])} decisions replayed, ${String(report['changed'])} would change\n`,
    );
  });

  const schema = subcommand(
    policy,
    'schema',
    "Print Steward's Cedar schema (entity types, actions, context)",
    ['steward policy schema > steward.cedarschema', 'steward policy schema --json'],
  );
  schema.action(async () => {
    const answer = await send(schema, { method: 'GET', path: '/v1/policy/schema' });
    if (json(schema)) return printRecord(schema, answer['json'] as object);
    process.stdout.write(String(answer['text']));
  });
}
