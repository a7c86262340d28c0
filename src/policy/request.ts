import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { StewardError } from '../errors/index.js';
import type { AuthorizationRequest, CedarJson, Entity, EntityUid } from './engine/index.js';
import { uid } from './entities.js';
import { checkContext, checkEntity, type SchemaVerdict } from './request-check.js';
import { ACTIONS, actionUid, isAction, qualified, SCHEMA_JSON } from './schema.js';
import { loneSurrogateAt, showLoneSurrogates } from './text.js';

/** A resource as a caller names it: `{type: "Tool", id: "crm/refund"}`, with attributes if Steward does not know it. */
export interface ResourceInput {
  readonly type: string;
  readonly id: string;
  /** The entity's attributes and parents, for resources the registry does not hold (yet). */
  readonly attrs?: Readonly<Record<string, unknown>>;
  readonly parents?: readonly { readonly type: string; readonly id: string }[];
}

/** The workload a decision is about, resolved from an identity id or a verified access token. */
export interface ResolvedPrincipal {
  readonly identityId: string;
  readonly environment: string;
  readonly service: string;
  readonly team: string;
  /** From the access token, when it was issued for a task. */
  readonly task?: string;
}

/** A decision request as the API and the CLI take it. */
export interface RequestInput {
  readonly action: string;
  readonly resource: ResourceInput;
  readonly context?: Readonly<Record<string, unknown>>;
}

/** Context attributes Steward sets itself; a caller may not supply them. */
const STEWARD_CONTEXT = ['environment', 'time'] as const;

/** One refusal of a malformed request: 400 `policy_request_invalid` pointing at the field. */
export function badRequest(pointer: string, detail: string): StewardError {
  return new StewardError(
    'policy_request_invalid',
    `The authorization request is not valid: ${detail}`,
    {
      errors: [{ pointer, detail }],
    },
  );
}

/**
 * Builds the Cedar request for `input` about `principal` at `now`, and checks it against the
 * schema: a known action, a resource of the type that action applies to, and a context of the
 * declared shape. Steward sets `environment` and `time`, and `task` when the token has one.
 *
 * @returns the request, and the resource entity when the caller described it.
 * @throws StewardError `policy_request_invalid` when any part does not fit the schema.
 */
export function buildRequest(
  principal: ResolvedPrincipal,
  input: RequestInput,
  now: number,
  options: {
    taskFromToken: boolean;
    knows: (entity: EntityUid) => boolean;
    /**
     * Check the described entity and the context against the schema (default): in JS against
     * the schema Steward holds (microseconds), and with the official parser for the rare forms
     * those checks leave to it (see `request-check.ts`). The gateway builds its requests from
     * the registry and its own fields, and refuses any call whose evaluation errors, so a shape
     * mistake there can only refuse: it skips them.
     */
    schemaChecks?: boolean;
  },
): { request: AuthorizationRequest; resourceEntity?: Entity } {
  const schemaChecks = options.schemaChecks ?? true;
  if (!isAction(input.action)) {
    throw badRequest(
      '/body/action',
      `unknown action ${JSON.stringify(input.action)}; the actions are ${Object.keys(ACTIONS).join(', ')}`,
    );
  }
  const resourceType = qualified(input.resource.type);
  const expected = qualified(ACTIONS[input.action]);
  if (resourceType !== expected) {
    throw badRequest(
      '/body/resource/type',
      `action ${input.action} applies to ${expected}, not ${JSON.stringify(input.resource.type)}`,
    );
  }
  requireText(input.resource.id, '/body/resource/id');
  requireText(input.resource.attrs, '/body/resource/attrs');
  (input.resource.parents ?? []).forEach((p, i) => requireText(p, `/body/resource/parents/${i}`));
  requireText(input.context, '/body/context');
  const resource: EntityUid = { type: resourceType, id: input.resource.id };
  let resourceEntity: Entity | undefined;
  if (input.resource.attrs !== undefined || input.resource.parents !== undefined) {
    if (options.knows(resource)) {
      throw badRequest(
        '/body/resource',
        `${resourceType}::${JSON.stringify(resource.id)} is known to Steward: do not describe it`,
      );
    }
    resourceEntity = {
      uid: resource,
      attrs: (input.resource.attrs ?? {}) as Record<string, CedarJson>,
      parents: (input.resource.parents ?? []).map((p) => ({ type: qualified(p.type), id: p.id })),
    };
    if (schemaChecks) {
      const verdict =
        checkEntity(resourceEntity, '/body/resource') ?? officialEntityCheck(resourceEntity);
      if (!verdict.ok) throw badRequest(verdict.pointer, verdict.detail);
    }
  } else if (!options.knows(resource)) {
    // Without its attributes a forbid reading them would error and be skipped: refuse instead.
    throw badRequest(
      '/body/resource',
      `${resourceType}::${JSON.stringify(resource.id)} is not known to Steward; describe it with attrs (and parents)`,
    );
  }

  const given = input.context ?? {};
  for (const name of STEWARD_CONTEXT) {
    if (Object.hasOwn(given, name)) throw badRequest(`/body/context/${name}`, 'is set by Steward');
  }
  if (options.taskFromToken && Object.hasOwn(given, 'task')) {
    throw badRequest('/body/context/task', "is taken from the principal's token");
  }
  const context: Record<string, CedarJson> = {};
  for (const [name, value] of Object.entries(given)) {
    context[name] = contextValue(name, value);
  }
  context['environment'] = principal.environment;
  context['time'] = { __extn: { fn: 'datetime', arg: new Date(now).toISOString() } };
  if (principal.task !== undefined) context['task'] = principal.task;
  const action = actionUid(input.action);
  if (schemaChecks) {
    const verdict =
      checkContext(context, input.action, '/body/context') ?? officialContextCheck(context, action);
    if (!verdict.ok) throw badRequest(verdict.pointer, verdict.detail);
  }
  return {
    request: { principal: uid('Workload', principal.identityId), action, resource, context },
    ...(resourceEntity ? { resourceEntity } : {}),
  };
}

