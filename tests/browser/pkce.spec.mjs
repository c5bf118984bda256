// A native app's sign-in, as an independent certified library does it: openid-client (not
// code of ours) configures itself from the API's issuer alone, runs the authorization code
// flow with PKCE through the hosted login, where headless Chromium signs in at a real OpenID
// provider (idp.mjs), and then refreshes, reads userinfo, introspects (as the API's service
// account) and revokes. Started by tests/e2e/browser.rs; the exit code is the result (0
// passed, 1 a check failed, 2 bad invocation).
//
// Environment:
//   ISSUER             the API's issuer on its app host: http://shop.apps.test:PORT/api
//   DATA_PLANE         where every *.test name is reached: 127.0.0.1:PORT
//   CLIENT_ID          the API's public client, registered with http://127.0.0.1/callback
//   SERVICE_ID         a service account of the API, and its secret in SERVICE_SECRET
//   PROVIDER_NAME      the provider's display name: its button reads "Continue with <name>"
//   LOGIN_NAME         the login typed at the provider, which becomes its `sub`
//   CHROMIUM           the browser binary (default /usr/bin/chromium)
//
// Lines on stdout: `ok - <check>` for each check passed, then `N passed, N failed`.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as oidc from 'openid-client';
import { chromium } from 'playwright-core';

import { CheckFailed, check, reportCounts, reportFailure, show } from './report.mjs';

function required(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`pkce.spec.mjs: ${name} is not set (see the header of this file)\n`);
    process.exit(2);
  }
  return value;
}

const ISSUER = required('ISSUER');
const [PLANE_HOST, PLANE_PORT] = required('DATA_PLANE').split(':');
const CLIENT_ID = required('CLIENT_ID');
const SERVICE_ID = required('SERVICE_ID');
const SERVICE_SECRET = required('SERVICE_SECRET');
const PROVIDER_NAME = required('PROVIDER_NAME');
const LOGIN_NAME = required('LOGIN_NAME');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Expects `promise` to be refused by the server with the OAuth error `code`. */
async function refused(promise, code, what) {
  try {
    const result = await promise;
    check(false, what, `succeeded: ${show(result)}`);
  } catch (error) {
    if (error instanceof CheckFailed) {
      throw error;
    }
    check(error.error === code, what, `${error.error ?? error.code}: ${error.message}`);
  }
}

// The names of this closed network (*.test) are not in DNS: the library's requests go to the
// data plane's address with the name in the Host header, as a resolver would have sent them.
function closedNetworkFetch(url, options) {
  const target = new URL(url);
  if (!target.hostname.endsWith('.test')) {
    return fetch(url, options);
  }
  return new Promise((resolve, reject) => {
    const headers = Object.fromEntries(new Headers(options.headers).entries());
    headers.host = target.host;
    const outgoing = httpRequest(
      {
        host: PLANE_HOST,
        port: PLANE_PORT,
        method: options.method ?? 'GET',
        path: `${target.pathname}${target.search}`,
        headers,
      },
      (incoming) => {
        const chunks = [];
        incoming.on('data', (chunk) => chunks.push(chunk));
        incoming.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(incoming.headers)) {
            for (const one of [value].flat()) {
              responseHeaders.append(name, one);
            }
          }
          const body = [204, 304].includes(incoming.statusCode) ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status: incoming.statusCode, headers: responseHeaders }));
        });
      },
    );
    outgoing.on('error', reject);
    if (options.body) {
      outgoing.write(typeof options.body === 'string' ? options.body : options.body.toString());
    }
    outgoing.end();
  });
}

const settings = {
  execute: [oidc.allowInsecureRequests],
  [oidc.customFetch]: closedNetworkFetch,
};

