export { buildHttpApp } from './app.js';
export type { HttpAppOptions } from './app.js';
export type { RouteRoles } from './plugins/authentication.js';
