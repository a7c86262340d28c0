/**
 * The SDK's resource types are written from the schemas the routes answer with, its input types
 * from the schemas of the request bodies, its protocol constants from the server's: each
 * committed module is what the generator writes now, and (checked by the type checker, `npm run
 * typecheck`) each exported type is exactly its schema's static type, read-only.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type {
  StewardApiKey,
  StewardAuditEvent,
  StewardCreatedApiKey,
  StewardIdentity,
  StewardIssuedToken,
  StewardJoinToken,
  StewardPerson,
  StewardSecret,
  StewardService,
  StewardSigningKey,
  StewardTask,
  StewardTeam,
  StewardToolPin,
  StewardToolPins,
  StewardTrustRule,
  StewardUpstream,
} from '@steward/sdk';
import type {
  StewardAcceptToolInput,
  StewardAdmitEnvironmentsInput,
  StewardAllowEgressInput,
  StewardAuthorizeInput,
  StewardCreateApiKeyInput,
  StewardCreateIdentityInput,
  StewardCreateJoinTokenInput,
  StewardCreatePersonInput,
  StewardCreateSecretInput,
  StewardCreateServiceInput,
  StewardCreateTeamInput,
  StewardCreateTrustRuleInput,
  StewardCreateUpstreamInput,
  StewardOpenTaskInput,
  StewardReasonInput,
  StewardRevokeInput,
  StewardRollbackPoliciesInput,
  StewardRotateKeyInput,
  StewardRotateSecretInput,
  StewardSetToolPinModeInput,
  StewardSimulatePoliciesInput,
  StewardUpdateIdentityInput,
  StewardUpdatePersonInput,
  StewardUpdateServiceInput,
  StewardUpdateTeamInput,
  StewardUpdateUpstreamInput,
  StewardValidatePoliciesInput,
  StewardWritePoliciesInput,
} from '@steward/sdk';
import type { Static, TSchema } from 'typebox';
import * as requests from '../../src/http/requests.js';
import * as resources from '../../src/http/resources.js';
import type {
  ApiKeyResource,
  AuditEventResource,
  CreatedApiKeyResource,
  IdentityResource,
  IssuedTokenResource,
  JoinTokenResource,
  PersonResource,
  SecretResource,
  ServiceResource,
  SigningKeyResource,
  TaskResource,
  TeamResource,
  ToolPinResource,
  ToolPinsResource,
  TrustRuleResource,
  UpstreamResource,
} from '../../src/http/resources.js';
import {
  readSdkProtocol,
  readSdkRequests,
  readSdkResources,
  renderSdkProtocol,
  renderSdkRequests,
  renderSdkResources,
  SDK_REQUESTS,
  SDK_RESOURCES,
} from '../../scripts/sdk-resources.js';

/** `T` with every property and array read-only, as the SDK declares its types. */
type Frozen<T> = unknown extends T
  ? T
  : T extends readonly (infer U)[]
    ? readonly Frozen<U>[]
    : T extends object
      ? { readonly [K in keyof T]: Frozen<T[K]> }
      : T;

