/**
 * Equivalent rule sets for Steward (Cedar, in Steward's schema) and the Cerbos PDP (resource
 * policies, disk store), and the requests both are asked, each with the decision both must give.
 *
 * The model: tenant `t` is a service `svc-t` whose tools sit on an upstream `u<t>`. Two global
 * rules apply to every tool; each tenant adds two rules for the tools of its own upstream:
 *
 * | rule    | Cedar                                                     | Cerbos                                  |
 * | ------- | --------------------------------------------------------- | --------------------------------------- |
 * | g-sandbox | permit any workload, non-sensitive tool, in sandbox     | root policy, ALLOW                      |
 * | g-oncall  | permit a workload whose agent path is `oncall`          | root policy, ALLOW                      |
 * | t`t`a   | permit `svc-t` on `u<t>` outside production or non-sensitive | scope `u<t>`, ALLOW                 |
 * | t`t`d   | forbid sensitive tools of `u<t>` in production unless the agent path starts with `refunds` | scope `u<t>`, DENY |
 *
 * Each engine gets its own index: Cedar's policy scopes (`principal in`, `resource in`), which
 * Steward's engine indexes, and Cerbos's scoped policies (one scope per upstream, the request
 * naming its scope), which Cerbos indexes. Cerbos evaluates the most specific scope first and
 * falls back to the parent scope only when no rule of the scope matched (its default
 * `SCOPE_PERMISSIONS_OVERRIDE_PARENT`); with only ALLOW rules in the root, that gives Cedar's
 * "permit if some permit holds and no forbid holds":
 * - a tenant DENY holds: both deny;
 * - else a tenant ALLOW holds: both allow;
 * - else the root's ALLOWs decide in both, and nothing matching is a deny in both.
 *
 * A set of N rules holds the two globals and (N − 2) / 2 tenants.
 */

export const GLOBAL_RULES = 2;
export const RULES_PER_TENANT = 2;

/** The principal attributes a Steward workload has and a Cerbos principal is given. */
export interface BenchWorkload {
  /** A short name for this bench's own use; Steward knows it by its identity's id. */
  readonly name: string;
  readonly service: string;
  readonly environment: 'sandbox' | 'pilot' | 'production';
  readonly agentPath: string;
}

export interface BenchTool {
  readonly name: string;
  readonly upstream: string;
  readonly sensitive: boolean;
}

export interface BenchRequest {
  readonly name: string;
  readonly workload: BenchWorkload;
  readonly tool: BenchTool;
  readonly expected: 'allow' | 'deny';
}

export const TEAM = 'bench';
export const TENANT_SERVICE = 'svc-0';
/** A service with no tenant rules of its own. */
export const OTHER_SERVICE = 'svc-other';

export const WORKLOADS = {
  sandboxWorker: {
    name: 'sandbox-worker',
    service: TENANT_SERVICE,
    environment: 'sandbox',
    agentPath: 'worker',
  },
  productionWorker: {
    name: 'production-worker',
    service: TENANT_SERVICE,
    environment: 'production',
    agentPath: 'worker',
  },
  productionRefunds: {
    name: 'production-refunds',
    service: TENANT_SERVICE,
    environment: 'production',
    agentPath: 'refunds-bot',
  },
  otherSandbox: {
    name: 'other-sandbox',
    service: OTHER_SERVICE,
    environment: 'sandbox',
    agentPath: 'worker',
  },
  otherPilotOncall: {
    name: 'other-pilot-oncall',
    service: OTHER_SERVICE,
    environment: 'pilot',
    agentPath: 'oncall',
  },
  otherProductionOncall: {
    name: 'other-production-oncall',
    service: OTHER_SERVICE,
    environment: 'production',
    agentPath: 'oncall',
  },
} as const satisfies Record<string, BenchWorkload>;

const LOOKUP: BenchTool = { name: 'lookup', upstream: 'u0', sensitive: false };
const REFUND: BenchTool = { name: 'refund', upstream: 'u0', sensitive: true };

/** Cycled call by call: each outcome decided by another rule, in both engines. */
export const REQUESTS: readonly BenchRequest[] = [
  {
    name: 'tenant, sandbox, lookup',
    workload: WORKLOADS.sandboxWorker,
    tool: LOOKUP,
    expected: 'allow',
  },
  {
    name: 'tenant, production, refund',
    workload: WORKLOADS.productionWorker,
    tool: REFUND,
    expected: 'deny',
  },
  {
    name: 'tenant refunds agent, production, refund',
    workload: WORKLOADS.productionRefunds,
    tool: REFUND,
    expected: 'deny',
  },
  {
    name: 'tenant, production, lookup',
    workload: WORKLOADS.productionWorker,
    tool: LOOKUP,
    expected: 'allow',
  },
  {
    name: 'other service, sandbox, lookup',
    workload: WORKLOADS.otherSandbox,
    tool: LOOKUP,
    expected: 'allow',
  },
  {
    name: 'other service oncall, pilot, refund',
    workload: WORKLOADS.otherPilotOncall,
    tool: REFUND,
    expected: 'allow',
  },
  {
    name: 'other service oncall, production, refund',
    workload: WORKLOADS.otherProductionOncall,
    tool: REFUND,
    expected: 'deny',
  },
  {
    name: 'other service, sandbox, refund',
    workload: WORKLOADS.otherSandbox,
    tool: REFUND,
    expected: 'deny',
  },
];

