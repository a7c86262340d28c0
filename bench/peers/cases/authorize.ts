/**
 * authorize: `POST /v1/authorize` (an API key of role `security`, as a real client calls it)
 * against the Cerbos PDP's `POST /api/check/resources`, on the equivalent rule sets of
 * `policies.ts` at 10, 100 and 1,000 rules, and Steward alone at 10,000 for its flatness (where
 * its API takes a set that large). Before measuring, both must give the expected decision on
 * every request the load cycles through.
 *
 * The work differs where the products do: Steward looks the workload up in its registry and
 * commits a decision record per call; Cerbos is told the principal's attributes in the request
 * and records nothing (its audit log is off by default, and off here).
 */
import { randomBytes } from 'node:crypto';
import type { DatabaseKind } from '../../harness/databases.js';
import type { HeaderSet } from '../../harness/load.js';
import type { PeerCase, PeerContext } from '../case.js';
import { startCerbos, type RunningCerbos } from '../cerbos.js';
import { measureSideBySide, type PeerTarget } from '../measure.js';
import {
  cerbosCheck,
  cerbosDecision,
  cerbosPolicies,
  REQUESTS,
  stewardAuthorize,
} from '../policies.js';
import { startSteward, type BenchSteward } from '../steward.js';
import { registerWorkloads, writePolicies } from '../steward-setup.js';

/** Rule counts; Cerbos runs up to {@link PEER_MAX}. */
const SIZES = [10, 100, 1_000, 10_000] as const;
const PEER_MAX = 1_000;
/** Open-loop offered load (requests per second). */
export const AUTHORIZE_RATE = 50;

const JSON_TYPE = 'application/json';

async function checkDecisions(
  what: string,
  decide: (index: number) => Promise<string>,
): Promise<void> {
  for (const [index, request] of REQUESTS.entries()) {
    const decision = await decide(index);
    if (decision !== request.expected) {
      throw new Error(`${what}, ${request.name}: ${decision}, expected ${request.expected}`);
    }
  }
}

/** Why the admin API refused a policy set: its problem document's status, code and detail. */
function refusal(error: unknown): string {
  // The admin call's message ends with the problem document.
  const message = (error as Error).message;
  const problem = /\{.*\}$/s.exec(message)?.[0];
  if (problem === undefined) return message.slice(0, 200);
  const { status, type, detail } = JSON.parse(problem) as Record<string, unknown>;
  return `${String(status)} ${String(type).split('/').pop()}: ${String(detail)}`;
}

/** One Steward server holding the set of `size` rules, checked; undefined if its API refuses it. */
async function stewardAt(
  context: PeerContext,
  database: DatabaseKind,
  size: number,
  variant: string,
  started: BenchSteward[],
): Promise<PeerTarget | undefined> {
  const steward = await startSteward(database);
  started.push(steward);
  const ids = await registerWorkloads(steward.admin);
  try {
    await writePolicies(steward.admin, size);
  } catch (error) {
    context.skip(
      `authorize @ ${variant}: Steward's API refuses a set this large (${refusal(error)})`,
    );
    return undefined;
  }
  await steward.server.core.policies.reload();
  const { key } = await steward.admin<{ key: string }>('POST', '/v1/api-keys', {
    name: `peers bench ${randomBytes(4).toString('hex')}`,
    role: 'security',
  });
  const bodies = REQUESTS.map((request) => {
    const id = ids[request.workload.name];
    if (id === undefined) throw new Error(`no identity for ${request.workload.name}`);
    return stewardAuthorize(request, id);
  });
  const authorization: HeaderSet = { authorization: `Bearer ${key}` };
  const url = `${steward.url}/v1/authorize`;
  await checkDecisions(`Steward @ ${variant}`, async (index) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { ...authorization, 'content-type': JSON_TYPE },
      body: bodies[index] ?? '',
    });
    const body = (await response.json()) as { decision?: string };
    if (response.status !== 200) throw new Error(`Steward: ${JSON.stringify(body)}`);
    return body.decision ?? 'none';
  });
  return {
    label: `Steward (${database}) @ ${variant}`,
    cpu: 'self',
    target: {
      kind: 'http',
      url,
      method: 'POST',
      headers: [authorization],
      body: { type: 'cycle', contentType: JSON_TYPE, texts: bodies },
    },
  };
}

/** A Cerbos PDP holding the set of `size` rules, checked. */
async function cerbosAt(size: number, variant: string, started: RunningCerbos[]) {
  const cerbos = await startCerbos(cerbosPolicies(size));
  started.push(cerbos);
  const url = `${cerbos.url}/api/check/resources`;
  await checkDecisions(`Cerbos @ ${variant}`, async (index) => {
    const request = REQUESTS[index];
    if (request === undefined) throw new Error('no request');
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': JSON_TYPE },
      body: cerbosCheck(request),
    });
    return cerbosDecision(await response.json());
  });
  const target: PeerTarget = {
    label: `Cerbos ${cerbos.version} @ ${variant}`,
    cpu: { pid: cerbos.child.pid ?? -1 },
    target: {
      kind: 'http',
      url,
      method: 'POST',
      headers: [{}],
      body: {
        type: 'cycle',
        contentType: JSON_TYPE,
        texts: REQUESTS.map((request, i) => cerbosCheck(request, `bench-${i}`)),
      },
    },
  };
  return { target, version: cerbos.version };
}

/**
 * Every size at once: one Steward server per size (each on its own fresh database) and one
 * Cerbos per size up to {@link PEER_MAX}, all measured in one rotated group, so that Steward's
 * rows at different sizes (its flatness) are as comparable as each row's Steward and Cerbos.
 */
async function runOn(context: PeerContext, database: DatabaseKind): Promise<void> {
  const stewards: BenchSteward[] = [];
  const cerbosServers: RunningCerbos[] = [];
  try {
    const pairs: { variant: string; steward: PeerTarget; peer?: PeerTarget }[] = [];
    for (const size of SIZES) {
      const variant = `${size.toLocaleString('en-US')} rules`;
      const steward = await stewardAt(context, database, size, variant, stewards);
      if (steward === undefined) continue;
      let peer: PeerTarget | undefined;
      if (size <= PEER_MAX) {
        const cerbos = await cerbosAt(size, variant, cerbosServers);
        context.detail('cerbosVersion', cerbos.version);
        peer = cerbos.target;
      }
      pairs.push({ variant, steward, ...(peer === undefined ? {} : { peer }) });
      context.log(`${variant}: both give the expected decisions on ${REQUESTS.length} requests`);
    }
    const figures = await measureSideBySide(
      context.generator,
      pairs.flatMap(({ steward, peer }) => (peer === undefined ? [steward] : [steward, peer])),
      { ...context.timing, rate: AUTHORIZE_RATE, log: context.log },
    );
    const side = (target: PeerTarget) => {
      const found = figures.get(target.label);
      if (found === undefined) throw new Error(`no figures for ${target.label}`);
      return { label: target.label, figures: found };
    };
    for (const { variant, steward, peer } of pairs) {
      context.record({
        case: 'authorize',
        variant: `${variant}, ${database}`,
        steward: side(steward),
        ...(peer === undefined ? {} : { peer: side(peer) }),
      });
    }
  } finally {
    for (const cerbos of cerbosServers) await cerbos.close();
    for (const steward of stewards) await steward.close();
  }
}

export const authorizeCase: PeerCase = {
  name: 'authorize',
  summary: 'POST /v1/authorize vs the Cerbos PDP (HTTP check API), equivalent rules at 10 to 1,000',
  async run(context) {
    await runOn(context, context.primary);
  },
};
