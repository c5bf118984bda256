//! The passkey parts of the hosted login's HTML: the section of the login page (a button, the
//! autofill field and, where the provider creates users, the sign-up form) and the page where
//! a signed-in user lists, adds and removes their passkeys.
//!
//! The script is static and served inline under the page's CSP nonce; what it needs (the
//! login path and the query to pass on) travels in `data-` attributes, escaped like any text.
//! The section stays hidden until the script finds WebAuthn, so that a browser without
//! either never shows a form it cannot send (nor puts a name and address in a URL).

use std::fmt::Write as _;

use axum::http::StatusCode;
use axum::response::Response;
use restapi_shared::clock::UnixTime;
use restapi_shared::node::PasskeySummary;

use super::super::page::{self, Look, escape};

/// What the login page's passkey section offers.
pub(crate) struct PasskeySection<'a> {
    /// `/login` or `/<api>/login`.
    pub login_path: &'a str,
    /// The query the ceremony endpoints get: `redirect=...`, or an app's authorization request
    /// as it came; already encoded.
    pub query: &'a str,
    /// Whether the provider creates users, so that a sign-up form is shown.
    pub sign_up: bool,
}

/// The login page's passkey section.
pub(crate) fn login_section(section: &PasskeySection<'_>) -> String {
    let mut html = String::with_capacity(1024);
    let _ = writeln!(
        html,
        "<section id=\"passkey\" hidden data-base=\"{}\" data-query=\"{}\">",
        escape(section.login_path),
        escape(section.query)
    );
    // WebAuthn §5.1.4.2: the autofill offers passkeys in a field marked `webauthn`.
    html.push_str(
        "<label for=\"passkey-username\">Passkey</label>\n\
         <input id=\"passkey-username\" name=\"username\" \
         autocomplete=\"username webauthn\" placeholder=\"Choose a passkey\">\n\
         <button type=\"button\" class=\"button\" id=\"passkey-sign-in\">\
         Sign in with a passkey</button>\n",
    );
    if section.sign_up {
        html.push_str(
            "<form id=\"passkey-sign-up\">\n<h2>New here?</h2>\n\
             <label for=\"passkey-name\">Name</label>\n\
             <input id=\"passkey-name\" name=\"name\" autocomplete=\"name\" required \
             maxlength=\"200\">\n\
             <label for=\"passkey-email\">Email</label>\n\
             <input id=\"passkey-email\" name=\"email\" type=\"email\" autocomplete=\"email\" \
             maxlength=\"254\">\n\
             <button type=\"submit\" class=\"button\">Create an account with a passkey</button>\n\
             </form>\n",
        );
    }
    html.push_str("<p id=\"passkey-message\" role=\"alert\"></p>\n</section>\n");
    html
}

/// The signed-in user's passkeys, with a button to add one when the sign-in is recent and a
/// form to remove each.
pub(crate) fn manage_page(
    look: &Look<'_>,
    login_path: &str,
    passkeys: &[PasskeySummary],
    may_add: bool,
) -> Response {
    let mut body = String::with_capacity(1024);
    body.push_str("<h1>Your passkeys</h1>\n");
    if passkeys.is_empty() {
        body.push_str("<p id=\"passkey-none\">You have no passkey yet.</p>\n");
    } else {
        body.push_str("<ul id=\"passkey-list\">\n");
        for passkey in passkeys {
            let _ = writeln!(
                body,
                "<li class=\"passkey\" data-id=\"{id}\"><span>{name}, added {created}{used}\
                 {synced}</span>\n<form method=\"post\" action=\"{login}/passkeys/remove\">\
                 <input type=\"hidden\" name=\"passkey\" value=\"{id}\">\
                 <button type=\"submit\" class=\"link\">Remove</button></form></li>",
                id = escape(&passkey.id),
                name = escape(&passkey.name),
                created = date(passkey.created_at),
                used = passkey
                    .last_used_at
                    .map(|used| format!(", last used {}", date(used)))
                    .unwrap_or_default(),
                synced = if passkey.backup_state { ", synced" } else { "" },
                login = escape(login_path),
            );
        }
        body.push_str("</ul>\n");
    }
    let _ = writeln!(
        body,
        "<section id=\"passkey\" hidden data-base=\"{}\" data-query=\"\">",
        escape(login_path)
    );
    if may_add {
        body.push_str(
            "<button type=\"button\" class=\"button\" id=\"passkey-add\">Add a passkey</button>\n",
        );
    } else {
        let _ = writeln!(
            body,
            "<p>To add a passkey, <a class=\"link\" id=\"passkey-reauthenticate\" \
             href=\"{0}?redirect={0}%2Fpasskeys\">sign in again</a> first.</p>",
            escape(login_path)
        );
    }
    body.push_str("<p id=\"passkey-message\" role=\"alert\"></p>\n</section>\n");
    let title = format!("Your passkeys - {}", look.title);
    page::document_with_script(StatusCode::OK, look, &title, &body, SCRIPT)
}

