// The hosted login in a real browser: headless Chromium, driven by playwright-core, signs in
// through a real OpenID provider (idp.mjs) and uses the session the way the reference page
// tells a web app to. Started by tests/e2e/browser.rs, which provisions the stack; the exit
// code is the result (0 passed, 1 a check failed, 2 bad invocation).
//
// Environment:
//   APP_ORIGIN         the API's app host as the browser reaches it: http://shop.apps.test:PORT
//   CLOCK_URL          base URL of the test's clock: POST <CLOCK_URL>/advance?seconds=N moves
//                      the data plane's clock forward
//   DISPLAY_NAME       the name the login page must show as its heading
//   PROVIDER_NAME      the provider's display name: its button reads "Continue with <name>"
//   LOGIN_NAME         the login typed at the provider, which becomes its `sub`
//   WEB_MARKER         text the web upstream's page shows, proving the browser landed there
//   ADVANCE_SECONDS    how far to move the clock to expire the access token (default 3700)
//   ACCESS_COOKIE      name of the access cookie (default restapi-access, plain-HTTP dev mode)
//   REFRESH_COOKIE     name of the refresh cookie (default restapi-refresh)
//   SCREENSHOT_DIR     where PNGs go (default <repo>/target/screenshots)
//   CHROMIUM           the browser binary (default /usr/bin/chromium)
//
// Lines on stdout: `ok - <check>` for each check passed, `IDENTITY <json>` with what the
// upstream answered, then `N passed, N failed`. A failure prints `FAIL - <check>: <why>`
// and the last navigations, console messages and requests the browser made.

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { CheckFailed, check, note, reportCounts, reportFailure, show } from './report.mjs';

const here = dirname(fileURLToPath(import.meta.url));

function required(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`login.spec.mjs: ${name} is not set (see the header of this file)\n`);
    process.exit(2);
  }
  return value;
}

const APP_ORIGIN = required('APP_ORIGIN').replace(/\/$/, '');
const CLOCK_URL = required('CLOCK_URL').replace(/\/$/, '');
const DISPLAY_NAME = required('DISPLAY_NAME');
const PROVIDER_NAME = required('PROVIDER_NAME');
const LOGIN_NAME = required('LOGIN_NAME');
const WEB_MARKER = required('WEB_MARKER');
const ADVANCE_SECONDS = Number(process.env.ADVANCE_SECONDS ?? 3700);
const ACCESS_COOKIE = process.env.ACCESS_COOKIE ?? 'restapi-access';
const REFRESH_COOKIE = process.env.REFRESH_COOKIE ?? 'restapi-refresh';
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR ?? resolve(here, '../../target/screenshots');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const BUTTON_LABEL = `Continue with ${PROVIDER_NAME}`;

// The reference page's snippet (restapi-authentication.txt, "Handling Session Expiry"),
// character for character but for indentation: what a customer's web app will run.
const API_CALL = `
async function apiCall(url, options = {}) {
  let response = await fetch(url, options);

  if (response.status === 401) {
    // Refresh - the browser sends the refresh cookie, new access cookie is set automatically
    await fetch('/api/_refresh', { method: 'POST' });
    response = await fetch(url, options);

    if (response.status === 401) {
      // Refresh token also expired - redirect to login
      window.location.href = '/login';
      return;
    }
  }

  return response;
}`;

/** Runs `apiCall(url)` in the page; answers its status and body, or `undefined` as it does. */
function runApiCall(page, url) {
  return page.evaluate(`(async () => {
    ${API_CALL}
    const response = await apiCall(${JSON.stringify(url)});
    if (response === undefined) return undefined;
    return { status: response.status, body: await response.text() };
  })()`);
}

/** A plain `fetch` in the page; answers its status and body. */
function runFetch(page, url, options = {}) {
  return page.evaluate(
    async ([url, options]) => {
      const response = await fetch(url, options);
      return { status: response.status, body: await response.text() };
    },
    [url, options],
  );
}

// ---------------------------------------------------------------------------------------
// Browser

