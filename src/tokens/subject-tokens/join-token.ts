import { OAuthError } from '../errors.js';
import type { SubjectTokenExchange } from './steps.js';

/**
 * `urn:steward:token-type:join-token`: a single-use join token starts a session. The first token
 * is recorded in the transaction that spends the join token, so a join token is never used up
 * without its token on record; a replayed one revokes the session it started.
 */
export const exchangeJoinToken: SubjectTokenExchange = async (request, deps, steps) => {
  const outcome = await deps.db.transaction().execute(async (trx) => {
    const redeemed = await deps.joinTokens.redeem(trx, request.subjectToken, request.clientAddress);
    if (!redeemed.ok) return redeemed;
    const subject = await steps.loadSubject(trx, redeemed.identityId);
    const task = await steps.taskFor(trx, request.task, subject.id);
    const minted = await deps.minter.mint(trx, steps.context(subject.id, request.requestId), {
      subject,
      audience: request.audience,
      attestation: `join_token:${redeemed.joinTokenId}`,
      ttlSeconds: request.ttlSeconds,
      task,
      act: request.act,
      clientAddress: request.clientAddress,
    });
    return { ok: true as const, minted };
  });
  if (outcome.ok) {
    steps.rememberSession(outcome.minted);
    return outcome.minted;
  }
  if (outcome.reason === 'replayed' && outcome.joinTokenId !== undefined)
    await deps.revoker.revokeJoinSession(outcome.joinTokenId);
  throw new OAuthError(
    'invalid_grant',
    outcome.reason === 'replayed'
      ? 'The join token was already used.'
      : outcome.reason === 'expired'
        ? 'The join token has expired.'
        : 'The join token is not valid.',
  );
};