/** Tenants in a set of `rules` rules; throws unless the size fits the model. */
export function tenantsFor(rules: number): number {
  const tenants = (rules - GLOBAL_RULES) / RULES_PER_TENANT;
  if (!Number.isSafeInteger(tenants) || tenants < 1) {
    throw new RangeError(
      `${rules} rules do not fit: 2 globals and 2 per tenant, at least one tenant`,
    );
  }
  return tenants;
}

const INVOKE = 'Steward::Action::"invoke_tool"';

/** The Cedar text Steward stores (`PUT /v1/policies`), compact: Steward limits a set's length. */
export function cedarPolicies(rules: number): string {
  const tenants = tenantsFor(rules);
  const out = [
    `@id("g-sandbox")\npermit(principal,action==${INVOKE},resource)when{principal.environment=="sandbox"&&!resource.sensitive};`,
    `@id("g-oncall")\npermit(principal,action==${INVOKE},resource)when{principal.agentPath=="oncall"};`,
  ];
  for (let t = 0; t < tenants; t++) {
    out.push(
      `@id("t${t}a")\npermit(principal in Steward::Service::"svc-${t}",action==${INVOKE},resource in Steward::Upstream::"u${t}")when{principal.environment!="production"||!resource.sensitive};`,
      `@id("t${t}d")\nforbid(principal,action==${INVOKE},resource in Steward::Upstream::"u${t}")when{resource.sensitive&&principal.environment=="production"&&!(principal.agentPath like "refunds*")};`,
    );
  }
  return `${out.join('\n')}\n`;
}

/** A Cerbos policy file: its name in the disk store and its JSON text. */
export interface CerbosPolicyFile {
  readonly file: string;
  readonly text: string;
}

const rule = (name: string, effect: 'EFFECT_ALLOW' | 'EFFECT_DENY', expr: string) => ({
  name,
  actions: ['invoke_tool'],
  effect,
  roles: ['*'],
  condition: { match: { expr } },
});

/** The Cerbos disk store's files: the root policy and one scoped policy per tenant. */
export function cerbosPolicies(rules: number): CerbosPolicyFile[] {
  const tenants = tenantsFor(rules);
  const policy = (scope: string | undefined, ruleList: unknown[]) =>
    JSON.stringify({
      apiVersion: 'api.cerbos.dev/v1',
      resourcePolicy: {
        resource: 'tool',
        version: 'default',
        ...(scope === undefined ? {} : { scope }),
        rules: ruleList,
      },
    });
  const files: CerbosPolicyFile[] = [
    {
      file: 'root.json',
      text: policy(undefined, [
        rule('g-sandbox', 'EFFECT_ALLOW', 'P.attr.environment == "sandbox" && !R.attr.sensitive'),
        rule('g-oncall', 'EFFECT_ALLOW', 'P.attr.agentPath == "oncall"'),
      ]),
    },
  ];
  for (let t = 0; t < tenants; t++) {
    files.push({
      file: `u${t}.json`,
      text: policy(`u${t}`, [
        rule(
          `t${t}a`,
          'EFFECT_ALLOW',
          `P.attr.service == "svc-${t}" && (P.attr.environment != "production" || !R.attr.sensitive)`,
        ),
        rule(
          `t${t}d`,
          'EFFECT_DENY',
          'R.attr.sensitive && P.attr.environment == "production" && !P.attr.agentPath.startsWith("refunds")',
        ),
      ]),
    });
  }
  return files;
}

/** The Cerbos `CheckResources` body for one request (HTTP `POST /api/check/resources`). */
export function cerbosCheck(request: BenchRequest, requestId = 'bench'): string {
  const { workload, tool } = request;
  return JSON.stringify({
    requestId,
    principal: {
      id: workload.name,
      roles: ['workload'],
      attr: {
        service: workload.service,
        environment: workload.environment,
        agentPath: workload.agentPath,
        team: TEAM,
      },
    },
    resources: [
      {
        actions: ['invoke_tool'],
        resource: {
          kind: 'tool',
          id: `${tool.upstream}/${tool.name}`,
          scope: tool.upstream,
          attr: { name: tool.name, upstream: tool.upstream, sensitive: tool.sensitive },
        },
      },
    ],
  });
}

/** The decision in a Cerbos `CheckResources` answer, for the one resource and action asked. */
export function cerbosDecision(answer: unknown): 'allow' | 'deny' {
  const effect = (answer as { results?: { actions?: Record<string, string> }[] }).results?.[0]
    ?.actions?.['invoke_tool'];
  if (effect === 'EFFECT_ALLOW') return 'allow';
  if (effect === 'EFFECT_DENY') return 'deny';
  throw new Error(`Cerbos answered no effect for invoke_tool: ${JSON.stringify(answer)}`);
}

/** The `POST /v1/authorize` body for one request, given the workload's identity id. */
export function stewardAuthorize(request: BenchRequest, identityId: string): string {
  const { tool } = request;
  return JSON.stringify({
    principal: { identity: identityId },
    action: 'invoke_tool',
    resource: {
      type: 'Tool',
      id: `${tool.upstream}/${tool.name}`,
      attrs: { name: tool.name, upstream: tool.upstream, sensitive: tool.sensitive },
      parents: [{ type: 'Upstream', id: tool.upstream }],
    },
  });
}