async function launch() {
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
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // Every API's app host reaches the data plane; every other name fails at once, so
      // a page that loads something from the internet cannot hang on this closed network.
      '--host-resolver-rules=MAP *.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
    viewport: { width: 1280, height: 800 },
  });
  context.setDefaultTimeout(15_000);
  context.on('page', watch);
  for (const page of context.pages()) {
    watch(page);
  }
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
  page.on('requestfailed', (request) => {
    note(`${request.method()} ${request.url()} failed: ${request.failure()?.errorText}`);
  });
}

async function newPage(context, viewport) {
  const page = await context.newPage();
  if (viewport) {
    await page.setViewportSize(viewport);
  }
  return page;
}

async function cookie(context, name, path = undefined) {
  const cookies = await context.cookies();
  const host = new URL(APP_ORIGIN).hostname;
  return cookies.find((c) => c.name === name && c.domain.replace(/^\./, '') === host
    && (path === undefined || c.path === path));
}

async function advanceClock(seconds) {
  const response = await fetch(`${CLOCK_URL}/advance?seconds=${seconds}`, { method: 'POST' });
  check(response.ok, `the test clock moved ${seconds} s forward`, `status ${response.status}`);
}

// ---------------------------------------------------------------------------------------
// The login page's layout, at a phone's size and a desktop's

