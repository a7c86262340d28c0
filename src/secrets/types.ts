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
  /**
   * Marks a secret as exposed (the gateway saw `value` come back from an upstream), so that it
   * shows as due for rotation until it is rotated. Only when `value` is still the current
   * version: a value already rotated away needs nothing. Returns whether it marked.
   */
  markExposed(name: string, value: string): Promise<boolean>;
}
