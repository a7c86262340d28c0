export { startJobs } from './scheduler.js';
export type { Job, Scheduler } from './scheduler.js';
