import { Buffer } from 'node:buffer';

/**
 * Who the agent is, as its Steward access token says: the workload identity's id (what the API
 * takes as `identity`), its SPIFFE ID, and where it runs.
 *
 * @example
 * const me: AgentIdentity = await agent.identity();
 * console.log(me.spiffeId); // spiffe://steward.local/sandbox/refund-agent/planner
 */
export interface AgentIdentity {
  /** The workload identity's id (the token's `client_id`). */
  readonly id: string;
  /** `spiffe://<trust-domain>/<environment>/<service>/<agent-path>` (the token's `sub`). */
  readonly spiffeId: string;
  readonly service: string;
  readonly environment: string;
  readonly agentPath: string;
}

/**
 * Reads the identity from a Steward access token's payload WITHOUT verifying its signature.
 *
 * That is sound for the holder: the agent got the token straight from the Steward it chose to
 * trust, over that connection, and uses the claims only to name itself in its own requests.
 * Nothing is authorised on the strength of this decoding: Steward verifies the token on every
 * use, and refuses a request whose identity does not match the token's.
 */
export function identityFromToken(token: string): AgentIdentity {
  const payload = token.split('.')[1];
  let claims: Record<string, unknown> | undefined;
  if (payload !== undefined) {
    try {
      const parsed: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      if (parsed !== null && typeof parsed === 'object') claims = parsed as Record<string, unknown>;
    } catch {
      claims = undefined;
    }
  }
  const text = (name: string): string => {
    const value = claims?.[name];
    if (typeof value !== 'string' || value === '') {
      // The message names the claim only: the token itself never goes into an error.
      throw new TypeError(`The access token Steward issued has no "${name}" claim.`);
    }
    return value;
  };
  return {
    id: text('client_id'),
    spiffeId: text('sub'),
    service: text('service'),
    environment: text('environment'),
    agentPath: text('agent_path'),
  };
}
