import { OAuthError } from '../errors.js';
import type { SubjectTokenExchange } from './steps.js';

/**
 * `urn:ietf:params:oauth:token-type:jwt`: a token the workload's platform gave it (Kubernetes,
 * CI), accepted by a federation trust rule that names the one identity it stands for.
 */
export const exchangeFederatedJwt: SubjectTokenExchange = async (request, deps, steps) => {
  const federated = await deps.federation.authenticate(request.subjectToken);
  if (!federated.ok) throw new OAuthError('invalid_grant', federated.reason);
  const subject = await steps.loadSubject(deps.db, federated.identityId);
  const task = await steps.taskFor(deps.db, request.task, subject.id);
  const issued = await deps.issuer.issue(steps.context(subject.id, request.requestId), {
    subject,
    audience: request.audience,
    attestation: `federation:${federated.trust}`,
    ttlSeconds: request.ttlSeconds,
    task,
    act: request.act,
    clientAddress: request.clientAddress,
  });
  steps.rememberSession(issued);
  return issued;
};
