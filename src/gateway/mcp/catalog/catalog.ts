import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import {
  ErrorCode,
  ListPromptsResultSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesResultSchema,
  ListToolsResultSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import type { Clock } from '../../../shared/clock.js';
import {
  fingerprint,
  servedUnder,
  toolStanding,
  type PinState,
  type ToolFingerprint,
  type ToolPinService,
} from '../../../toolpins/index.js';
import { REFUSAL_CATALOG } from '../../refusals.js';
import type { EnforcementCore, GatewayVerdict } from '../../types.js';
import { JsonRpcError, refusalError, type McpRefusal } from '../errors.js';
import { DEFAULT_GATEWAY_STORE_TIMEOUT_MS } from '../../../config/index.js';
import { waitWithin } from '../../deadline.js';
import type { McpSession } from '../sessions.js';
import type { UpstreamPool } from '../upstream-pool.js';
import { inNormalForm } from './resource-uri.js';
import { compileTemplate, matchesAnyTemplate, type CompiledTemplate } from './uri-template.js';

type Allowed = Extract<GatewayVerdict, { outcome: 'allow' }>;

/** What a call names: a tool (`tools/call`), a prompt (`prompts/get`), a resource (`resources/read`). */
export type CatalogKind = 'tool' | 'prompt' | 'resource';

/** An upstream's listing is trusted this long before it is fetched again (default). */
export const DEFAULT_LISTING_TTL_MS = 30_000;
/** Listings kept per replica (one per upstream, calling identity and kind); the oldest goes. */
export const DEFAULT_MAX_LISTINGS = 1024;
/** Names (tools, prompts, URIs, templates) kept over all listings of a replica; the oldest go. */
export const MAX_LISTED_NAMES = 200_000;

/** Bounds on what one listing may hold; beyond them entries are not known, so not served. */
export const LISTING_LIMITS = {
  pages: 50,
  tools: 1_000,
  prompts: 1_000,
  resources: 10_000,
  templates: 100,
} as const;

const METHOD_NOT_FOUND: number = ErrorCode.MethodNotFound;
const REQUEST_TIMEOUT: number = ErrorCode.RequestTimeout;
const CONNECTION_CLOSED: number = ErrorCode.ConnectionClosed;

export interface McpCatalogOptions {
  /** This replica's upstream clients: a listing is fetched on the caller's own session. */
  readonly pool: Pick<UpstreamPool, 'call'>;
  readonly pins: Pick<ToolPinService, 'state' | 'observe' | 'onChanged'>;
  readonly enforcement: Pick<EnforcementCore, 'complete'>;
  readonly clock: Clock;
  readonly ttlMs?: number | undefined;
  readonly maxListings?: number | undefined;
  /** How long a call waits on the pins in the store (default: the gateway's store timeout). */
  readonly storeTimeoutMs?: number | undefined;
}

/**
 * What each upstream lists, per replica and per calling identity (an upstream may list
 * differently for different credentials or callers), so that a call is forwarded only under a
 * name the upstream itself lists, exactly as listed, and a tool only with its accepted
 * definition.
 */
export interface McpCatalog {
  /**
   * After the decision allowed a call naming `name`: returns when the upstream lists it (and, for
   * a tool, its definition is served under the upstream's pins); otherwise records the refusal
   * as the call's outcome and throws the JSON-RPC error (`not_listed`, or
   * `tool_definition_changed`). The listing is this replica's, fetched with the verdict's
   * credential on the caller's own upstream session (its agent session's, or its identity's) when
   * missing or older than the TTL.
   */
  admit(
    verdict: Allowed,
    kind: CatalogKind,
    name: string,
    requestId: string,
    session?: McpSession,
  ): Promise<void>;
  /**
   * A `tools/list` answer as the upstream gave it: checks it against the pins (pinning on first
   * sight, recording changes) and returns the tools to show. `complete` when the answer is the
   * whole listing (no cursor asked, none returned): it then becomes this identity's listing.
   */
  listedTools<T extends { readonly name: string }>(
    verdict: Allowed,
    tools: readonly T[],
    complete: boolean,
    requestId: string,
    session?: McpSession,
  ): Promise<T[]>;
  /** Forgets `upstream`'s listings of `list` on this replica (its `list_changed` notification). */
  invalidate(upstream: string, list: 'tools' | 'prompts' | 'resources'): void;
  /** How many listings are kept. */
  readonly size: number;
  /** Stops following pin changes (the gateway is closing). */
  close(): void;
}

interface Listing {
  readonly upstreamId: string;
  readonly upstream: string;
  readonly kind: CatalogKind;
  readonly fetchedAt: number;
  /** Tools: name → definition hash (undefined: listed twice, or not pinnable). */
  readonly tools?: ReadonlyMap<string, string | undefined>;
  /** Prompt names, or resource URIs. */
  readonly names?: ReadonlySet<string>;
  readonly templates?: readonly CompiledTemplate[];
  /** How many names it holds, against {@link MAX_LISTED_NAMES}. */
  readonly weight: number;
}

/** The listing ran into a bound before it ended (pages, bytes). */
class ListingTooLarge extends Error {}

/** The pins could not be read or written: the call cannot be checked, so it is not forwarded. */
class PinsUnavailable extends Error {}

/**
 * Builds this replica's catalog. Listings are refreshed on the TTL (measured with `clock`), on
 * the upstream's `notifications/*\/list_changed` (see `invalidate`) and when an upstream's pins
 * change anywhere; concurrent callers of one identity share one fetch.
 *
 * @example
 * const verdict = await enforceCall('invoke_tool', name, args);
 * await catalog.admit(verdict, 'tool', name, requestId); // throws a refusal for "REFUND"
 */
export function createMcpCatalog(options: McpCatalogOptions): McpCatalog {
  const { pool, pins, enforcement, clock } = options;
  const ttlMs = options.ttlMs ?? DEFAULT_LISTING_TTL_MS;
  const maxListings = options.maxListings ?? DEFAULT_MAX_LISTINGS;
  const storeTimeoutMs = options.storeTimeoutMs ?? DEFAULT_GATEWAY_STORE_TIMEOUT_MS;

  /** A read or write of the pins, within the store timeout: a hung store holds no call. */
  async function pinsWait<T>(pending: Promise<T>, what: string): Promise<T> {
    try {
      return await waitWithin(storeTimeoutMs, pending);
    } catch (error) {
      throw new PinsUnavailable(`the tool pins could not be ${what}`, { cause: error });
    }
  }
  /** Insertion order is recency: the first entry is the least recently used. */
  const listings = new Map<string, Listing>();
  const fetching = new Map<string, Promise<Listing>>();
  let weight = 0;

  function forget(key: string): void {
    const listing = listings.get(key);
    if (listing === undefined) return;
    listings.delete(key);
    weight -= listing.weight;
  }

  // A tool accepted (or seen changed) on any replica: this replica's listings may be stale.
  const unsubscribe = pins.onChanged((upstreamId) => {
    for (const [key, listing] of listings) {
      if (listing.upstreamId === upstreamId) forget(key);
    }
  });

  function keyOf(verdict: Allowed, kind: CatalogKind): string {
    const { upstream } = verdict;
    // The URL too: an upstream pointed elsewhere is another server, with its own listing.
    return `${kind} ${upstream.id} ${upstream.url} ${verdict.claims.client_id}`;
  }

  function remember(key: string, listing: Listing): void {
    forget(key);
    listings.set(key, listing);
    weight += listing.weight;
    for (const [oldest] of listings) {
      if (listings.size <= maxListings && weight <= MAX_LISTED_NAMES) break;
      forget(oldest);
    }
  }

  /** Fresh: fetched less than the TTL ago (a clock that went back makes it stale, not fresh). */
  function fresh(listing: Listing): boolean {
    const age = clock.now() - listing.fetchedAt;
    return age >= 0 && age < ttlMs;
  }

  async function listingOf(
    verdict: Allowed,
    kind: CatalogKind,
    requestId: string,
    session: McpSession | undefined,
  ): Promise<Listing> {
    const key = keyOf(verdict, kind);
    const known = listings.get(key);
    if (known !== undefined && fresh(known)) {
      listings.delete(key);
      listings.set(key, known);
      return known;
    }
    const pending = fetching.get(key);
    if (pending !== undefined) return pending;
    const next = fetchListing(verdict, kind, requestId, session).then((listing) => {
      if (fetching.get(key) === next) remember(key, listing);
      return listing;
    });
    fetching.set(key, next);
    try {
      return await next;
    } finally {
      if (fetching.get(key) === next) fetching.delete(key);
    }
  }

  async function fetchListing(
    verdict: Allowed,
    kind: CatalogKind,
    requestId: string,
    session: McpSession | undefined,
  ): Promise<Listing> {
    const fetchedAt = clock.now();
    const base = {
      upstreamId: verdict.upstream.id,
      upstream: verdict.upstream.name,
      kind,
      fetchedAt,
    };
    const target = {
      upstream: verdict.upstream,
      identity: verdict.claims.client_id,
      inject: verdict.inject,
      traceparent: verdict.traceparent,
      // The caller's own upstream session: no second one just to list (every session the gateway
      // opens declares the same capabilities, so lists the same).
      session,
    };
    const maxBytes = verdict.upstream.maxResponseBytes;
    if (kind === 'tool') {
      const { items, truncated } = whole(
        await pool.call(target, (client, timeout) =>
          pages(client, timeout, maxBytes, 'tools/list', LISTING_LIMITS.tools),
        ),
      );
      const prints = fingerprints(items as readonly { readonly name: string }[]);
      // A listing cut short by the limits is not complete: it neither pins nor removes.
      await observe(verdict, prints, !truncated, requestId);
      return { ...base, tools: hashes(prints), weight: prints.size };
    }
    if (kind === 'prompt') {
      const { items } = whole(
        await pool.call(target, (client, timeout) =>
          pages(client, timeout, maxBytes, 'prompts/list', LISTING_LIMITS.prompts),
        ),
      );
      const names = new Set(items.map((item) => (item as { name: string }).name));
      return { ...base, names, weight: names.size };
    }
    const { resources, templates } = await pool.call(target, async (client, timeout) => ({
      resources: await pages(client, timeout, maxBytes, 'resources/list', LISTING_LIMITS.resources),
      templates: await pages(
        client,
        timeout,
        maxBytes,
        'resources/templates/list',
        LISTING_LIMITS.templates,
      ),
    }));
    const names = new Set(whole(resources).items.map((item) => (item as { uri: string }).uri));
    const compiled = whole(templates).items.flatMap((item) => {
      const template = compileTemplate((item as { uriTemplate: string }).uriTemplate);
      return template === undefined ? [] : [template];
    });
    return { ...base, names, templates: compiled, weight: names.size + compiled.length };
  }

  async function observe(
    verdict: Allowed,
    tools: ReadonlyMap<string, ToolFingerprint | undefined>,
    complete: boolean,
    requestId: string,
  ) {
    const pinnable = new Map<string, ToolFingerprint>();
    for (const [name, print] of tools) if (print !== undefined) pinnable.set(name, print);
    return pinsWait(
      pins.observe(verdict.upstream, { tools: pinnable, complete }, requestId),
      'written',
    );
  }

  async function refuse(
    verdict: Allowed,
    code: McpRefusal,
    message: string,
    error: string = code,
  ): Promise<never> {
    await enforcement.complete({
      recordId: verdict.recordId,
      status: REFUSAL_CATALOG[code].status,
      bytes: 0,
      latencyMs: 0,
      error,
    });
    throw refusalError({ code, message, recordId: verdict.recordId });
  }

  /** The refusal for a listing that could not be had: recorded against the call, as its outcome. */
  async function unavailable(verdict: Allowed, error: unknown): Promise<never> {
    if (error instanceof JsonRpcError) throw error;
    if (error instanceof PinsUnavailable) {
      return refuse(
        verdict,
        'audit_unavailable',
        "The tool's definition cannot be checked against its pin, so the call is not forwarded.",
        'pins_unavailable',
      );
    }
    if (error instanceof ListingTooLarge) {
      return refuse(
        verdict,
        'response_too_large',
        "The upstream's listing is larger than this upstream may send.",
      );
    }
    if (timedOut(error)) {
      return refuse(verdict, 'upstream_timeout', 'The upstream MCP server did not answer in time.');
    }
    if (error instanceof McpError && error.code !== CONNECTION_CLOSED) {
      return refuse(
        verdict,
        'upstream_unavailable',
        'The upstream MCP server did not list what it offers.',
        `listing_failed jsonrpc_error ${error.code}`,
      );
    }
    return refuse(
      verdict,
      'upstream_unavailable',
      'The upstream MCP server could not be reached.',
      'upstream_unavailable',
    );
  }

  async function admit(
    verdict: Allowed,
    kind: CatalogKind,
    name: string,
    requestId: string,
    session?: McpSession,
  ): Promise<void> {
    let listing: Listing;
    let served = true;
    try {
      listing = await listingOf(verdict, kind, requestId, session);
      if (kind === 'tool') {
        const hash = listing.tools?.get(name);
        if (hash !== undefined) {
          const state = await pinsWait(pins.state(verdict.upstream), 'read');
          served = servedUnder(state, toolStanding(state, name, hash));
        }
      }
    } catch (error) {
      return unavailable(verdict, error);
    }
    const listed =
      kind === 'tool'
        ? listing.tools?.has(name) === true
        : listing.names?.has(name) === true ||
          (kind === 'resource' &&
            inNormalForm(name) &&
            matchesAnyTemplate(listing.templates ?? [], name));
    if (!listed) {
      return refuse(
        verdict,
        'not_listed',
        `The upstream lists no ${kind} ${JSON.stringify(name)}; names are taken exactly as it lists them.`,
      );
    }
    if (kind === 'tool' && (listing.tools?.get(name) === undefined || !served)) {
      return refuse(
        verdict,
        'tool_definition_changed',
        `Tool ${JSON.stringify(name)} is held: its definition is not the one its team accepted.`,
      );
    }
  }

  async function listedTools<T extends { readonly name: string }>(
    verdict: Allowed,
    tools: readonly T[],
    complete: boolean,
    requestId: string,
    session?: McpSession,
  ): Promise<T[]> {
    const prints = fingerprints(tools);
    let state: PinState;
    try {
      // A page alone cannot pin: the whole listing is fetched (or known) first.
      if (!complete) await listingOf(verdict, 'tool', requestId, session);
      state = await observe(verdict, prints, complete, requestId);
    } catch (error) {
      // The listing itself is recorded already; what failed is the check of what it shows.
      throw error instanceof PinsUnavailable
        ? refusalError({
            code: 'audit_unavailable',
            message: 'The tool definitions cannot be checked against their pins.',
            recordId: verdict.recordId,
          })
        : refusalError({
            code: 'upstream_unavailable',
            message: 'The upstream MCP server did not list all its tools.',
            recordId: verdict.recordId,
          });
    }
    if (complete) {
      remember(keyOf(verdict, 'tool'), {
        upstreamId: verdict.upstream.id,
        upstream: verdict.upstream.name,
        kind: 'tool',
        fetchedAt: clock.now(),
        tools: hashes(prints),
        weight: prints.size,
      });
    }
    return tools.filter((tool) => {
      const print = prints.get(tool.name);
      return print !== undefined && servedUnder(state, toolStanding(state, tool.name, print.hash));
    });
  }

  return {
    admit,
    listedTools,
    invalidate(upstream, list) {
      const kind: CatalogKind =
        list === 'tools' ? 'tool' : list === 'prompts' ? 'prompt' : 'resource';
      for (const [key, listing] of listings) {
        if (listing.upstream === upstream && listing.kind === kind) forget(key);
      }
    },
    get size() {
      return listings.size;
    },
    close() {
      unsubscribe();
      listings.clear();
      weight = 0;
    },
  };

  /**
   * Every page of a listing, within the limits; `truncated` when a limit ended it early. Over
   * `maxBytes` it stops and says so, rather than throwing: the pool would take an error for a
   * broken connection and drop it.
   */
  async function pages(
    client: Client,
    timeout: number,
    maxBytes: number,
    method: 'tools/list' | 'prompts/list' | 'resources/list' | 'resources/templates/list',
    maxItems: number,
  ): Promise<{ items: unknown[]; truncated: boolean; tooLarge?: true }> {
    const items: unknown[] = [];
    let bytes = 0;
    let cursor: string | undefined;
    for (let page = 0; page < LISTING_LIMITS.pages; page += 1) {
      let result: { nextCursor?: string | undefined } & Record<string, unknown>;
      try {
        result = await client.request(
          { method, params: cursor === undefined ? {} : { cursor } },
          RESULT_SCHEMAS[method],
          { timeout },
        );
      } catch (error) {
        // An upstream without this capability lists nothing.
        if (page === 0 && error instanceof McpError && error.code === METHOD_NOT_FOUND) {
          return { items, truncated: false };
        }
        throw error;
      }
      bytes += Buffer.byteLength(JSON.stringify(result));
      if (bytes > maxBytes) return { items: [], truncated: true, tooLarge: true };
      const entries: unknown = result[ITEMS[method]];
      if (Array.isArray(entries)) {
        items.push(...(entries as unknown[]).slice(0, maxItems - items.length));
      }
      cursor = result.nextCursor;
      if (cursor === undefined) return { items, truncated: false };
      if (items.length >= maxItems) return { items, truncated: true };
    }
    return { items, truncated: true };
  }
}

const RESULT_SCHEMAS = {
  'tools/list': ListToolsResultSchema,
  'prompts/list': ListPromptsResultSchema,
  'resources/list': ListResourcesResultSchema,
  'resources/templates/list': ListResourceTemplatesResultSchema,
} as const;

const ITEMS = {
  'tools/list': 'tools',
  'prompts/list': 'prompts',
  'resources/list': 'resources',
  'resources/templates/list': 'resourceTemplates',
} as const;

/**
 * Each tool's fingerprint by name; a name listed twice has none (which of the two would run?),
 * and neither has a tool whose definition cannot be pinned: such tools are never served.
 */
function fingerprints(
  tools: readonly { readonly name: string }[],
): Map<string, ToolFingerprint | undefined> {
  const prints = new Map<string, ToolFingerprint | undefined>();
  for (const tool of tools) {
    prints.set(tool.name, prints.has(tool.name) ? undefined : fingerprint(tool));
  }
  return prints;
}

/** The pages, unless they were over the upstream's response limit. */
function whole<T extends { readonly tooLarge?: true }>(listing: T): T {
  if (listing.tooLarge === true) throw new ListingTooLarge();
  return listing;
}

/** What a listing keeps of each tool: its definition's hash, not the definition. */
function hashes(
  prints: ReadonlyMap<string, ToolFingerprint | undefined>,
): Map<string, string | undefined> {
  return new Map([...prints].map(([name, print]) => [name, print?.hash]));
}

/** The SDK's request timeout, or the socket cap of the upstream leg's fetch. */
function timedOut(error: unknown): boolean {
  if (error instanceof McpError) return error.code === REQUEST_TIMEOUT;
  return error instanceof Error && error.name === 'TimeoutError';
}
