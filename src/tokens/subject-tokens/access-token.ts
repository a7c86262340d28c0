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
  // Renewals are the steady load of the token service: they are issued with group commit.
  const parent = await deps.db
    .selectFrom('tokens')
    .select(['jti', 'session_id', 'session_expires_at'])
    .where('jti', '=', current.jti)
    .executeTakeFirst();
  if (!parent) throw new OAuthError('invalid_grant', 'The subject token is not in the inventory.');
  const sessionExpiresMs = Date.parse(parent.session_expires_at);
  if (sessionExpiresMs <= deps.clock.now()) {
    throw new OAuthError(
      'invalid_grant',
      'The session has reached its maximum lifetime: attest again.',
    );
  }
  const subject = await steps.loadSubject(deps.db, current.client_id);
  // A renewal keeps the task unless another one of the same identity is named.
  const task = await steps.taskFor(deps.db, request.task ?? current.task, subject.id);
  return deps.issuer.issue(steps.context(subject.id, request.requestId), {
    subject,
    audience: request.audience,
    attestation: 'renewal',
    ttlSeconds: request.ttlSeconds,
    task,
    parent: { jti: parent.jti, sid: parent.session_id, sessionExpiresMs },
    act: request.act ?? current.act,
    clientAddress: request.clientAddress,
  });
};
