/**
 * The token service's peer, in a child process of its own (forked by the token case):
 * node-oidc-provider 9 issuing EdDSA JWT access tokens (resource indicators, `jwt` format) to a
 * `client_credentials` client that authenticates with `private_key_jwt` (EdDSA), over a
 * persistent SQLite adapter (better-sqlite3, WAL, `synchronous = NORMAL`: Steward's own SQLite
 * settings). Per token it verifies the client's assertion, checks and records the assertion's
 * `jti` (replay detection: one read and one durable write), and signs the access token; a JWT
 * access token itself is not stored.
 *
 * Environment: `BENCH_OIDC_CLIENT_JWK` (the client's public JWK, JSON), `BENCH_OIDC_DB` (the
 * SQLite file). Tells its parent `{type: 'ready', url, tokenEndpoint, resource}` when it listens.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import Provider from 'oidc-provider';

export interface OidcReady {
  readonly type: 'ready';
  readonly url: string;
  readonly tokenEndpoint: string;
  readonly resource: string;
  readonly clientId: string;
}

export const OIDC_CLIENT_ID = 'bench-agent';
const RESOURCE = 'urn:steward-bench:api';

const clientJwk = JSON.parse(process.env['BENCH_OIDC_CLIENT_JWK'] ?? 'null') as object | null;
const file = process.env['BENCH_OIDC_DB'];
if (clientJwk === null || file === undefined) {
  throw new Error('BENCH_OIDC_CLIENT_JWK and BENCH_OIDC_DB must be set');
}

const db = new Database(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.exec(`create table if not exists models (
  name text not null, id text not null, payload text not null, expires_at integer,
  primary key (name, id))`);
const statements = {
  upsert: db.prepare(
    'insert into models (name, id, payload, expires_at) values (?, ?, ?, ?) on conflict (name, id) do update set payload = excluded.payload, expires_at = excluded.expires_at',
  ),
  find: db.prepare('select payload, expires_at from models where name = ? and id = ?'),
  destroy: db.prepare('delete from models where name = ? and id = ?'),
};

type Payload = Record<string, unknown>;

/** oidc-provider's adapter interface over one table; each write is its own transaction. */
class SqliteAdapter {
  constructor(private readonly name: string) {}
  async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
    const expires = expiresIn === undefined ? null : Date.now() + expiresIn * 1000;
    statements.upsert.run(this.name, id, JSON.stringify(payload), expires);
  }
  async find(id: string): Promise<Payload | undefined> {
    const row = statements.find.get(this.name, id) as
      { payload: string; expires_at: number | null } | undefined;
    if (row === undefined || (row.expires_at !== null && row.expires_at <= Date.now())) {
      return undefined;
    }
    return JSON.parse(row.payload) as Payload;
  }
  async findByUserCode(): Promise<undefined> {
    return undefined;
  }
  async findByUid(): Promise<undefined> {
    return undefined;
  }
  async consume(id: string): Promise<void> {
    const found = await this.find(id);
    if (found) await this.upsert(id, { ...found, consumed: Math.floor(Date.now() / 1000) });
  }
  async destroy(id: string): Promise<void> {
    statements.destroy.run(this.name, id);
  }
  async revokeByGrantId(): Promise<void> {}
}

const { privateKey } = generateKeyPairSync('ed25519');
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-1', alg: 'EdDSA' };

// The provider needs its issuer (with the port) first: requests wait for it behind this.
const routes: { handler?: (req: IncomingMessage, res: ServerResponse) => void } = {};
const server = createServer((req, res) => {
  if (routes.handler === undefined) {
    res.writeHead(503).end();
    return;
  }
  routes.handler(req, res);
});
server.keepAliveTimeout = 30_000;
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  adapter: SqliteAdapter,
  clients: [
    {
      client_id: OIDC_CLIENT_ID,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'EdDSA',
      id_token_signed_response_alg: 'EdDSA',
      jwks: { keys: [clientJwk] },
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    },
  ],
  jwks: { keys: [signingJwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  clientAuthMethods: ['private_key_jwt'],
  enabledJWA: {
    clientAuthSigningAlgValues: ['EdDSA'],
    idTokenSigningAlgValues: ['EdDSA'],
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api',
        audience: RESOURCE,
        accessTokenTTL: 300,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'EdDSA' } },
      }),
    },
  },
  scopes: ['api'],
});
// Errors are answered to the client as OAuth errors; nothing to log here.
provider.on('server_error', (_ctx: unknown, error: Error) => {
  process.stderr.write(`oidc-provider: ${error.stack ?? error.message}\n`);
});
routes.handler = provider.callback();

process.send?.({
  type: 'ready',
  url: issuer,
  tokenEndpoint: `${issuer}/token`,
  resource: RESOURCE,
  clientId: OIDC_CLIENT_ID,
} satisfies OidcReady);
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
  db.close();
  process.exit(0);
});
