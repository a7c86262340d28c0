export { openStore, DataDirLockedError } from './open.js';
export type { Store, StoreOptions } from './open.js';
export type { Dialect } from './dialect.js';
export type { AuditEventRow } from './append.js';
export type { Database } from './schema.js';
export { isStoreUnavailable, isUniqueViolation, StoreUnavailableError } from './errors.js';
export type { Notifications } from './notifications.js';
export { createReplication } from './replicated.js';
export type {
  ReplicatedCache,
  Replication,
  ReplicationFailure,
  ReplicationFailureCounts,
} from './replicated.js';
export { claimMarker } from './meta.js';
export { createGroupCommit } from './group-commit.js';
export { GroupCommitFullError } from './group-commit.js';
export type { GroupCommit } from './group-commit.js';
