/**
 * An error answer from Steward's API, parsed from its RFC 9457 problem document. `code` is stable:
 * match on it, not on `detail`.
 */
export class StewardApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly requestId: string | undefined;
  readonly errors: readonly { pointer: string; detail: string }[];

  constructor(init: {
    status: number;
    code: string;
    detail: string;
    requestId?: string | undefined;
    errors?: readonly { pointer: string; detail: string }[] | undefined;
  }) {
    super(`${init.code}: ${init.detail}`);
    this.name = 'StewardApiError';
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    this.requestId = init.requestId;
    this.errors = init.errors ?? [];
  }
}

/** Steward could not be reached at all (refused, DNS, timeout): nothing was decided. */
export class StewardUnreachableError extends Error {
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    super(`cannot reach Steward at ${url}: ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
    });
    this.name = 'StewardUnreachableError';
  }
}
