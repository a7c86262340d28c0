/**
 * Schemas shared by routes. One TypeBox schema per route drives request validation, the handler's
 * TypeScript types and the OpenAPI document; every object is closed (`additionalProperties:
 * false`), so an unknown or misspelt field is an error rather than silently ignored.
 */
import { Type, type TLiteral, type TProperties, type TSchema, type TUnion } from 'typebox';
import { ROLES } from '../actors/index.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '../shared/cursor.js';
import {
  AGENT_PATH_MAX_LENGTH,
  AGENT_PATH_PATTERN,
  DATA_CLASSIFICATIONS,
  ENVIRONMENTS,
  IDENTITY_STATUSES,
  NAME_PATTERN,
} from '../registry/index.js';

/** A closed object: unknown properties are rejected. */
export function Strict<T extends TProperties>(
  properties: T,
  options: { description?: string } = {},
) {
  return Type.Object(properties, { additionalProperties: false, ...options });
}

/**
 * A string enum as a union of literals, which reads well in OpenAPI. Its static type is the union
 * of the values (one literal per member: a literal of a union would be `never`).
 */
export function Enum<const T extends readonly string[]>(
  values: T,
  options: { description?: string } = {},
): TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }> {
  return Type.Union(
    values.map((v) => Type.Literal(v)),
    options,
  ) as unknown as TUnion<{ -readonly [K in keyof T]: TLiteral<T[K]> }>;
}

/**
 * Free text: no C0 or C1 control characters (tab, LF and CR aside) and no bidirectional controls
 * (embeddings, overrides, isolates and the invisible marks: the "Trojan Source" trick that makes
 * text display differently from what it is), bounded in length.
 */
const SAFE_TEXT =
  '^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$';
export function Text(
  maxLength: number,
  options: { description?: string; minLength?: number } = {},
) {
  return Type.String({ maxLength, pattern: SAFE_TEXT, ...options });
}

export const Name = Type.String({
  pattern: NAME_PATTERN,
  minLength: 1,
  maxLength: 63,
  description: 'Lowercase letters, digits, ".", "-", "_"; starts and ends with a letter or digit.',
});
export const AgentPath = Type.String({
  pattern: AGENT_PATH_PATTERN,
  minLength: 1,
  maxLength: AGENT_PATH_MAX_LENGTH,
  description: 'One to eight name segments joined by "/", e.g. "planner" or "planner/search".',
});
export const Id = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
  description: 'A UUID.',
});
export const HttpUrl = Type.String({ maxLength: 2048, format: 'uri', pattern: '^https?://' });
export const Email = Type.String({ maxLength: 254, format: 'email' });
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601, UTC.' });
export const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
export const Environment = Enum(ENVIRONMENTS);
export const DataClassification = Enum(DATA_CLASSIFICATIONS);
export const IdentityStatus = Enum(IDENTITY_STATUSES);
export const Role = Enum(ROLES);
export const Reason = Text(1000, { minLength: 1, description: 'Why: recorded in the trail.' });

export const NameParams = Strict({ name: Name });
export const IdParams = Strict({ id: Id });

/** `limit` and `cursor`, shared by every list. */
export const PageQuery = {
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE }),
  ),
  cursor: Type.Optional(
    Type.String({ maxLength: 200, description: "From the previous page's nextCursor." }),
  ),
};

/** A page of `item`s: `nextCursor` is present when there are more. */
export function PageOf<T extends TSchema>(item: T) {
  return Strict({ items: Type.Array(item), nextCursor: Type.Optional(Type.String()) });
}

/** RFC 9457 problem details, with Steward's stable `code` and the request id. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    code: Type.String({ description: 'Stable, machine-readable error code.' }),
    requestId: Type.String(),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          pointer: Type.String(),
          detail: Type.String(),
          line: Type.Optional(Type.Integer()),
          column: Type.Optional(Type.Integer()),
          policyId: Type.Optional(Type.String()),
        }),
      ),
    ),
  },
  { $id: 'Problem' },
);

/** The error responses every route may give, for the OpenAPI document. */
export const ERROR_RESPONSES = {
  '4xx': Problem,
  '5xx': Problem,
} as const;