/// A day, `YYYY-MM-DD` in UTC.
fn date(time: UnixTime) -> String {
    chrono::DateTime::from_timestamp(time, 0)
        .map(|moment| moment.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The page's script: WebAuthn options from JSON to the browser's buffers and back, the
/// autofill (conditional mediation), the button, sign-up and adding a passkey.
pub(crate) const SCRIPT: &str = r#"(() => {
'use strict';
const root = document.getElementById('passkey');
if (!root || !window.PublicKeyCredential) {
  return;
}
root.hidden = false;
const or = document.getElementById('passkey-or');
if (or) { or.hidden = false; }
const base = root.dataset.base;
const query = root.dataset.query ? '?' + root.dataset.query : '';
const message = document.getElementById('passkey-message');
const say = (text) => { message.textContent = text; };
const decode = (text) => {
  const plain = text.replace(/-/g, '+').replace(/_/g, '/');
  const padded = plain + '='.repeat((4 - plain.length % 4) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
};
const encode = (buffer) => {
  let binary = '';
  for (const byte of new Uint8Array(buffer)) { binary += String.fromCharCode(byte); }
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};
const post = async (path, body) => {
  const response = await fetch(base + path + query, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body || {}),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) { throw new Error(answer.message || 'The request failed.'); }
  return answer;
};
const creation = (options) => {
  const key = options.publicKey;
  key.challenge = decode(key.challenge);
  key.user.id = decode(key.user.id);
  for (const credential of key.excludeCredentials || []) {
    credential.id = decode(credential.id);
  }
  return key;
};
const request = (options) => {
  const key = options.publicKey;
  key.challenge = decode(key.challenge);
  for (const credential of key.allowCredentials || []) {
    credential.id = decode(credential.id);
  }
  return key;
};
const registration = (credential) => ({
  id: credential.id,
  rawId: encode(credential.rawId),
  type: credential.type,
  response: {
    attestationObject: encode(credential.response.attestationObject),
    clientDataJSON: encode(credential.response.clientDataJSON),
  },
  extensions: {},
});
const assertion = (credential) => ({
  id: credential.id,
  rawId: encode(credential.rawId),
  type: credential.type,
  response: {
    authenticatorData: encode(credential.response.authenticatorData),
    clientDataJSON: encode(credential.response.clientDataJSON),
    signature: encode(credential.response.signature),
    userHandle: credential.response.userHandle ? encode(credential.response.userHandle) : null,
  },
  extensions: {},
});
const failed = (error) => {
  if (error && error.name === 'AbortError') { return; }
  if (error && error.name === 'NotAllowedError') {
    say('The passkey was not used. Try again when you are ready.');
    return;
  }
  say(error && error.message ? error.message : 'Something went wrong.');
};
let pending = null;
const fresh = () => {
  if (pending) { pending.abort(); }
  pending = new AbortController();
  return pending.signal;
};
const signIn = async (conditional) => {
  const signal = fresh();
  const publicKey = request(await post('/passkey/sign-in/options'));
  const options = { publicKey, signal };
  if (conditional) { options.mediation = 'conditional'; }
  const credential = await navigator.credentials.get(options);
  if (!credential) { return; }
  say('Signing in...');
  const answer = await post('/passkey/sign-in', assertion(credential));
  window.location.assign(answer.redirect);
};
const create = async (path, body) => {
  const signal = fresh();
  const publicKey = creation(await post(path + '/options', body));
  const credential = await navigator.credentials.create({ publicKey, signal });
  return post(path, registration(credential));
};
const button = document.getElementById('passkey-sign-in');
if (button) {
  button.addEventListener('click', () => { signIn(false).catch(failed); });
  const available = PublicKeyCredential.isConditionalMediationAvailable;
  if (available) {
    available.call(PublicKeyCredential)
      .then((yes) => { if (yes) { signIn(true).catch(failed); } })
      .catch(() => {});
  }
}
const signUp = document.getElementById('passkey-sign-up');
if (signUp) {
  signUp.addEventListener('submit', (event) => {
    event.preventDefault();
    const form = new FormData(signUp);
    const body = { name: form.get('name'), email: form.get('email') || null };
    create('/passkey/sign-up', body)
      .then((answer) => { window.location.assign(answer.redirect); })
      .catch(failed);
  });
}
const add = document.getElementById('passkey-add');
if (add) {
  add.addEventListener('click', () => {
    create('/passkeys/add', {})
      .then(() => { window.location.reload(); })
      .catch(failed);
  });
}
})();
"#;
