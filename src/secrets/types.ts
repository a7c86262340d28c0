/**
 * The secret store's contract with the gateway: the gateway may read a value to inject it; the
 * API never returns one.
 */
export interface SecretReader {
  /**
   * The current value of a secret, for injection into an upstream request. Throws when the
   * secret does not exist or cannot be decrypted; the gateway then refuses the call (fail closed).
   */
  reveal(name: string): Promise<string>;
}