/** The official parser's verdict on a described entity, for what `checkEntity` leaves to it. */
export function officialEntityCheck(entity: Entity): Exclude<SchemaVerdict, undefined> {
  const checked = cedar.checkParseEntities({
    entities: [entity as cedar.EntityJson],
    schema: SCHEMA_JSON,
  });
  return checked.type === 'failure'
    ? {
        ok: false,
        pointer: '/body/resource',
        detail: checked.errors.map((e) => e.message).join('; '),
      }
    : { ok: true };
}

/** The official parser's verdict on a request's context, for what `checkContext` leaves to it. */
export function officialContextCheck(
  context: Readonly<Record<string, CedarJson>>,
  action: EntityUid,
): Exclude<SchemaVerdict, undefined> {
  const checked = cedar.checkParseContext({
    context: context as cedar.Context,
    schema: SCHEMA_JSON,
    action,
  });
  return checked.type === 'failure'
    ? {
        ok: false,
        pointer: '/body/context',
        detail: checked.errors.map((e) => e.message).join('; '),
      }
    : { ok: true };
}

/**
 * Refuses a lone UTF-16 surrogate in any string or attribute name of `value` (the official
 * engine cannot read one, and the fast evaluator would decide what Cedar cannot), pointing at the
 * first. An explicit stack rather than recursion: the walk is linear and any depth is safe.
 */
function requireText(value: unknown, pointer: string): void {
  const stack: [unknown, string][] = [[value, pointer]];
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    const [v, at] = next;
    if (typeof v === 'string') {
      if (loneSurrogateAt(v) >= 0) {
        throw badRequest(
          showLoneSurrogates(at),
          `${showLoneSurrogates(at)} holds a lone UTF-16 surrogate, which is not a character: Cedar strings must be valid Unicode`,
        );
      }
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${at}/${i}`]);
    } else if (typeof v === 'object' && v !== null) {
      const entries: [string, unknown][] = Object.entries(v as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [name, item] = entries[i] ?? ['', undefined];
        const step = `${at}/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`;
        if (loneSurrogateAt(name) >= 0) stack.push([name, step]);
        else stack.push([item, step]);
      }
    }
  }
}

/**
 * Caller-friendly forms to Cedar's: an address string to `ip(…)`, a `time` string to
 * `datetime(…)`, an arguments object to `{name, value}` pairs. Anything else is passed as is and
 * checked against the schema.
 */
export function contextValue(name: string, value: unknown): CedarJson {
  if (name === 'clientAddress' && typeof value === 'string') {
    return { __extn: { fn: 'ip', arg: value } };
  }
  if (
    name === 'arguments' &&
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value)
  ) {
    return Object.entries(value as Record<string, unknown>).map(([argument, v]) => ({
      name: argument,
      value: typeof v === 'string' ? v : (JSON.stringify(v) ?? 'null'),
    }));
  }
  return value as CedarJson;
}
