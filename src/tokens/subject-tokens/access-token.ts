import { STEWARD_AUDIENCE } from '../claims.js';
import { OAuthError } from '../errors.js';
import type { SubjectTokenExchange } from './steps.js';

/**
 * `urn:ietf:params:oauth:token-type:access_token`: renewal of a still-valid Steward token, in the
 * same session and delegation chain, never past the session's maximum lifetime.
 */
export const renewAccessToken: SubjectTokenExchange = async (request, deps, steps) => {
  const current = steps.verifySteward(request.subjectToken, 'subject token').claims;
  // A token given to an upstream must not be turned into a token for anything else: only
  // a token for Steward itself (the agent's session token) may be exchanged across audiences.
  if (current.aud !== STEWARD_AUDIENCE && current.aud !== request.audience) {
    throw new OAuthError(
      'invalid_target',
      `A token for ${current.aud} can only be renewed for ${current.aud}.`,
    );
  }
  // Renewals are the steady load of the token service: they are answered from the verified
  // claims and this process's caches (the session's end never changes; the workload is checked
  // again by the transaction that issues), and issued with group commit.
  const session = await steps.session(current);
  if (session.expiresMs <= deps.clock.now()) {
    throw new OAuthError(
      'invalid_grant',
      'The session has reached its maximum lifetime: attest again.',
    );
  }
  const subject = await steps.cachedSubject(current.client_id);
  // A renewal keeps the task unless another one of the same identity is named.
  const task = await steps.taskFor(deps.db, request.task ?? current.task, subject.id);
  let issued;
  try {
    issued = await deps.issuer.issue(
      steps.context(subject.id, request.requestId),
      {
        subject,
        audience: request.audience,
        attestation: 'renewal',
        ttlSeconds: request.ttlSeconds,
        task,
        parent: { jti: current.jti, sid: session.sid, sessionExpiresMs: session.expiresMs },
        act: request.act ?? current.act,
        clientAddress: request.clientAddress,
      },
      { confirmSubject: true },
    );
  } catch (error) {
    if (error instanceof OAuthError) steps.forgetSubject(subject.id);
    throw error;
  }
  steps.rememberSubject(issued.subject);
  steps.rememberSession(issued);
  return issued;
};
