export { recordChange, auditRow, appendAuditRows } from './record.js';
export type { ChangeRecord } from './record.js';
export { queryAudit, loadDecisionRecords } from './query.js';
export type { AuditEvent, AuditFilter, RecordedDecision } from './query.js';
export { AUDIT_EVENT_TYPES } from './event-types.js';
export type { AuditEventType } from './event-types.js';
