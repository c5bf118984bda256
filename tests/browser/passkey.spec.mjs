// Passkeys on the hosted login in a real browser: headless Chromium, driven by playwright-core,
// with a virtual platform authenticator (Chrome DevTools Protocol, WebAuthn domain) that keeps
// discoverable credentials and verifies the user. Through the real page and its script, a
// person signs up with a passkey, signs out, signs in with it without typing a name, and calls
// the API with the cookies. Started by tests/e2e/browser.rs, which provisions the stack; the
// exit code is the result (0 passed, 1 a check failed, 2 bad invocation).
//
// Environment:
//   APP_ORIGIN      the API's app host as the browser reaches it: http://shop.apps.test:PORT.
//                   WebAuthn needs a secure context, which plain HTTP on a name other than
//                   localhost is not: the browser is told to treat this one origin as secure.
//   PERSON_NAME     the name given at sign-up
//   PERSON_EMAIL    the address given at sign-up
//   ACCESS_COOKIE   name of the access cookie (default restapi-access, plain-HTTP dev mode)
//   CHROMIUM        the browser binary (default /usr/bin/chromium)
//
// Lines on stdout: `ok - <check>` for each check passed, `USER <id>` with the signed-in user,
// then `N passed, N failed`. A failure prints `FAIL - <check>: <why>` and the last
// navigations, console messages and requests the browser made.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

import { CheckFailed, check, note, reportCounts, reportFailure, show } from './report.mjs';

function required(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`passkey.spec.mjs: ${name} is not set (see the header of this file)\n`);
    process.exit(2);
  }
  return value;
}

const APP_ORIGIN = required('APP_ORIGIN').replace(/\/$/, '');
const PERSON_NAME = required('PERSON_NAME');
const PERSON_EMAIL = required('PERSON_EMAIL');
const ACCESS_COOKIE = process.env.ACCESS_COOKIE ?? 'restapi-access';
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const PASSKEYS_PAGE = '/login/passkeys';

async function launch() {
  const profile = mkdtempSync(join(tmpdir(), 'restapi-passkey-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--host-resolver-rules=MAP *.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      // WebAuthn is only for secure contexts; over plain HTTP only localhost is one.
      `--unsafely-treat-insecure-origin-as-secure=${APP_ORIGIN}`,
    ],
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

function watch(page) {
  page.on('console', (message) => note(`console.${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => note(`pageerror: ${error.message}`));
  page.on('response', (response) => {
    const request = response.request();
    note(`${request.method()} ${request.url()} -> ${response.status()}`);
  });
}

/** The user the API sees for this page's cookies, via `_userinfo`. */
async function userinfo(page) {
  return page.evaluate(async () => {
    const response = await fetch('/api/_userinfo');
    return { status: response.status, body: await response.json().catch(() => null) };
  });
}

async function run() {
  const browser = await launch();
  try {
    const page = await browser.context.newPage();
    watch(page);

    // The person's device: a platform authenticator that keeps passkeys and verifies them.
    const devtools = await browser.context.newCDPSession(page);
    await devtools.send('WebAuthn.enable');
    const { authenticatorId } = await devtools.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });

    // The login page offers the button, the autofill field and the sign-up form.
    await page.goto(`${APP_ORIGIN}/login?redirect=${encodeURIComponent(PASSKEYS_PAGE)}`);
    check(await page.evaluate(() => window.isSecureContext), 'the login page is a secure context');
    const button = page.getByRole('button', { name: 'Sign in with a passkey' });
    check(await button.isVisible(), 'the login page shows "Sign in with a passkey"');
    const autofill = await page.locator('#passkey-username').getAttribute('autocomplete');
    check(autofill === 'username webauthn', 'the autofill field is marked for passkeys', autofill);
    const conditional = await page.evaluate(
      () => PublicKeyCredential.isConditionalMediationAvailable(),
    );
    check(conditional === true, 'the browser offers passkeys in the autofill');

    // Sign-up: name and address, then the authenticator makes a discoverable credential.
    await page.getByLabel('Name').fill(PERSON_NAME);
    await page.getByLabel('Email').fill(PERSON_EMAIL);
    await Promise.all([
      page.waitForURL(`${APP_ORIGIN}${PASSKEYS_PAGE}`),
      page.getByRole('button', { name: 'Create an account with a passkey' }).click(),
    ]);
    check(true, 'signing up lands on the passkeys page');
    const { credentials } = await devtools.send('WebAuthn.getCredentials', { authenticatorId });
    check(credentials.length === 1, 'the authenticator holds one credential', show(credentials));
    check(credentials[0].isResidentCredential, 'the credential is discoverable (a passkey)');
    check(credentials[0].rpId === new URL(APP_ORIGIN).hostname, 'its relying party is the host',
      credentials[0].rpId);
    check(await page.locator('li.passkey').count() === 1, 'the page lists the new passkey');
    const signedUp = await userinfo(page);
    check(signedUp.status === 200 && signedUp.body?.name === PERSON_NAME,
      'the API knows the new user by the cookies', show(signedUp));
    const userId = signedUp.body.sub;

    // Sign out: the session is gone.
    const logout = await page.evaluate(
      async () => (await fetch('/api/_logout', { method: 'POST' })).status,
    );
    check(logout === 204, 'signing out answers 204', String(logout));
    const cookies = await browser.context.cookies();
    check(!cookies.some((c) => c.name === ACCESS_COOKIE), 'no access cookie after signing out');
    check((await userinfo(page)).status === 401, 'the API refuses the signed-out browser');

    // Sign in through the autofill, no name typed: the page's conditional request is answered
    // by the authenticator (a virtual one answers without waiting for a pick) and the browser
    // lands where it was going.
    await page.goto(`${APP_ORIGIN}/login?redirect=${encodeURIComponent(PASSKEYS_PAGE)}`);
    await page.waitForURL(`${APP_ORIGIN}${PASSKEYS_PAGE}`);
    check(true, 'the autofill (conditional mediation) signs in with the passkey');
    const autofilled = await userinfo(page);
    check(autofilled.status === 200 && autofilled.body?.sub === userId,
      'the API sees the same user again', show(autofilled));

    // Sign out again, and sign in with the button in a browser without the autofill.
    await page.evaluate(async () => fetch('/api/_logout', { method: 'POST' }));
    check((await userinfo(page)).status === 401, 'signed out again');
    await page.addInitScript(() => {
      PublicKeyCredential.isConditionalMediationAvailable = async () => false;
    });
    await page.goto(`${APP_ORIGIN}/login?redirect=${encodeURIComponent(PASSKEYS_PAGE)}`);
    await Promise.all([
      page.waitForURL(`${APP_ORIGIN}${PASSKEYS_PAGE}`),
      page.getByRole('button', { name: 'Sign in with a passkey' }).click(),
    ]);
    check(true, 'the "Sign in with a passkey" button signs in');
    const signedIn = await userinfo(page);
    check(signedIn.status === 200 && signedIn.body?.sub === userId,
      'the API sees the same user with the button', show(signedIn));
    const after = await devtools.send('WebAuthn.getCredentials', { authenticatorId });
    check(after.credentials[0].signCount >= 2, 'the authenticator signed twice',
      String(after.credentials[0].signCount));
    process.stdout.write(`USER ${userId}\n`);
  } finally {
    await browser.close();
  }
}

try {
  await run();
  reportCounts(0);
} catch (error) {
  reportFailure(error);
  reportCounts(1);
  process.exit(1);
}
