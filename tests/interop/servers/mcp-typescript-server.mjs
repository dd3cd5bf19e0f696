// Resource server 1 for the interop tests: the MCP TypeScript SDK 1.x, on 127.0.0.1.
//
// Started by tests/interop/conftest.py as `node mcp-typescript-server.mjs ISSUER`. It listens
// on a free port, then prints one JSON line: {"url": "http://127.0.0.1:PORT"}.
//
// Every route is its own protected resource (RFC 9728): its resource identifier is the
// route's URL, its metadata sits at /.well-known/oauth-protected-resource<path>, and the
// SDK's requireBearerAuth rejects, with 401, a token whose audience is not that URL
// (`expectedResource`). Tokens are checked with oidc-provider's introspection (RFC 7662).
//
//   /mcp               streamable HTTP MCP server (sessions); every request needs `read`;
//                      tools/call of `write_file` also passes a second requireBearerAuth
//                      needing `read write` (per-tool step-up, challenge scope="read write")
//   GET  /api/notes    needs `read`         POST /api/notes       needs `write`
//   POST /readonly/notes  needs `write` (the AS grants only `read` for this resource)
//   POST /api/forbidden   needs `forbidden` (the AS refuses that scope: invalid_scope)
import { randomUUID } from 'node:crypto';

import express from 'express';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import {
  getOAuthProtectedResourceMetadataUrl,
  mcpAuthMetadataRouter,
} from '@modelcontextprotocol/sdk/server/auth/router.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const issuer = process.argv[2];
if (!issuer) throw new Error('usage: node mcp-typescript-server.mjs ISSUER');
const INTROSPECTION_CLIENT = ['resource-server', 'resource-server-secret'];

const oauthMetadata = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();

// RFC 7662 introspection with the resource servers' own client; the audience is handed to
// the SDK as `resource`, which requireBearerAuth compares with `expectedResource`.
const verifier = {
  async verifyAccessToken(token) {
    const response = await fetch(oauthMetadata.introspection_endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(INTROSPECTION_CLIENT.join(':')).toString('base64')}`,
      },
      body: new URLSearchParams({ token }),
    });
    if (!response.ok) throw new Error(`introspection answered ${response.status}`);
    const claims = await response.json();
    if (!claims.active) throw new InvalidTokenError('Token is not active');
    const audience = Array.isArray(claims.aud) ? claims.aud[0] : claims.aud;
    return {
      token,
      clientId: claims.client_id,
      scopes: claims.scope ? claims.scope.split(' ') : [],
      expiresAt: claims.exp,
      resource: audience ? new URL(audience) : undefined,
    };
  },
};

const app = express();
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => { server.once('listening', resolve); });
const origin = `http://127.0.0.1:${server.address().port}`;

// One protected resource per route: its metadata router and a bearer check factory.
function protectedResource(path, scopesSupported) {
  const resourceServerUrl = new URL(path, origin);
  app.use(mcpAuthMetadataRouter({ oauthMetadata, resourceServerUrl, scopesSupported }));
  return (requiredScopes) => requireBearerAuth({
    verifier,
    requiredScopes,
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(resourceServerUrl),
    expectedResource: resourceServerUrl,
  });
}

const notes = [];
const notesAuth = protectedResource('/api/notes', ['read', 'write']);
app.get('/api/notes', notesAuth(['read']), (req, res) => { res.json({ notes }); });
app.post('/api/notes', notesAuth(['write']), express.json(), (req, res) => {
  notes.push(req.body);
  res.status(201).json({ stored: req.body, scopes: req.auth.scopes });
});

const readonlyAuth = protectedResource('/readonly/notes', ['read', 'write']);
app.post('/readonly/notes', readonlyAuth(['write']), (req, res) => { res.status(201).json({}); });

const forbiddenAuth = protectedResource('/api/forbidden', ['forbidden']);
app.post('/api/forbidden', forbiddenAuth(['forbidden']), (req, res) => { res.json({}); });

// The MCP server: one McpServer + transport per session (the SDK's stateful pattern).
function buildMcpServer() {
  const mcp = new McpServer({ name: 'upscope-interop-typescript', version: '1.0.0' });
  mcp.registerTool(
    'read_file',
    { description: 'Read a file (needs read)', inputSchema: { path: z.string() } },
    async ({ path }) => ({ content: [{ type: 'text', text: `contents of ${path}` }] }),
  );
  mcp.registerTool(
    'write_file',
    {
      description: 'Write a file (needs read write)',
      inputSchema: { path: z.string(), content: z.string() },
    },
    async ({ path, content }) => ({
      content: [{ type: 'text', text: `wrote ${content.length} bytes to ${path}` }],
    }),
  );
  return mcp;
}

const mcpAuth = protectedResource('/mcp', ['read', 'write']);
const writeToolAuth = mcpAuth(['read', 'write']);
const transports = new Map();

function callsWriteTool(body) {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m) => m?.method === 'tools/call' && m?.params?.name === 'write_file');
}

app.post('/mcp', mcpAuth(['read']), express.json(), (req, res, next) => {
  if (callsWriteTool(req.body)) writeToolAuth(req, res, next);
  else next();
}, async (req, res) => {
  const sessionId = req.headers['mcp-session-id'];
  let transport = sessionId && transports.get(sessionId);
  if (!transport) {
    if (sessionId || !isInitializeRequest(req.body)) {
      res.status(400).json({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Bad Request: no valid session ID' },
        id: null,
      });
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => { transports.set(id, transport); },
    });
    transport.onclose = () => { if (transport.sessionId) transports.delete(transport.sessionId); };
    await buildMcpServer().connect(transport);
  }
  await transport.handleRequest(req, res, req.body);
});

for (const method of ['get', 'delete']) {
  app[method]('/mcp', mcpAuth(['read']), async (req, res) => {
    const transport = transports.get(req.headers['mcp-session-id']);
    if (!transport) {
      res.status(400).send('Bad Request: no valid session ID');
      return;
    }
    await transport.handleRequest(req, res);
  });
}

process.stdout.write(`${JSON.stringify({ url: origin })}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => { server.close(); process.exit(0); });
}