/** WCAG 2.1 contrast ratio of two computed `rgb(r, g, b)` colours. */
function contrastRatio(first, second) {
  const luminance = (colour) => {
    const [r, g, b] = (colour.match(/\d+(\.\d+)?/g) ?? []).slice(0, 3).map((part) => {
      const value = Number(part) / 255;
      return value <= 0.04045 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [light, dark] = [luminance(first), luminance(second)].sort((a, b) => b - a);
  return (light + 0.05) / (dark + 0.05);
}

async function screenshots(context) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const sizes = [
    { label: 'phone', width: 390, height: 844 },
    { label: 'desktop', width: 1280, height: 800 },
  ];
  for (const { label, width, height } of sizes) {
    const page = await newPage(context, { width, height });
    const response = await page.goto(`${APP_ORIGIN}/login`);
    check(response?.status() === 200, `${label}: GET /login is 200`, `got ${response?.status()}`);
    await page.screenshot({ path: join(SCREENSHOT_DIR, `login-${label}.png`), fullPage: true });

    const facts = await page.evaluate(() => ({
      lang: document.documentElement.lang,
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      innerHeight: window.innerHeight,
      headings: [...document.querySelectorAll('h1')].map((h) => h.textContent.trim()),
      title: document.title,
    }));
    check(facts.lang.length > 0, `${label}: <html> has a lang`, show(facts));
    check(
      facts.scrollWidth <= facts.innerWidth,
      `${label}: nothing overflows sideways`,
      `scrollWidth ${facts.scrollWidth} > innerWidth ${facts.innerWidth}`,
    );
    check(
      facts.headings.length === 1 && facts.headings[0].includes(DISPLAY_NAME),
      `${label}: the one heading names the API, "${DISPLAY_NAME}"`,
      `headings ${show(facts.headings)}`,
    );

    const button = providerButton(page);
    check((await button.count()) === 1, `${label}: one "${BUTTON_LABEL}" control`);
    check(await button.isVisible(), `${label}: the provider button is visible`);
    const box = await button.boundingBox();
    check(box !== null && box.height >= 44, `${label}: the button is at least 44 px tall`,
      show(box));
    check(
      box.x >= 0 && box.y >= 0 && box.x + box.width <= facts.innerWidth
        && box.y + box.height <= facts.innerHeight,
      `${label}: the button lies inside the viewport without scrolling`,
      `${show(box)} in ${facts.innerWidth}x${facts.innerHeight}`,
    );
    const colours = await button.evaluate((element) => {
      const style = getComputedStyle(element);
      return { text: style.color, background: style.backgroundColor };
    });
    const ratio = contrastRatio(colours.text, colours.background);
    check(ratio >= 4.5, `${label}: the button's text contrasts at least 4.5:1 (WCAG AA)`,
      `${show(colours)}: ${ratio.toFixed(2)}:1`);

    // Keyboard: Tab from the top of the page reaches the button, which then looks focused.
    const unfocused = await focusLook(button);
    let reached = false;
    for (let presses = 0; presses < 10 && !reached; presses += 1) {
      await page.keyboard.press('Tab');
      reached = await button.evaluate((element) => element === document.activeElement);
    }
    check(reached, `${label}: Tab reaches the provider button`);
    const focused = await focusLook(button);
    const outlined = focused.outlineStyle !== 'none' && parseFloat(focused.outlineWidth) > 0;
    check(
      (outlined || focused.boxShadow !== unfocused.boxShadow)
        && JSON.stringify(focused) !== JSON.stringify(unfocused),
      `${label}: the focused button shows a visible focus style`,
      `unfocused ${show(unfocused)}, focused ${show(focused)}`,
    );
    await page.screenshot({ path: join(SCREENSHOT_DIR, `login-${label}-focus.png`) });
    await page.close();
  }
}

function providerButton(page) {
  return page.locator('a, button').filter({ hasText: BUTTON_LABEL });
}

function focusLook(locator) {
  return locator.evaluate((element) => {
    const style = getComputedStyle(element);
    return {
      outlineStyle: style.outlineStyle,
      outlineWidth: style.outlineWidth,
      outlineColor: style.outlineColor,
      boxShadow: style.boxShadow,
    };
  });
}

// ---------------------------------------------------------------------------------------
// Sign-in, the session's life, sign-out

async function signInAndUseTheSession(context) {
  const page = await newPage(context);
  const loginResponse = await page.goto(`${APP_ORIGIN}/login`);
  check(loginResponse?.status() === 200, 'GET /login on the app host is 200');
  check(
    (await page.locator('h1').first().textContent())?.includes(DISPLAY_NAME),
    `the login page's heading names "${DISPLAY_NAME}"`,
  );
  const button = providerButton(page);
  check((await button.count()) === 1, `the login page offers "${BUTTON_LABEL}"`);

  // At the provider: oidc-provider's own sign-in form, then its consent form.
  await button.click();
  await page.waitForURL((url) => url.origin !== APP_ORIGIN);
  const idpOrigin = new URL(page.url()).origin;
  check(
    /^http:\/\/127\.0\.0\.1:\d+$/.test(idpOrigin),
    'the button leads to the OpenID provider',
    page.url(),
  );
  await page.locator('input[name="login"]').fill(LOGIN_NAME);
  await page.locator('input[name="password"]').fill('any password will do');
  await page.locator('button[type="submit"]').click();
  await page.waitForURL((url) => url.origin === APP_ORIGIN
    || url.pathname.startsWith('/interaction/'));
  if (new URL(page.url()).origin === idpOrigin) {
    const consent = page.locator('button[type="submit"]', { hasText: 'Continue' });
    await consent.click();
  }

  // Back on the app host: the callback set the cookies and sent the browser to the web app.
  await page.waitForURL(
    (url) => url.origin === APP_ORIGIN && !url.pathname.startsWith('/login'),
    { timeout: 15_000 },
  ).catch(async () => {
    throw new CheckFailed(`sign-in did not return to the app; stuck at ${page.url()}: `
      + show(await page.locator('body').innerText().catch(() => '')));
  });
  check(true, `the sign-in returned to the app at ${new URL(page.url()).pathname}`);
  await page.waitForLoadState();
  const landed = await page.locator('body').innerText();
  check(landed.includes(WEB_MARKER), 'the app page is the web upstream\'s', show(landed));

  const access = await cookie(context, ACCESS_COOKIE);
  const refresh = await cookie(context, REFRESH_COOKIE, '/api/_refresh');
  check(access !== undefined, `the access cookie ${ACCESS_COOKIE} is set`,
    show((await context.cookies()).map((c) => c.name)));
  check(access.httpOnly, 'the access cookie is HttpOnly');
  check(access.sameSite === 'Lax', 'the access cookie is SameSite=Lax', access.sameSite);
  check(access.path === '/', 'the access cookie covers the app host', access.path);
  check(refresh !== undefined, `the refresh cookie ${REFRESH_COOKIE} is set`);
  check(refresh.httpOnly, 'the refresh cookie is HttpOnly');
  const refreshPaths = (await context.cookies())
    .filter((c) => c.name === REFRESH_COOKIE)
    .map((c) => c.path)
    .sort();
  check(
    show(refreshPaths) === show(['/api/_logout', '/api/_refresh']),
    'the refresh cookie goes only to /api/_refresh (and a copy naming the session to /api/_logout)',
    show(refreshPaths),
  );
  const visible = await page.evaluate(() => document.cookie);
  check(
    !visible.includes(ACCESS_COOKIE) && !visible.includes(access.value)
      && !visible.includes(refresh.value),
    'scripts cannot read the session cookies',
    visible,
  );

  // The reference page's apiCall, exactly as written, against the upstream's /products.
  const first = await runApiCall(page, '/api/products');
  check(first?.status === 200, 'apiCall(\'/api/products\') is 200 after sign-in', show(first));
  process.stdout.write(`IDENTITY ${first.body}\n`);
  const refreshes = [];
  page.on('response', (response) => {
    if (response.url() === `${APP_ORIGIN}/api/_refresh`) {
      refreshes.push(response.status());
    }
  });
  check(refreshes.length === 0, 'a fresh session needs no refresh');

  // An hour later the access token has expired; the cookie is still sent (the browser's
  // clock did not move) and refused. apiCall refreshes through the refresh cookie.
  await advanceClock(ADVANCE_SECONDS);
  const expired = await runFetch(page, '/api/products');
  check(expired.status === 401, 'fetch(\'/api/products\') is 401 once the token expired',
    show(expired));
  const renewed = await runApiCall(page, '/api/products');
  check(renewed?.status === 200, 'apiCall refreshes and then gets 200', show(renewed));
  check(
    refreshes.length === 1 && refreshes[0] >= 200 && refreshes[0] < 300,
    'apiCall made one successful POST /api/_refresh',
    show(refreshes),
  );
  process.stdout.write(`IDENTITY ${renewed.body}\n`);
  const newAccess = await cookie(context, ACCESS_COOKIE);
  check(newAccess !== undefined && newAccess.value !== access.value,
    'the refresh set a new access cookie');
  const newRefresh = await cookie(context, REFRESH_COOKIE);
  check(newRefresh !== undefined && newRefresh.value !== refresh.value,
    'the refresh rotated the refresh cookie');

  // Sign-out ends the session: apiCall's refresh fails too, and it sends the browser to /login.
  const logout = await runFetch(page, '/api/_logout', { method: 'POST' });
  check(logout.status >= 200 && logout.status < 300, 'POST /api/_logout succeeds', show(logout));
  check((await cookie(context, ACCESS_COOKIE)) === undefined, 'logout removed the access cookie');
  check((await cookie(context, REFRESH_COOKIE)) === undefined,
    'logout removed the refresh cookie');
  const toLogin = page.waitForURL(`${APP_ORIGIN}/login`).then(() => null, (error) => error);
  const after = await runApiCall(page, '/api/products').catch((error) => {
    // The navigation to /login may end the script's context before it answers.
    if (/context was destroyed|navigat/i.test(error.message)) {
      return undefined;
    }
    throw error;
  });
  check(after === undefined, 'after logout apiCall gives up', show(after));
  const stuck = await toLogin;
  check(stuck === null, 'after logout apiCall navigates to /login', stuck?.message);
  check(page.url() === `${APP_ORIGIN}/login`, 'after logout apiCall ends at /login', page.url());
  check(refreshes.length === 2 && refreshes[1] === 401,
    'after logout the refresh is refused with 401', show(refreshes));
  check(await providerButton(page).isVisible(), 'the login page offers sign-in again');
  await page.close();
}

// ---------------------------------------------------------------------------------------

const started = Date.now();
let browser;
let failed = 0;
try {
  browser = await launch();
  await screenshots(browser.context);
  await signInAndUseTheSession(browser.context);
} catch (error) {
  failed = 1;
  reportFailure(error);
} finally {
  await browser?.close().catch(() => {});
}
process.stdout.write(`browser: ${Date.now() - started} ms\n`);
reportCounts(failed);
process.exit(failed ? 1 : 0);
