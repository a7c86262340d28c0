import { readFile } from 'node:fs/promises';
import { StewardAuthError, type StewardGrant } from './errors.js';
import { TOKEN_TYPES } from './token-endpoint.js';

/** Proof of identity to start a session with, as the token endpoint takes it. */
export interface Attestation {
  readonly subjectToken: string;
  readonly subjectTokenType: typeof TOKEN_TYPES.joinToken | typeof TOKEN_TYPES.jwt;
  readonly grant: StewardGrant;
}

/**
 * Where a new session's proof comes from. A join token can start one session only; a token file
 * (a Kubernetes projected service-account token, a CI OIDC token written to disk) is read afresh
 * every time, because the platform replaces the file's content before the old token expires.
 */
export interface AttestationSource {
  readonly grant: StewardGrant;
  /** The proof, or undefined when there is none left (a join token already spent). */
  next(): Promise<Attestation | undefined>;
  /**
   * Called once Steward has answered an exchange that used `next()`'s proof, successfully or
   * not: from then on a join token has been redeemed (or refused) and is never sent again.
   */
  answered(): void;
}

/** A single-use join token: offered until Steward has answered once, then forgotten. */
export function joinTokenSource(joinToken: string): AttestationSource {
  let token: string | undefined = joinToken;
  return {
    grant: 'join_token',
    async next() {
      return token === undefined
        ? undefined
        : { subjectToken: token, subjectTokenType: TOKEN_TYPES.joinToken, grant: 'join_token' };
    },
    answered() {
      // Kept only while no answer came (Steward unreachable): a join token the server has seen
      // is spent, and sending it again would be a replay that revokes the session it started.
      token = undefined;
    },
  };
}

/** A token file, re-read on every attestation (the Kubernetes projected-token pattern). */
export function tokenFileSource(file: string): AttestationSource {
  return {
    grant: 'token_file',
    async next() {
      let content: string;
      try {
        content = (await readFile(file, 'utf8')).trim();
      } catch (error) {
        throw new StewardAuthError(
          {
            code: 'token_file_unreadable',
            description: `Cannot read the token file ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}.`,
            grant: 'token_file',
          },
          { cause: error },
        );
      }
      if (content === '') {
        throw new StewardAuthError({
          code: 'token_file_unreadable',
          description: `The token file ${file} is empty.`,
          grant: 'token_file',
        });
      }
      return { subjectToken: content, subjectTokenType: TOKEN_TYPES.jwt, grant: 'token_file' };
    },
    answered() {
      // Nothing to forget: the file is the platform's, and it is read again next time.
    },
  };
}
