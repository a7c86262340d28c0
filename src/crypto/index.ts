export { seal, open } from './envelope.js';
export { masterKeyId } from './key-id.js';
