export { seal, open } from './envelope.js';
