/**
 * Every scenario `npm run bench` knows, in the order a bare `npm run bench` runs them. A new
 * scenario is one file in this folder and one line here.
 */
import type { Scenario } from '../harness/scenario.js';
import { gateway } from './gateway.js';
import { identityCreate } from './identity-create.js';
import { identityList } from './identity-list.js';
import { policyDecision } from './policy-decision.js';
import { revocationPropagation } from './revocation-propagation.js';
import { tokenMint } from './token-mint.js';
import { tokenVerify } from './token-verify.js';

export const scenarios: readonly Scenario[] = [
  identityCreate,
  identityList,
  tokenMint,
  tokenVerify,
  revocationPropagation,
  policyDecision,
  gateway,
];
