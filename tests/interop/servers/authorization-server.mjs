// A real authorization server for the interop tests: oidc-provider 9 on 127.0.0.1.
//
// Started by tests/interop/conftest.py as `node authorization-server.mjs`. It listens on a
// free port first (so the issuer URL is known), then prints one JSON line on stdout:
// {"issuer": "http://127.0.0.1:PORT"}. Everything lives in memory and dies with the process.
//
// What it is configured for (see docs/compatibility.md):
// * RFC 8707 resource indicators: every http://127.0.0.1 resource URL is a resource server;
//   its access tokens are opaque, audience-restricted to that exact URL, and readable by the
//   resource servers through RFC 7662 introspection (oidc-provider refuses to introspect
//   structured JWT access tokens, so opaque tokens keep both resource servers on one path).
// * Resource URLs whose path starts with /readonly may only carry `read`: asking for more
//   gives a narrower grant (RFC 6749 §3.3 lets the server issue fewer scopes than requested).
// * `forbidden` is a scope the server knows but grants no client: asking for it is
//   `invalid_scope` (RFC 6749 §5.2).
// * A client_credentials client, a public authorization-code client with PKCE (S256) whose
//   login and consent are approved without a person, and a client the resource servers use
//   to introspect tokens.
// * Open RFC 7591 dynamic client registration at /reg (registration_endpoint).
// * A client_credentials client that authenticates with private_key_jwt (RFC 7523 §2.2),
//   `upscope-key`, whose public key (a JWK) the test session passes in the environment
//   variable INTEROP_KEY_CLIENT_JWK; its private half never leaves the test process.
// * DPoP (RFC 9449): on (oidc-provider 9's default), ES256, and every proof must carry a
//   server nonce (requireNonce), so clients meet `use_dpop_nonce` first. Only requests
//   that send a DPoP proof are affected.
//
// With UPSCOPE_PROFILE=public-only (a second instance, for issue 13): the server lists only
// `none` in token_endpoint_auth_methods_supported (no confidential client exists), and its
// access tokens are JWTs, so a resource server of the test's own can read their `aud`
// without introspection (which would need a confidential client).
import { createServer } from 'node:http';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const API_SCOPES = ['read', 'write', 'admin'];
const ACCOUNT_ID = 'interop-user';

function isLoopbackResource(resource) {
  try {
    const url = new URL(resource);
    return url.protocol === 'http:' && url.hostname === '127.0.0.1' && !url.hash;
  } catch {
    return false;
  }
}

function scopesFor(resource) {
  return new URL(resource).pathname.startsWith('/readonly') ? ['read'] : API_SCOPES;
}

const server = createServer();
await new Promise((resolve) => { server.listen(0, '127.0.0.1', resolve); });
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'interop', alg: 'RS256', use: 'sig' };

const publicOnly = process.env.UPSCOPE_PROFILE === 'public-only';
const confidentialClients = [
  {
    client_id: 'upscope-service',
    client_secret: 'upscope-service-secret',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    // A client's allow list may name only the provider's own scopes; `read write admin`
    // come from the resource server (getResourceServerInfo). Naming `openid` alone keeps
    // `forbidden` off the list, so asking for it is invalid_scope.
    scope: 'openid',
  },
  {
    client_id: 'resource-server',
    client_secret: 'resource-server-secret',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  },
  ...(process.env.INTEROP_KEY_CLIENT_JWK ? [{
    client_id: 'upscope-key',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: { keys: [JSON.parse(process.env.INTEROP_KEY_CLIENT_JWK)] },
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'openid',
  }] : []),
];

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  ...(publicOnly ? { clientAuthMethods: ['none'] } : {}),
  cookies: { keys: ['interop-cookie-key-not-a-secret'] },
  // Only the OpenID scopes and `forbidden` are the provider's own: `read write admin` belong
  // to the resource servers (getResourceServerInfo below). A provider scope outside a
  // client's allow list is refused with invalid_scope, which is what `forbidden` is for.
  scopes: ['openid', 'offline_access', 'forbidden'],
  clients: [
    ...(publicOnly ? [] : confidentialClients),
    {
      client_id: 'upscope-native',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      scope: 'openid offline_access',
    },
  ],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    dPoP: {
      enabled: true,
      // 32 bytes for the HMAC of stateless nonces; a test value, not a secret of anyone's.
      nonceSecret: Buffer.alloc(32, 7),
      requireNonce: () => true,
    },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // Only the resource servers' own client may read tokens (RFC 7662 §4).
      allowedPolicy: async (ctx, client) => client.clientId === 'resource-server',
    },
    revocation: { enabled: true },
    // RFC 7591 dynamic client registration, open (no initial access token): clients built
    // with AuthorizationCode(client_id=None) register themselves at registration_endpoint
    // (advertised in the discovery document). Anyone on 127.0.0.1 may register; the
    // server lives only as long as the test session.
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // RFC 8707 §2: the token request names the resource; when it does not, use the one
      // the authorization was for (if it was for exactly one).
      defaultResource: async (ctx, client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator) => {
        if (!isLoopbackResource(resourceIndicator)) {
          throw new Provider.errors.InvalidTarget('unknown resource');
        }
        return {
          scope: scopesFor(resourceIndicator).join(' '),
          audience: resourceIndicator,
          accessTokenTTL: 3600,
          accessTokenFormat: publicOnly ? 'jwt' : 'opaque',
        };
      },
    },
  },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  interactions: { url: async (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AccessToken: 3600, ClientCredentials: 3600 },
});
provider.proxy = false;

const callback = provider.callback();
// How many token requests reached the token endpoint, so that tests can check "no token
// request" from the server's side rather than trusting the client under test.
let tokenRequests = 0;
// Likewise for RFC 7591 registrations: "registered exactly once" is the server's word.
let registrations = 0;
server.on('request', async (req, res) => {
  if (req.method === 'POST' && req.url.split('?')[0] === '/token') tokenRequests += 1;
  if (req.method === 'POST' && req.url.split('?')[0] === '/reg') registrations += 1;
  if (req.method === 'GET' && req.url === '/interop/token-requests') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ count: tokenRequests }));
    return;
  }
  if (req.method === 'GET' && req.url === '/interop/registrations') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ count: registrations }));
    return;
  }
  if (!req.url.startsWith('/interaction/')) {
    callback(req, res);
    return;
  }
  // The headless "user": logs in as a fixed account at once, then consents to exactly
  // what the provider says is missing (its prompt details), so nothing waits for a person.
  try {
    const details = await provider.interactionDetails(req, res);
    let result;
    if (details.prompt.name === 'login') {
      result = { login: { accountId: ACCOUNT_ID } };
    } else {
      const { Grant } = provider;
      const grant = (details.grantId && (await Grant.find(details.grantId)))
        || new Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      const missing = details.prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missing.missingResourceScopes || {})) {
        grant.addResourceScope(resource, scopes.join(' '));
      }
      result = { consent: { grantId: await grant.save() } };
    }
    await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
  } catch (error) {
    res.statusCode = 400;
    res.setHeader('Content-Type', 'text/plain');
    res.end(`interaction failed: ${error.message}`);
  }
});

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => { server.close(); process.exit(0); });
}
