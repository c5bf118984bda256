// A real OpenID Connect provider for the browser tests: `oidc-provider` on 127.0.0.1, on a
// free port (or IDP_PORT), with its development sign-in pages (any login name, any password, then consent).
//
//   node tests/browser/idp.mjs
//
// Prints `READY <issuer>` on stdout once it listens. Its one client is registered from the
// environment at start, or later from stdin (the e2e test learns the redirect URI from the
// control plane only after it knows the issuer):
//
//   IDP_CLIENT='{"client_id":"...","client_secret":"...","redirect_uris":["..."]}'
//   echo '{"client_id":"...","client_secret":"...","redirect_uris":["..."]}' > stdin
//
// Each client registered from stdin is answered with `CLIENT <client_id>` (or `ERROR ...`).
// The account signed in is the login name typed on the form (`sub`), with the fixed name and
// email of IDP_NAME and IDP_EMAIL. The process ends when stdin closes, so it never outlives
// the test that started it; run it by hand as `sleep infinity | node tests/browser/idp.mjs`.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

import Provider from 'oidc-provider';

const NAME = process.env.IDP_NAME ?? 'Ada Lovelace';
const EMAIL = process.env.IDP_EMAIL ?? 'ada@example.test';
const PORT = Number(process.env.IDP_PORT ?? 0);

// Keys of our own, so no development key is ever used by accident.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(PORT, '127.0.0.1', resolve);
});
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  // Put the claims of the granted scopes in the ID token too, as Google, Entra ID, Auth0
  // and Keycloak do by default; the relying party need not call userinfo for them.
  conformIdTokenClaims: false,
  // PKCE with S256 on every authorization request, also for this confidential client:
  // a relying party that does not send a code_challenge is refused.
  pkce: { required: () => true },
  async findAccount(_ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: NAME, email: EMAIL, email_verified: true };
      },
    };
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = `<!DOCTYPE html><title>oidc-provider error</title><h1>oidc-provider error</h1>
<pre id="idp-error">${escapeHtml(JSON.stringify(out, null, 2))}</pre>`;
  },
});
// The issuer is plain HTTP on loopback; nothing in front of it terminates TLS.
provider.proxy = false;

// Each request in one line on stderr, so a failing test shows what the provider saw.
provider.use(async (ctx, next) => {
  await next();
  process.stderr.write(`idp: ${ctx.method} ${ctx.path} -> ${ctx.status}\n`);
});
provider.on('server_error', (_ctx, error) => {
  process.stderr.write(`idp: server_error ${error.stack}\n`);
});
for (const event of ['authorization.error', 'grant.error', 'userinfo.error']) {
  provider.on(event, (_ctx, error) => {
    const detail = error.error_description ?? error.message;
    process.stderr.write(`idp: ${event} ${error.error ?? ''}: ${detail}\n`);
  });
}

server.on('request', provider.callback());

/** Registers (or replaces) the one client; throws when oidc-provider refuses its metadata. */
async function registerClient(metadata) {
  if (typeof metadata?.client_id !== 'string' || !Array.isArray(metadata.redirect_uris)) {
    throw new Error('a client needs client_id and redirect_uris');
  }
  const full = {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...metadata,
  };
  await provider.Client.adapter.upsert(full.client_id, full);
  // Validates the metadata now rather than at the first authorization request.
  const client = await provider.Client.find(full.client_id);
  if (!client) {
    throw new Error(`client ${full.client_id} was not stored`);
  }
  return client.clientId;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

if (process.env.IDP_CLIENT) {
  try {
    await registerClient(JSON.parse(process.env.IDP_CLIENT));
  } catch (error) {
    process.stderr.write(`idp: IDP_CLIENT refused: ${error.message}\n`);
    process.exit(2);
  }
}

process.stdout.write(`READY ${issuer}\n`);

const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  if (!line.trim()) {
    return;
  }
  try {
    const id = await registerClient(JSON.parse(line));
    process.stdout.write(`CLIENT ${id}\n`);
  } catch (error) {
    process.stdout.write(`ERROR ${error.message.replace(/\n/g, ' ')}\n`);
  }
});
lines.on('close', () => {
  server.close();
  process.exit(0);
});
