import type { Kysely } from 'kysely';
import { loadServiceOwner, loadWorkload } from '../registry/index.js';
import type { Revocation, RevocationConcerns } from '../revocation/index.js';
import type { Database } from '../store/index.js';
import { loadTask } from '../tasks/index.js';

/**
 * The identity, service and team a revocation is about, for the trail's filters: its subject
 * names them only indirectly (a token, a session, a task) or by name (the kill switch), and an
 * event the identity's filter does not find is an event an auditor misses. The composition root
 * hands this to the revocation list, which cannot read tokens, tasks or the registry itself
 * (they all import it).
 */
export async function revocationConcerns(
  trx: Kysely<Database>,
  entry: Revocation,
): Promise<RevocationConcerns> {
  let identityId: string | undefined;
  switch (entry.kind) {
    case 'identity':
      identityId = entry.subject;
      break;
    case 'token':
    case 'session':
      identityId = (
        await trx
          .selectFrom('tokens')
          .select('identity_id')
          .where(entry.kind === 'token' ? 'jti' : 'session_id', '=', entry.subject)
          .limit(1)
          .executeTakeFirst()
      )?.identity_id;
      break;
    case 'task':
      identityId = (await loadTask(trx, entry.subject))?.identity;
      break;
    case 'service_environment': {
      const service = entry.subject.slice(0, entry.subject.lastIndexOf('/'));
      const owner = await loadServiceOwner(trx, service);
      return { service, ...(owner ? { team: owner.team } : {}) };
    }
  }
  if (identityId === undefined) return {};
  const workload = await loadWorkload(trx, identityId);
  return {
    identityId,
    ...(workload ? { service: workload.service, team: workload.team } : {}),
  };
}
