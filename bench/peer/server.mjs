// The reference peer for bench/peer_compare.py: node-oidc-provider 9 with its in-memory
// adapter, one confidential client for client_credentials, ES256 JWT access tokens for the
// default resource, opaque access tokens for a second resource (node-oidc-provider only
// introspects opaque tokens), and introspection enabled.
//
// usage: node bench/peer/server.mjs PORT CLIENT_ID CLIENT_SECRET
// oidc-provider is installed by the harness into bench/.peer/ (ignored by git).
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [port, clientId, clientSecret] = process.argv.slice(2);
if (!port || !clientId || !clientSecret) {
  console.error('usage: node server.mjs PORT CLIENT_ID CLIENT_SECRET');
  process.exit(2);
}

const peerRequire = createRequire(new URL('../.peer/package.json', import.meta.url));
const { default: Provider } = await import(pathToFileURL(peerRequire.resolve('oidc-provider')));

const JWT_RESOURCE = 'https://api.example.com';
const OPAQUE_RESOURCE = 'urn:bench:opaque';

function jwk(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig' };
}

const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'read write',
    },
  ],
  jwks: {
    keys: [
      jwk('ec', { namedCurve: 'P-256' }, 'ES256'),
      // RS256 stays the ID-token default of OpenID Connect, as in Ostiary's JWKS.
      jwk('rsa', { modulusLength: 2048 }, 'RS256'),
    ],
  },
  scopes: ['read', 'write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => JWT_RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resource) => {
        if (resource === OPAQUE_RESOURCE) {
          return { scope: 'read write', audience: OPAQUE_RESOURCE, accessTokenFormat: 'opaque' };
        }
        return {
          scope: 'read write',
          audience: JWT_RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`peer listening on ${issuer}`);
});
