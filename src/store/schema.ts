/**
 * Table shapes as Kysely sees them. Times are ISO 8601 UTC strings in both databases (PostgreSQL
 * stores `timestamptz` and hands them back as ISO strings; SQLite stores text), booleans are 0/1
 * integers, and JSON documents are text, so that one set of queries serves both.
 */
import type { Generated } from 'kysely';

export interface TeamTable {
  id: string;
  name: string;
  description: string;
  contact: string;
  escalation: string;
  on_call: string;
  created_at: string;
  updated_at: string;
}

export interface PersonTable {
  id: string;
  team_id: string;
  name: string;
  email: string;
  team_role: string;
  active: number;
  created_at: string;
  updated_at: string;
}

export interface ServiceTable {
  id: string;
  team_id: string;
  name: string;
  description: string;
  data_classification: string;
  runbook_url: string;
  rollback_plan: string;
  /** JSON array of environment names besides `sandbox`, which every service may use. */
  admitted_environments: string;
  created_at: string;
  updated_at: string;
}

export interface IdentityTable {
  id: string;
  service_id: string;
  environment: string;
  agent_path: string;
  spiffe_id: string;
  description: string;
  status: string;
  status_reason: string | null;
  status_changed_by: string | null;
  status_changed_at: string | null;
  max_token_ttl_seconds: number;
  /** How long a chain of renewals may last from its first token. */
  max_session_seconds: number;
  created_by: string;
  created_at: string;
  updated_at: string;
  last_used_at: string | null;
}

export interface ApiKeyTable {
  id: string;
  name: string;
  role: string;
  team_id: string | null;
  /** SHA-256 of the whole key, hex. The key itself is never stored. */
  key_hash: string;
  /** The first characters of the key, enough to recognise it in a list, never to use it. */
  key_prefix: string;
  created_by: string;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
  last_used_at: string | null;
}

export interface AuditEventTable {
  seq: Generated<number>;
  id: string;
  occurred_at: string;
  type: string;
  actor: string;
  actor_role: string;
  request_id: string | null;
  /** The caller's own request id, beside Steward's (migration 0005). */
  client_request_id: string | null;
  target_kind: string;
  target_id: string;
  team: string | null;
  service: string | null;
  identity_id: string | null;
  /** JSON text, or null when there was no "before" (creation) or "after" (deletion). */
  before: string | null;
  after: string | null;
}

export interface SigningKeyTable {
  kid: string;
  alg: string;
  /** The public JWK, JSON. */
  public_jwk: string;
  /** PKCS#8 DER, sealed under the master key with the kid as context. */
  private_key: string;
  created_at: string;
  /** When the key starts signing; it is published in the JWKS from `created_at`. */
  activates_at: string;
  /** Set when the key was withdrawn (compromise): neither signs nor verifies from then on. */
  revoked_at: string | null;
  /** The id of the master key that sealed `private_key`; null for keys older than migration 4. */
  wrapped_by: string | null;
}

export interface JoinTokenTable {
  id: string;
  identity_id: string;
  token_hash: string;
  created_by: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  used_from: string | null;
}

export interface FederationTrustTable {
  id: string;
  name: string;
  issuer: string;
  jwks_uri: string | null;
  /** Inline JWKS, JSON, for issuers Steward cannot or should not fetch from. */
  jwks: string | null;
  audience: string;
  /** JSON object: claim name → required value. */
  conditions: string;
  identity_id: string;
  created_by: string;
  created_at: string;
}

export interface TaskTable {
  id: string;
  identity_id: string;
  description: string;
  status: string;
  deadline_at: string;
  created_by: string;
  created_at: string;
  closed_at: string | null;
  closed_by: string | null;
}

/** The token inventory: metadata of every issued token; never the token itself. */
export interface TokenTable {
  jti: string;
  identity_id: string;
  audience: string;
  task_id: string | null;
  attestation: string;
  parent_jti: string | null;
  /** The jti of the first token of a renewal chain; revoking it revokes the chain. */
  session_id: string;
  kid: string;
  issued_at: string;
  expires_at: string;
  session_expires_at: string;
  client_address: string | null;
  /** RFC 8693 `act` claim, JSON, when the token was issued on someone's behalf. */
  actor: string | null;
}

export interface RevocationTable {
  seq: Generated<number>;
  /** `token` (a jti), `session` (a chain), `identity`, `service_environment`, `task`. */
  kind: string;
  subject: string;
  revoked_at: string;
  /** After this, no token the entry covers can still be valid, so the entry can be swept. */
  expires_at: string;
  reason: string;
  revoked_by: string;
}

