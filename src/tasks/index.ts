export { createTaskService, loadTask, MAX_TASK_SECONDS } from './tasks.js';
export type { TaskService, Task } from './tasks.js';
