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

async function runOn(context: PeerContext, database: DatabaseKind): Promise<void> {
  let steward: BenchSteward | undefined;
  let cerbos: RunningCerbos | undefined;
  try {
    steward = await startSteward(database);
    const ids = await registerWorkloads(steward.admin);
    const { key } = await steward.admin<{ key: string }>('POST', '/v1/api-keys', {
      name: `peers bench ${randomBytes(4).toString('hex')}`,
      role: 'security',
    });
    const stewardBodies = REQUESTS.map((request) => {
      const id = ids[request.workload.name];
      if (id === undefined) throw new Error(`no identity for ${request.workload.name}`);
      return stewardAuthorize(request, id);
    });
    const authorization: HeaderSet = { authorization: `Bearer ${key}` };
    const stewardUrl = `${steward.url}/v1/authorize`;

    for (const size of SIZES) {
      const variant = `${size.toLocaleString('en-US')} rules`;
      try {
        await writePolicies(steward.admin, size);
      } catch (error) {
        // The admin call's message ends with the problem document.
        const message = (error as Error).message;
        const problem = /\{.*\}$/s.exec(message)?.[0];
        let why = message.slice(0, 200);
        if (problem !== undefined) {
          const { status, type, detail } = JSON.parse(problem) as Record<string, unknown>;
          why = `${String(status)} ${String(type).split('/').pop()}: ${String(detail)}`;
        }
        context.skip(`authorize @ ${variant}: Steward's API refuses a set this large (${why})`);
        continue;
      }
      await steward.server.core.policies.reload();
      await checkDecisions(`Steward @ ${variant}`, async (index) => {
        const response = await fetch(stewardUrl, {
          method: 'POST',
          headers: { ...authorization, 'content-type': JSON_TYPE },
          body: stewardBodies[index] ?? '',
        });
        const body = (await response.json()) as { decision?: string };
        if (response.status !== 200) throw new Error(`Steward: ${JSON.stringify(body)}`);
        return body.decision ?? 'none';
      });
      const stewardLabel = `Steward (${database}) @ ${variant}`;
      const targets: PeerTarget[] = [
        {
          label: stewardLabel,
          cpu: 'self',
          target: {
            kind: 'http',
            url: stewardUrl,
            method: 'POST',
            headers: [authorization],
            body: { type: 'cycle', contentType: JSON_TYPE, texts: stewardBodies },
          },
        },
      ];
      let cerbosLabel: string | undefined;
      if (size <= PEER_MAX) {
        cerbos = await startCerbos(cerbosPolicies(size));
        const running = cerbos;
        context.detail('cerbosVersion', running.version);
        await checkDecisions(`Cerbos @ ${variant}`, async (index) => {
          const request = REQUESTS[index];
          if (request === undefined) throw new Error('no request');
          const response = await fetch(`${running.url}/api/check/resources`, {
            method: 'POST',
            headers: { 'content-type': JSON_TYPE },
            body: cerbosCheck(request),
          });
          return cerbosDecision(await response.json());
        });
        cerbosLabel = `Cerbos ${running.version} @ ${variant}`;
        targets.push({
          label: cerbosLabel,
          cpu: { pid: running.child.pid ?? -1 },
          target: {
            kind: 'http',
            url: `${running.url}/api/check/resources`,
            method: 'POST',
            headers: [{}],
            body: {
              type: 'cycle',
              contentType: JSON_TYPE,
              texts: REQUESTS.map((request, i) => cerbosCheck(request, `bench-${i}`)),
            },
          },
        });
      }
      context.log(`authorize @ ${variant}: both give the expected decisions; measuring`);
      const figures = await measureSideBySide(context.generator, targets, {
        ...context.timing,
        rate: AUTHORIZE_RATE,
        log: context.log,
      });
      await cerbos?.close();
      cerbos = undefined;
      const stewardFigures = figures.get(stewardLabel);
      if (stewardFigures === undefined) throw new Error('no Steward figures');
      const peerFigures = cerbosLabel === undefined ? undefined : figures.get(cerbosLabel);
      context.record({
        case: 'authorize',
        variant: `${variant}, ${database}`,
        steward: { label: stewardLabel, figures: stewardFigures },
        ...(peerFigures !== undefined && cerbosLabel !== undefined
          ? { peer: { label: cerbosLabel, figures: peerFigures } }
          : {}),
      });
    }
  } finally {
    await cerbos?.close();
    await steward?.close();
  }
}

export const authorizeCase: PeerCase = {
  name: 'authorize',
  summary: 'POST /v1/authorize vs the Cerbos PDP (HTTP check API), equivalent rules at 10 to 1,000',
  async run(context) {
    await runOn(context, context.primary);
  },
};
