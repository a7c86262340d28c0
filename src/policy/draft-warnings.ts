import type { PolicySetDraft, PolicyWarning } from './compile.js';
import type { EntitySnapshots } from './entity-snapshot.js';
import { key } from './entities.js';
import { unknownEntityWarnings, type KnownUpstream } from './references.js';

/** The upstreams as far as policy names go: what each declares, or undefined when not registered. */
export interface UpstreamDeclarations {
  resolve(name: string): Promise<
    | {
        readonly operations: readonly { readonly name: string }[];
        readonly sensitive: readonly string[];
      }
    | undefined
  >;
}

/** Warnings for a draft: the validator's, and entities it names that do not exist. */
export type DraftWarnings = (draft: PolicySetDraft) => Promise<PolicyWarning[]>;

/**
 * Checks drafts against a fresh entity snapshot and, when given, the upstreams; without them,
 * upstreams are not checked.
 */
export function draftWarnings(
  snapshots: EntitySnapshots,
  upstreams: UpstreamDeclarations | undefined,
): DraftWarnings {
  return async (draft) => {
    const snap = await snapshots.current(true);
    const unknown = await unknownEntityWarnings(draft.policies, {
      has: (entity) => snap.known.has(key(entity)),
      upstream: async (name): Promise<KnownUpstream | undefined> => {
        if (upstreams === undefined) return { operations: [] };
        const found = await upstreams.resolve(name);
        return (
          found && { operations: [...found.operations.map((o) => o.name), ...found.sensitive] }
        );
      },
    });
    return [...draft.warnings, ...unknown];
  };
}
