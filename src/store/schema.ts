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
  target_kind: string;
  target_id: string;
  team: string | null;
  service: string | null;
  identity_id: string | null;
  /** JSON text, or null when there was no "before" (creation) or "after" (deletion). */
  before: string | null;
  after: string | null;
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
}
