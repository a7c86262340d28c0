export { up } from './up.js';
export type { RunningSteward, UpOptions } from './up.js';
export { createCore } from './core.js';
export type { Core } from './core.js';
export { createLogger } from './logger.js';
export { DataDirUnsafeError, BOOTSTRAP_KEY_FILE } from './data-dir.js';
export { recoverAdmin, RecoveryRefusedError } from './recover.js';
export type { RecoverOptions, RecoveryRefusal } from './recover.js';