/** The app's loopback redirect URI (RFC 8252 §7.3): a port of its own, picked now. */
async function loopbackReceiver() {
  let arrived;
  const callback = new Promise((resolve) => {
    arrived = resolve;
  });
  const server = createServer((request, response) => {
    response.setHeader('content-type', 'text/plain');
    response.end('You can close this window and return to the app.');
    if (request.url.startsWith('/callback')) {
      arrived(new URL(request.url, `http://${request.headers.host}`));
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    redirectUri: `http://127.0.0.1:${server.address().port}/callback`,
    callback,
    close: () => server.close(),
  };
}

async function signInInBrowser(authorizationUrl) {
  if (!existsSync(CHROMIUM)) {
    throw new CheckFailed(`${CHROMIUM} is missing; run tests/run, which installs chromium`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'restapi-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--host-resolver-rules=MAP *.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
  context.setDefaultTimeout(15_000);
  try {
    const page = await context.newPage();
    const loginPage = await page.goto(authorizationUrl.href);
    check(loginPage?.status() === 200, 'the authorization endpoint shows the login page',
      `status ${loginPage?.status()}`);
    await page.getByRole('link', { name: `Continue with ${PROVIDER_NAME}` }).click();
    await page.locator('input[name="login"]').fill(LOGIN_NAME);
    await page.locator('input[name="password"]').fill('any password will do');
    await page.locator('button[type="submit"]').click();
    await page.waitForURL((url) => url.pathname.startsWith('/interaction/')
      || url.pathname === '/callback');
    if (new URL(page.url()).pathname.startsWith('/interaction/')) {
      await page.locator('button[type="submit"]', { hasText: 'Continue' }).click();
    }
    await page.waitForURL((url) => url.pathname === '/callback');
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const started = Date.now();
let failed = 0;
const receiver = await loopbackReceiver();
try {
  const app = await oidc.discovery(new URL(ISSUER), CLIENT_ID, undefined, oidc.None(), settings);
  const metadata = app.serverMetadata();
  check(metadata.issuer === ISSUER, 'openid-client discovered the issuer', metadata.issuer);
  check(metadata.code_challenge_methods_supported?.includes('S256'),
    'discovery offers PKCE with S256');

  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const authorizationUrl = oidc.buildAuthorizationUrl(app, {
    redirect_uri: receiver.redirectUri,
    scope: 'openid profile email',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  await signInInBrowser(authorizationUrl);
  const callbackUrl = await receiver.callback;
  check(callbackUrl.searchParams.has('code'), 'the app received a code at its loopback URI');

  const tokens = await oidc.authorizationCodeGrant(app, callbackUrl, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
  const claims = tokens.claims();
  check(claims?.aud === CLIENT_ID, 'the ID token is for the app, with its nonce checked',
    show(claims));
  check(typeof tokens.refresh_token === 'string', 'a refresh token came with it');
  check(tokens.expiresIn() > 3000, 'the access token lives about an hour', tokens.expiresIn());

  const userinfo = await oidc.fetchUserInfo(app, tokens.access_token, claims.sub);
  check(userinfo.sub === claims.sub, 'userinfo names the same person', show(userinfo));

  await refused(
    oidc.authorizationCodeGrant(app, callbackUrl, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    }),
    'invalid_grant',
    'the code cannot be exchanged twice',
  );
  await refused(oidc.refreshTokenGrant(app, tokens.refresh_token), 'invalid_grant',
    'a second exchange of the code revoked what the first one issued');

  // A fresh sign-in for the rest of the lifecycle: the browser's session at the provider
  // is gone with its profile, so the person signs in again.
  const verifier2 = oidc.randomPKCECodeVerifier();
  const state2 = oidc.randomState();
  const receiver2 = await loopbackReceiver();
  try {
    await signInInBrowser(oidc.buildAuthorizationUrl(app, {
      redirect_uri: receiver2.redirectUri,
      scope: 'openid',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier2),
      code_challenge_method: 'S256',
      state: state2,
    }));
    const tokens2 = await oidc.authorizationCodeGrant(app, await receiver2.callback, {
      pkceCodeVerifier: verifier2,
      expectedState: state2,
    });
    const renewed = await oidc.refreshTokenGrant(app, tokens2.refresh_token);
    check(renewed.refresh_token !== tokens2.refresh_token, 'the refresh token rotates');

    const service = await oidc.discovery(new URL(ISSUER), SERVICE_ID, undefined,
      oidc.ClientSecretBasic(SERVICE_SECRET), settings);
    const active = await oidc.tokenIntrospection(service, renewed.access_token);
    check(active.active === true && active.sub === claims.sub,
      'the service account sees the access token active', show(active));
    const live = await oidc.tokenIntrospection(service, renewed.refresh_token);
    check(live.active === true, 'and the refresh token active', show(live));

    await oidc.tokenRevocation(app, renewed.refresh_token);
    check(true, 'the app revoked its refresh token');
    const dead = await oidc.tokenIntrospection(service, renewed.refresh_token);
    check(dead.active === false, 'the revoked refresh token is inactive', show(dead));
    await refused(oidc.refreshTokenGrant(app, renewed.refresh_token), 'invalid_grant',
      'the revoked refresh token no longer refreshes');
  } finally {
    receiver2.close();
  }
} catch (error) {
  failed = 1;
  reportFailure(error);
} finally {
  receiver.close();
}
process.stdout.write(`pkce: ${Date.now() - started} ms\n`);
reportCounts(failed);
process.exit(failed ? 1 : 0);