/** One version of the Cedar policy set; the current set is the highest version. */
export interface PolicyVersionTable {
  version: number;
  /** The Cedar text exactly as written, comments included. */
  text: string;
  policy_count: number;
  /** The actor reference of whoever wrote it (`apikey:<id>`). */
  author: string;
  message: string;
  /** Set when this version restores the text of an older one. */
  rolled_back_from: number | null;
  created_at: string;
}

/** A secret's metadata; its values live in `secret_versions`, sealed. */
export interface SecretTable {
  id: string;
  name: string;
  /** The owning team, or null for a secret only admins and security manage. */
  team_id: string | null;
  description: string;
  rotation_period_seconds: number | null;
  current_version: number;
  created_by: string;
  created_at: string;
  updated_at: string;
  last_rotated_at: string;
  /** When the gateway saw the current value come back from an upstream; a rotation clears it. */
  exposed_at: string | null;
}

/**
 * One value of a secret: sealed under its own data key, and the data key sealed under the
 * master key whose id is `wrapped_by`. Both seals bind the secret id and version as context.
 */
export interface SecretVersionTable {
  secret_id: string;
  version: number;
  ciphertext: string;
  data_key: string;
  wrapped_by: string;
  created_by: string;
  created_at: string;
}

export interface UpstreamTable {
  id: string;
  name: string;
  kind: string;
  url: string;
  team_id: string;
  classification: string;
  credential_secret_id: string | null;
  /** JSON: `{secret, in, name, format}`, or null. */
  credential: string | null;
  /** JSON array of operations. */
  operations: string;
  /** JSON array of sensitive operation names. */
  sensitive: string;
  timeout_ms: number;
  max_request_bytes: number;
  max_response_bytes: number;
  record_content: number;
  /** JSON `{perSecond, burst}`, or null. */
  rate_limit: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

/** An address or network an admin allowed upstreams to reach despite the egress guard. */
export interface EgressAllowTable {
  id: string;
  /** Canonical CIDR: `127.0.0.1/32`, `10.1.0.0/16`, `fd00::/8`. */
  address: string;
  reason: string;
  created_by: string;
  created_at: string;
}

/** An agent's MCP session at the gateway (see `src/gateway/mcp/sessions.ts`). */
export interface McpSessionTable {
  /** SHA-256 of the session id, hex. */
  id_hash: string;
  identity_id: string;
  upstream: string;
  /** JSON: the client capabilities the gateway relays (elicitation, sampling, roots). */
  capabilities: string;
  protocol_version: string;
  /** The upstream's `Mcp-Session-Id` every replica uses for this session, once one connected. */
  upstream_session_id: string | null;
  upstream_protocol_version: string | null;
  created_at: string;
  expires_at: string;
}

/** A message handed from the replica that received it to the one waiting for it. */
export interface McpSessionMessageTable {
  id: string;
  mailbox: string;
  /** The JSON-RPC message, as JSON. */
  payload: string;
  expires_at: string;
}

/** Per MCP upstream: whether its tools are pinned, and what a changed definition does (src/toolpins). */
export interface ToolPinUpstreamTable {
  upstream_id: string;
  /** `hide` or `warn`. */
  on_change: string;
  pinned_at: string | null;
  updated_by: string;
  updated_at: string;
}

/** One MCP tool's accepted definition and the one last seen (canonical JSON, SHA-256 hex). */
export interface ToolPinTable {
  upstream_id: string;
  tool: string;
  pinned_hash: string | null;
  pinned_definition: string | null;
  pinned_by: string | null;
  pinned_at: string | null;
  current_hash: string | null;
  current_definition: string | null;
  observed_at: string;
}

export interface MetaTable {
  key: string;
  value: string;
}

export interface Database {
  teams: TeamTable;
  people: PersonTable;
  services: ServiceTable;
  identities: IdentityTable;
  api_keys: ApiKeyTable;
  audit_events: AuditEventTable;
  meta: MetaTable;
  signing_keys: SigningKeyTable;
  join_tokens: JoinTokenTable;
  federation_trusts: FederationTrustTable;
  tasks: TaskTable;
  tokens: TokenTable;
  revocations: RevocationTable;
  policy_versions: PolicyVersionTable;
  secrets: SecretTable;
  secret_versions: SecretVersionTable;
  upstreams: UpstreamTable;
  egress_allowlist: EgressAllowTable;
  mcp_sessions: McpSessionTable;
  mcp_session_messages: McpSessionMessageTable;
  tool_pin_upstreams: ToolPinUpstreamTable;
  tool_pins: ToolPinTable;
}
