export { createKeyring, KEYS_CHANNEL } from './keyring.js';
export type { Keyring, KeySchedule, KeyInfo, SigningKey, PublishedKey } from './keyring.js';
export { SIGNING_ALGORITHMS, signInput, verifyInput, base64urlJson } from './jws.js';
export type { SigningAlgorithm } from './jws.js';
export { rewrapSigningKeys, checkMasterKey } from './sealed.js';
