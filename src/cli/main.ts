#!/usr/bin/env node
import { Command } from 'commander';
import { registerAdmin } from './commands/admin.js';
import { registerApiKey, registerWhoami } from './commands/apikey.js';
import { registerAudit } from './commands/audit.js';
import { registerDemo } from './commands/demo.js';
import { registerFederation } from './commands/federation.js';
import { registerIdentity } from './commands/identity.js';
import { registerKey } from './commands/key.js';
import { registerPerson } from './commands/person.js';
import { registerPolicy } from './commands/policy.js';
import { registerRevoke } from './commands/revoke.js';
import { registerService } from './commands/service.js';
import { registerTask } from './commands/task.js';
import { registerTeam } from './commands/team.js';
import { registerSecret } from './commands/secret.js';
import { registerUpstream } from './commands/upstream.js';
import { registerToken } from './commands/token.js';
import { registerUp } from './commands/up.js';
import { exitCodeFor } from './context.js';

/** `steward <noun> <verb>`: the server (`up`) and a client for the admin API. */
export function buildProgram(): Command {
  const program = new Command('steward')
    .description(
      'Steward: workload identity, short-lived credentials and least privilege for AI agents',
    )
    .option('--url <url>', "Steward's URL (default: $STEWARD_URL or http://127.0.0.1:8080)")
    .option('--json', 'print JSON instead of a table, for scripts')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerUp(program);
  registerDemo(program);
  registerAdmin(program);
  registerTeam(program);
  registerPerson(program);
  registerService(program);
  registerIdentity(program);
  registerToken(program);
  registerTask(program);
  registerRevoke(program);
  registerFederation(program);
  registerKey(program);
  registerApiKey(program);
  registerWhoami(program);
  registerAudit(program);
  registerPolicy(program);
  registerSecret(program);
  registerUpstream(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    await buildProgram().parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    return exitCodeFor(error);
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly || process.env['STEWARD_CLI_ENTRY'] === '1') {
  const code = await main(process.argv.slice(2));
  // `up` keeps running; everything else exits with its code.
  if (code !== 0 || process.argv[2] !== 'up') process.exitCode = code;
}
