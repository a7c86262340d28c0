import * as cedar from '@cedar-policy/cedar-wasm/nodejs';

/** The Cedar namespace of every Steward entity type and action. */
export const NAMESPACE = 'Steward';

/**
 * The actions the gateway asks about, by Cedar action id (`Steward::Action::"invoke_tool"`), with
 * the resource type each applies to. Every action's principal is a `Workload`.
 */
export const ACTIONS = {
  /** Call one MCP tool (`tools/call`). */
  invoke_tool: 'Tool',
  /** List an MCP server's tools (`tools/list`). */
  list_tools: 'Upstream',
  /** Read an MCP resource (`resources/read`). */
  read_resource: 'Resource',
  /** Get an MCP prompt (`prompts/get`). */
  get_prompt: 'Prompt',
  /** Subscribe to (or unsubscribe from) updates of an MCP resource (`resources/subscribe`). */
  subscribe_resource: 'Resource',
  /** Receive an MCP server's own notifications (the session's stream) and set its log level. */
  listen: 'Upstream',
  /** Relay an MCP server's elicitation (`elicitation/create`) to the agent. */
  elicit: 'Upstream',
  /** Relay an MCP server's sampling request (`sampling/createMessage`) to the agent. */
  sample: 'Upstream',
  /** Relay an MCP server's request for the agent's roots (`roots/list`). */
  list_roots: 'Upstream',
  /** One operation of an HTTP upstream. */
  http_request: 'Operation',
  read_dataset: 'Dataset',
  write_dataset: 'Dataset',
} as const satisfies Readonly<Record<string, string>>;

export type ActionName = keyof typeof ACTIONS;

/** Entity types, without the namespace. */
export const ENTITY_TYPES = [
  'Team',
  'Service',
  'Workload',
  'Upstream',
  'Tool',
  'Operation',
  'Resource',
  'Prompt',
  'Dataset',
] as const;

export type EntityTypeName = (typeof ENTITY_TYPES)[number];

const actionDeclarations = Object.entries(ACTIONS)
  .map(
    ([action, resource]) =>
      `  action ${action} appliesTo {\n    principal: [Workload],\n    resource: [${resource}],\n    context: RequestContext\n  };`,
  )
  .join('\n');

/**
 * Steward's Cedar schema, in Cedar's own schema syntax. Policies are validated against it
 * (strict mode) before they are stored, and every request is checked against it before it is
 * decided.
 *
 * Cedar 4.x refuses records with additional attributes (that is the experimental
 * `partial-validate` feature, not in the official build), so a tool call's arguments travel as a
 * set of `{name, value}` pairs with values as text.
 */
export const SCHEMA_TEXT = `namespace ${NAMESPACE} {
  // Who owns and answers for things. The entity id is the team name.
  entity Team = {
    name: String,
  };

  // An AI service or agent application. The entity id is the service name.
  entity Service in [Team] = {
    name: String,
    team: String,
    // public | internal | confidential | restricted
    dataClassification: String,
  };

  // A workload identity. The entity id is the identity id (a UUID).
  entity Workload in [Service] = {
    spiffeId: String,
    service: String,
    // sandbox | pilot | production
    environment: String,
    agentPath: String,
    team: String,
    // active | disabled | decommissioned
    status: String,
  };

  // A tool provider behind the gateway. The entity id is the upstream name.
  entity Upstream in [Team] = {
    name: String,
    // mcp | http
    kind: String,
    classification: String,
    team: String,
  };

  // An MCP tool. The entity id is "<upstream>/<tool>".
  entity Tool in [Upstream] = {
    name: String,
    upstream: String,
    sensitive: Bool,
  };

  // An operation of an HTTP upstream. The entity id is "<upstream>/<operation>".
  entity Operation in [Upstream] = {
    name: String,
    upstream: String,
    sensitive: Bool,
  };

  // An MCP resource and an MCP prompt. The entity id is "<upstream>/<name>".
  entity Resource in [Upstream] = {
    name: String,
    upstream: String,
  };
  entity Prompt in [Upstream] = {
    name: String,
    upstream: String,
  };

  // A data set an agent reads or writes. The entity id is its name.
  entity Dataset in [Team] = {
    name: String,
    classification: String,
    team: String,
  };

  // One argument of a call; the value is its text (numbers and objects as JSON).
  type Argument = {
    name: String,
    value: String,
  };

  type RequestContext = {
    // The workload's environment: sandbox | pilot | production. Set by Steward.
    environment: String,
    // When the decision is made. Set by Steward.
    time: datetime,
    // The task the access token was issued for, when there is one.
    task?: String,
    // HTTP method and path of the call, for HTTP upstreams.
    method?: String,
    path?: String,
    // The caller's network address.
    clientAddress?: ipaddr,
    // A tool's or prompt's arguments; for HTTP upstreams the query parameters, each name once
    // (the gateway refuses a repeated one).
    arguments?: Set<Argument>,
  };

${actionDeclarations}
}
`;

/** The schema in Cedar's JSON schema format. */
export const SCHEMA_JSON: cedar.SchemaJson<string> = (() => {
  const answer = cedar.schemaToJson(SCHEMA_TEXT);
  // The schema is a constant of the program: failing here is a bug caught by the first test.
  if (answer.type === 'failure') {
    throw new Error(`Steward's Cedar schema does not parse: ${answer.errors[0]?.message ?? ''}`);
  }
  return answer.json;
})();

/** `Steward::Tool` for `Tool`; a name that already has a namespace is kept. */
export function qualified(type: string): string {
  return type.includes('::') ? type : `${NAMESPACE}::${type}`;
}

/** The action entity of `action`. */
export function actionUid(action: string): { type: string; id: string } {
  return { type: `${NAMESPACE}::Action`, id: action };
}

/** True when `name` is one of the schema's actions. */
export function isAction(name: string): name is ActionName {
  return Object.hasOwn(ACTIONS, name);
}