/** True when `A` and `B` accept exactly the same values. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Matches<Sdk, Schema extends TSchema> = Same<Sdk, Frozen<Static<Schema>>>;

// A type that drifts from its schema turns one of these `true`s into a type error.
const sameTypes: [
  Matches<StewardTeam, typeof TeamResource>,
  Matches<StewardPerson, typeof PersonResource>,
  Matches<StewardService, typeof ServiceResource>,
  Matches<StewardIdentity, typeof IdentityResource>,
  Matches<StewardTask, typeof TaskResource>,
  Matches<StewardApiKey, typeof ApiKeyResource>,
  Matches<StewardCreatedApiKey, typeof CreatedApiKeyResource>,
  Matches<StewardJoinToken, typeof JoinTokenResource>,
  Matches<StewardTrustRule, typeof TrustRuleResource>,
  Matches<StewardSigningKey, typeof SigningKeyResource>,
  Matches<StewardIssuedToken, typeof IssuedTokenResource>,
  Matches<StewardSecret, typeof SecretResource>,
  Matches<StewardUpstream, typeof UpstreamResource>,
  Matches<StewardToolPin, typeof ToolPinResource>,
  Matches<StewardToolPins, typeof ToolPinsResource>,
  Matches<StewardAuditEvent, typeof AuditEventResource>,
] = [
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
];

// The same for the request bodies.
const sameInputs: [
  Matches<StewardReasonInput, typeof requests.ReasonRequest>,
  Matches<StewardCreateTeamInput, typeof requests.CreateTeamRequest>,
  Matches<StewardUpdateTeamInput, typeof requests.UpdateTeamRequest>,
  Matches<StewardCreatePersonInput, typeof requests.CreatePersonRequest>,
  Matches<StewardUpdatePersonInput, typeof requests.UpdatePersonRequest>,
  Matches<StewardCreateServiceInput, typeof requests.CreateServiceRequest>,
  Matches<StewardUpdateServiceInput, typeof requests.UpdateServiceRequest>,
  Matches<StewardAdmitEnvironmentsInput, typeof requests.AdmitEnvironmentsRequest>,
  Matches<StewardCreateIdentityInput, typeof requests.CreateIdentityRequest>,
  Matches<StewardUpdateIdentityInput, typeof requests.UpdateIdentityRequest>,
  Matches<StewardOpenTaskInput, typeof requests.OpenTaskRequest>,
  Matches<StewardCreateApiKeyInput, typeof requests.CreateApiKeyRequest>,
  Matches<StewardCreateJoinTokenInput, typeof requests.CreateJoinTokenRequest>,
  Matches<StewardCreateTrustRuleInput, typeof requests.CreateTrustRuleRequest>,
  Matches<StewardRotateKeyInput, typeof requests.RotateKeyRequest>,
  Matches<StewardRevokeInput, typeof requests.RevokeRequest>,
  Matches<StewardCreateSecretInput, typeof requests.CreateSecretRequest>,
  Matches<StewardRotateSecretInput, typeof requests.RotateSecretRequest>,
  Matches<StewardCreateUpstreamInput, typeof requests.CreateUpstreamRequest>,
  Matches<StewardUpdateUpstreamInput, typeof requests.UpdateUpstreamRequest>,
  Matches<StewardAllowEgressInput, typeof requests.AllowEgressRequest>,
  Matches<StewardSetToolPinModeInput, typeof requests.SetToolPinModeRequest>,
  Matches<StewardAcceptToolInput, typeof requests.AcceptToolRequest>,
  Matches<StewardWritePoliciesInput, typeof requests.WritePoliciesRequest>,
  Matches<StewardRollbackPoliciesInput, typeof requests.RollbackPoliciesRequest>,
  Matches<StewardValidatePoliciesInput, typeof requests.ValidatePoliciesRequest>,
  Matches<StewardAuthorizeInput, typeof requests.AuthorizeRequest>,
  Matches<StewardSimulatePoliciesInput, typeof requests.SimulatePoliciesRequest>,
] = [
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
];

describe("the SDK's resource types", () => {
  it('packages/sdk/src/resources.ts is what scripts/sdk-resources.ts generates now', async () => {
    assert.equal(
      readSdkResources(),
      await renderSdkResources(),
      'packages/sdk/src/resources.ts is stale: run npm run sdk:resources',
    );
  });

  it("cover every resource the routes answer with, but the token endpoint's", () => {
    const left = Object.entries(resources)
      .filter(([, schema]) => !SDK_RESOURCES.some((resource) => resource.schema === schema))
      .map(([name]) => name);
    assert.deepEqual(left, ['TokenResponseResource']);
  });

  it('are held to their schemas by the type checker', () => {
    assert.ok(sameTypes.every((same) => same));
  });
});

describe("the SDK's input types", () => {
  it('packages/sdk/src/requests.ts is what scripts/sdk-resources.ts generates now', async () => {
    assert.equal(
      readSdkRequests(),
      await renderSdkRequests(),
      'packages/sdk/src/requests.ts is stale: run npm run sdk:resources',
    );
  });

  it('cover every request body the routes validate', () => {
    const bodies = Object.keys(requests).filter((name) => name.endsWith('Request'));
    assert.equal(SDK_REQUESTS.length, bodies.length);
    assert.ok(bodies.length >= 28);
  });

  it('are held to their schemas by the type checker', () => {
    assert.equal(sameInputs.length, SDK_REQUESTS.length);
    assert.ok(sameInputs.every((same) => same));
  });
});

describe("the SDK's protocol constants", () => {
  it('packages/sdk/src/protocol.ts is what scripts/sdk-resources.ts generates now', async () => {
    assert.equal(
      readSdkProtocol(),
      await renderSdkProtocol(),
      'packages/sdk/src/protocol.ts is stale: run npm run sdk:resources',
    );
  });
});
