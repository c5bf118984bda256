// How a browser spec reports: `ok - <check>` for each check passed; on a failure,
// `FAIL - <check>: <why>` and the last things the browser did (see `note`); last the counts,
// `N passed, N failed`, which tests/e2e/browser.rs reads.

/** A check that did not hold; its message is the check and why. */
export class CheckFailed extends Error {}

/** The browser's last navigations, console messages and requests, for a failure report. */
const trail = [];
const TRAIL_LENGTH = 80;
let passed = 0;

/** Remembers one thing the browser did. */
export function note(line) {
  trail.push(line);
  if (trail.length > TRAIL_LENGTH) {
    trail.shift();
  }
}

/** Counts a check that holds; stops the spec with `what` and `why` at one that does not. */
export function check(condition, what, why = '') {
  if (!condition) {
    throw new CheckFailed(`${what}${why ? `: ${why}` : ''}`);
  }
  passed += 1;
  process.stdout.write(`ok - ${what}\n`);
}

/** A value as text for a failure message, cut at 600 characters. */
export function show(value) {
  const text = typeof value === 'string' ? value : String(JSON.stringify(value));
  return text.length > 600 ? `${text.slice(0, 600)}...` : text;
}

/** Reports what stopped the spec: a failed check, or an error with its stack. */
export function reportFailure(error) {
  const message = error instanceof CheckFailed ? error.message : error.stack;
  process.stdout.write(`FAIL - ${message}\n`);
  if (trail.length > 0) {
    process.stdout.write('--- what the browser did last:\n');
    for (const line of trail) {
      process.stdout.write(`  ${line}\n`);
    }
  }
}

/** The last line: how many checks passed and whether one failed. */
export function reportCounts(failed) {
  process.stdout.write(`${passed} passed, ${failed} failed\n`);
}
