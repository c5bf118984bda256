//! Passkeys (WebAuthn) on the hosted login: sign-up, sign-in without a user name (discoverable
//! credentials, with the browser's autofill), and adding one to a signed-in account.
//!
//! Every ceremony has two steps. The page asks for options (`.../options`); the data plane
//! seals the ceremony's state (challenge, relying party, purpose) into the passkey cookie
//! and answers the options the browser hands to `navigator.credentials`. The page then posts
//! what the authenticator made; the data plane opens the cookie, verifies the credential with
//! webauthn-rs, and only then calls the control plane: to look the passkey up, to record the
//! sign-in (which spends the challenge, so a replay is refused) or to store the new passkey.
//! Nothing about a ceremony is kept in the data plane's memory, so any replica may finish a
//! ceremony another one started.
//!
//! The relying party is the host the page is served on: its id is the host name, its only
//! origin the page's own. A passkey made on the app host therefore does not work on the
//! regional host or a custom domain, as WebAuthn intends.

mod account;
mod ceremony;
mod error;
mod page;

use axum::body::Body;
use axum::http::header::LOCATION;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use restapi_shared::node::{
    PasskeyLookupRequest, PasskeyOwner, PasskeyRegisterOutcome, PasskeyRegisterRequest,
    PasskeySignInOutcome, PasskeySignInRequest, ResolvedUser,
};
use restapi_shared::push::{ProviderConfig, ProviderKind};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use webauthn_rs::prelude::{
    DiscoverableKey, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, WebauthnError,
};

use super::super::body::read_limited;
use super::super::csrf;
use super::super::session;
use super::super::{EndpointCall, method_not_allowed};
use super::{LoginHost, app_code_redirect, append_cookie, authorization, checked_redirect};
use crate::grants::IssueContext;
use crate::metrics::SignInOutcome;
use account::{list, signed_in_user};
pub(crate) use account::{manage, remove};
use ceremony::{
    Destination, RelyingParty, Step, credential_json, decode_user_handle, discoverable,
    new_ceremony, new_user_handle, opened_ceremony, options_response,
};
pub(crate) use error::PasskeyError;
use error::verification_error;
pub(crate) use page::{PasskeySection, SCRIPT, login_section};

/// How long a ceremony may take from its options to the credential, in seconds; also the
/// timeout the browser is given.
pub(crate) const CEREMONY_TTL: i64 = 300;
/// How recent a sign-in must be for its session to add a passkey, in seconds.
pub(crate) const RECENT_SIGN_IN: i64 = 300;
/// The label of a new passkey in the user's list.
const PASSKEY_LABEL: &str = "Passkey";
/// Longest name a person may give at sign-up.
const MAX_NAME_LEN: usize = 200;
/// Longest email address.
const MAX_EMAIL_LEN: usize = 254;

/// The passkey provider of the API, if enabled.
pub(crate) fn provider<'a>(call: &EndpointCall<'a>) -> Option<&'a ProviderConfig> {
    call.api
        .providers
        .iter()
        .find(|provider| provider.kind == ProviderKind::Passkey && provider.enabled)
}

/// Whether the rest of a login path (after `login`) is one of the JSON endpoints.
pub(crate) fn is_json_endpoint(rest: &str) -> bool {
    JsonStep::at(rest).is_some()
}

/// The JSON endpoints under `login/passkey/` and `login/passkeys/add`, by the rest of the
/// path after `login`.
pub(crate) async fn json_endpoint(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    rest: &str,
    body: Body,
) -> Response {
    let host_name = host_name(host);
    let Some(step) = JsonStep::at(rest) else {
        return PasskeyError::NotEnabled.response(host_name);
    };
    if call.parts.method != axum::http::Method::POST {
        return method_not_allowed("POST");
    }
    let result = run(call, host, step, body).await;
    if matches!(step, JsonStep::SignIn | JsonStep::SignUp) {
        let outcome = match &result {
            Ok(_) => SignInOutcome::SignedIn,
            Err(failure) => failure.outcome(),
        };
        call.state.metrics.sign_in(outcome);
    }
    let mut response = result.unwrap_or_else(|failure| {
        tracing::info!(api = %call.api.name, host = host_name, ?step, error = %failure,
            "passkey step refused");
        failure.response(host_name)
    });
    if step.finishes() {
        // The cookie serves one ceremony, whatever its outcome.
        let scope = &host.scope;
        append_cookie(
            &mut response,
            &session::clear_cookie(scope.passkey_name, &scope.path, scope.secure),
        );
    }
    response
}

#[derive(Clone, Copy, Debug)]
enum JsonStep {
    SignInOptions,
    SignIn,
    SignUpOptions,
    SignUp,
    AddOptions,
    Add,
}

impl JsonStep {
    fn at(rest: &str) -> Option<Self> {
        Some(match rest {
            "/passkey/sign-in/options" => Self::SignInOptions,
            "/passkey/sign-in" => Self::SignIn,
            "/passkey/sign-up/options" => Self::SignUpOptions,
            "/passkey/sign-up" => Self::SignUp,
            "/passkeys/add/options" => Self::AddOptions,
            "/passkeys/add" => Self::Add,
            _ => return None,
        })
    }

    fn finishes(self) -> bool {
        matches!(self, Self::SignIn | Self::SignUp | Self::Add)
    }
}

async fn run(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    step: JsonStep,
    body: Body,
) -> Result<Response, PasskeyError> {
    // Only the login page itself drives a ceremony: not another site, not a CORS origin.
    if !csrf::origin_allowed(&call.parts.headers, &host.own_origin, &[]) {
        return Err(PasskeyError::CrossSite);
    }
    let provider = provider(call).ok_or(PasskeyError::NotEnabled)?;
    let party = RelyingParty::of(host, &call.api.name)?;
    let body = read_limited(&call.parts.headers, body)
        .await
        .map_err(|_| PasskeyError::InvalidRequest("the body is too large or unreadable"))?;
    match step {
        JsonStep::SignInOptions => sign_in_options(call, host, &party),
        JsonStep::SignIn => sign_in(call, host, &party, &body).await,
        JsonStep::SignUpOptions => sign_up_options(call, host, &party, provider, &body),
        JsonStep::SignUp => sign_up(call, host, &party, provider, &body).await,
        JsonStep::AddOptions => add_options(call, host, &party).await,
        JsonStep::Add => add(call, host, &party, &body).await,
    }
}

/// Where the page will send the person once signed in: an app's authorization request when
/// the page serves one (checked as at `login/start`), else its own `?redirect=`, checked like
/// the login page's.
#[derive(Debug, Default, Deserialize)]
struct RedirectQuery {
    redirect: Option<String>,
}

fn requested_destination(
    call: &EndpointCall<'_>,
    host: &LoginHost,
) -> Result<Destination, PasskeyError> {
    let query = call.parts.uri.query().unwrap_or_default();
    if authorization::is_authorization_request(query) {
        // The login page refused a bad request before offering passkeys; this is a forgery.
        return authorization::check(call.api, query)
            .map(Destination::App)
            .map_err(|_| {
                PasskeyError::InvalidRequest("the app's authorization request is invalid")
            });
    }
    let query: RedirectQuery = serde_urlencoded::from_str(query).unwrap_or_default();
    checked_redirect(call, host, query.redirect.as_deref())
        .map(Destination::Browser)
        .ok_or(PasskeyError::InvalidRequest(
            "redirect names an address not allowed here",
        ))
}

/// `POST login/passkey/sign-in/options`: a challenge for any of the API's passkeys, for a
/// button or the browser's autofill (conditional mediation).
fn sign_in_options(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    party: &RelyingParty,
) -> Result<Response, PasskeyError> {
    let destination = requested_destination(call, host)?;
    let (options, authentication) = party
        .webauthn
        .start_discoverable_authentication()
        .map_err(|failure| internal("sign-in options", call, failure))?;
    let ceremony = new_ceremony(call, party, destination, Step::SignIn(authentication));
    Ok(options_response(call, host, &ceremony, &options))
}

/// `POST login/passkey/sign-in`: verifies the assertion, then asks the control plane to
/// spend the challenge and resolve the user, and starts the session.
async fn sign_in(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    party: &RelyingParty,
    body: &[u8],
) -> Result<Response, PasskeyError> {
    let ceremony = opened_ceremony(call, host, party)?;
    let Step::SignIn(authentication) = ceremony.step else {
        return Err(PasskeyError::ChallengeInvalid);
    };
    let credential: PublicKeyCredential = parse(body)?;
    let (user_handle, credential_id) = party
        .webauthn
        .identify_discoverable_authentication(&credential)
        .map_err(|_| PasskeyError::InvalidRequest("the passkey response names no user"))?;
    let credential_id = URL_SAFE_NO_PAD.encode(credential_id);

    let control_plane = control_plane(call)?;
    let lookup = PasskeyLookupRequest {
        api_id: call.api.id.clone(),
        credential_id,
    };
    let stored = control_plane
        .lookup_passkey(&lookup)
        .await
        .map_err(|failure| unavailable(call, "passkey lookup", &failure))?
        .passkey
        .ok_or(PasskeyError::UnknownPasskey)?;
    // WebAuthn §7.2 step 6: the user handle must be the one the credential belongs to.
    if stored.user_handle != URL_SAFE_NO_PAD.encode(user_handle.as_bytes()) {
        return Err(PasskeyError::Refused);
    }
    let mut passkey: Passkey = serde_json::from_value(stored.credential).map_err(|_| {
        tracing::error!(api = %call.api.name, passkey = %stored.id, "stored passkey unreadable");
        PasskeyError::Unavailable
    })?;
    let key = DiscoverableKey::from(&passkey);
    let result = party
        .webauthn
        .finish_discoverable_authentication(&credential, authentication, &[key])
        .map_err(|failure| refused(call, party, &credential.response.client_data_json, failure))?;
    passkey.update_credential(&result);

    let record = PasskeySignInRequest {
        api_id: call.api.id.clone(),
        passkey_id: stored.id.clone(),
        challenge_id: ceremony.challenge_id,
        challenge_expires_at: ceremony.created_at + CEREMONY_TTL,
        credential: credential_json(&passkey)?,
        sign_count: result.counter(),
        backup_state: result.backup_state(),
    };
    let answer = control_plane
        .passkey_signed_in(&record)
        .await
        .map_err(|failure| unavailable(call, "passkey sign-in record", &failure))?;
    let user = match (answer.outcome, answer.user) {
        (PasskeySignInOutcome::SignedIn, Some(user)) => user,
        (PasskeySignInOutcome::SignedIn, None) => return Err(PasskeyError::Unavailable),
        (PasskeySignInOutcome::Disabled, _) => return Err(PasskeyError::Disabled),
        (PasskeySignInOutcome::UnknownPasskey, _) => return Err(PasskeyError::UnknownPasskey),
        (PasskeySignInOutcome::ChallengeUsed, _) => return Err(PasskeyError::ChallengeUsed),
        (PasskeySignInOutcome::CounterRegressed, _) => return Err(PasskeyError::Refused),
    };
    tracing::info!(api = %call.api.name, user = %user.id, passkey = %stored.id,
        "signed in with a passkey");
    signed_in(call, host, &user, ceremony.destination)
}

/// What a person gives to sign up.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignUpForm {
    name: String,
    #[serde(default)]
    email: Option<String>,
}

/// `POST login/passkey/sign-up/options`: a new user handle and the options to create a
/// discoverable credential for it, where the provider creates users.
fn sign_up_options(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    party: &RelyingParty,
    provider: &ProviderConfig,
    body: &[u8],
) -> Result<Response, PasskeyError> {
    if !provider.auto_create {
        return Err(PasskeyError::NotRegistered);
    }
    let destination = requested_destination(call, host)?;
    let form: SignUpForm = parse(body)?;
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control)
    {
        return Err(PasskeyError::InvalidRequest(
            "name must be 1 to 200 printable characters",
        ));
    }
    let email = match form.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(email) if looks_like_email(email) => Some(email.to_owned()),
        Some(_) => {
            return Err(PasskeyError::InvalidRequest(
                "email is not an email address",
            ));
        }
    };

    let user_handle = new_user_handle();
    let label = email.as_deref().unwrap_or(name);
    let (options, registration) = party
        .webauthn
        .start_passkey_registration(user_handle, label, name, None)
        .map_err(|failure| internal("sign-up options", call, failure))?;
    let step = Step::SignUp {
        registration,
        name: name.to_owned(),
        email,
        user_handle: URL_SAFE_NO_PAD.encode(user_handle.as_bytes()),
    };
    let ceremony = new_ceremony(call, party, destination, step);
    Ok(options_response(
        call,
        host,
        &ceremony,
        &discoverable(options)?,
    ))
}

/// `POST login/passkey/sign-up`: verifies the new credential, has the control plane create
/// the user with it (the API's default roles), and starts the session.
async fn sign_up(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    party: &RelyingParty,
    provider: &ProviderConfig,
    body: &[u8],
) -> Result<Response, PasskeyError> {
    let ceremony = opened_ceremony(call, host, party)?;
    let Step::SignUp {
        registration,
        name,
        email,
        user_handle,
    } = ceremony.step
    else {
        return Err(PasskeyError::ChallengeInvalid);
    };
    let passkey = verified_registration(call, party, &registration, body)?;

    let owner = PasskeyOwner::SignUp {
        name,
        email,
        auto_create: provider.auto_create,
    };
    let (user, passkey_id) = register(call, owner, user_handle, &passkey).await?;
    tracing::info!(api = %call.api.name, user = %user.id, passkey = %passkey_id,
        "signed up with a passkey");
    signed_in(call, host, &user, ceremony.destination)
}

/// `POST login/passkeys/add/options`: options to add a passkey to the signed-in account,
/// which must have signed in within [`RECENT_SIGN_IN`].
async fn add_options(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    party: &RelyingParty,
) -> Result<Response, PasskeyError> {
    let session = signed_in_user(call, host)?;
    if call.now - session.auth_time > RECENT_SIGN_IN || session.auth_time > call.now {
        return Err(PasskeyError::ReauthenticationRequired);
    }
    let listed = list(call, &session.user_id).await?;
    if !listed.active {
        return Err(PasskeyError::SignInRequired);
    }
    let user_handle = match &listed.user_handle {
        Some(handle) => decode_user_handle(handle).ok_or(PasskeyError::Unavailable)?,
        None => new_user_handle(),
    };
    let exclude = listed
        .passkeys
        .iter()
        .filter_map(|passkey| URL_SAFE_NO_PAD.decode(&passkey.credential_id).ok())
        .map(Into::into)
        .collect();
    let label = session.email.as_deref().unwrap_or(&session.name);
    let display_name = if session.name.is_empty() {
        label
    } else {
        &session.name
    };
    let (options, registration) = party
        .webauthn
        .start_passkey_registration(user_handle, label, display_name, Some(exclude))
        .map_err(|failure| internal("add options", call, failure))?;
    let step = Step::Add {
        registration,
        user_id: session.user_id,
        user_handle: URL_SAFE_NO_PAD.encode(user_handle.as_bytes()),
    };
    let destination = Destination::Browser(host.passkeys_path());
    let ceremony = new_ceremony(call, party, destination, step);
    Ok(options_response(
        call,
        host,
        &ceremony,
        &discoverable(options)?,
    ))
}

/// `POST login/passkeys/add`: verifies the new credential and stores it for the user who
/// started the ceremony, if they are still the one signed in.
async fn add(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    party: &RelyingParty,
    body: &[u8],
) -> Result<Response, PasskeyError> {
    let session = signed_in_user(call, host)?;
    let ceremony = opened_ceremony(call, host, party)?;
    let Step::Add {
        registration,
        user_id,
        user_handle,
    } = ceremony.step
    else {
        return Err(PasskeyError::ChallengeInvalid);
    };
    if user_id != session.user_id {
        return Err(PasskeyError::ChallengeInvalid);
    }
    let passkey = verified_registration(call, party, &registration, body)?;

    let owner = PasskeyOwner::Existing { user_id };
    let (user, passkey_id) = register(call, owner, user_handle, &passkey).await?;
    tracing::info!(api = %call.api.name, user = %user.id, passkey = %passkey_id,
        "passkey added");
    let body = serde_json::json!({ "id": passkey_id });
    Ok(super::super::no_store(axum::Json(body).into_response()))
}

/// The new passkey in `body`, verified against the ceremony's `registration` state.
fn verified_registration(
    call: &EndpointCall<'_>,
    party: &RelyingParty,
    registration: &PasskeyRegistration,
    body: &[u8],
) -> Result<Passkey, PasskeyError> {
    let credential: RegisterPublicKeyCredential = parse(body)?;
    party
        .webauthn
        .finish_passkey_registration(&credential, registration)
        .map_err(|failure| refused(call, party, &credential.response.client_data_json, failure))
}

/// Hands a verified new passkey to the control plane.
async fn register(
    call: &EndpointCall<'_>,
    owner: PasskeyOwner,
    user_handle: String,
    passkey: &Passkey,
) -> Result<(ResolvedUser, String), PasskeyError> {
    let credential = credential_json(passkey)?;
    let flags = &credential["cred"];
    let request = PasskeyRegisterRequest {
        api_id: call.api.id.clone(),
        owner,
        user_handle,
        credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id().as_slice()),
        name: PASSKEY_LABEL.to_owned(),
        sign_count: flags["counter"]
            .as_u64()
            .and_then(|count| u32::try_from(count).ok())
            .unwrap_or(0),
        backup_eligible: flags["backup_eligible"].as_bool().unwrap_or(false),
        backup_state: flags["backup_state"].as_bool().unwrap_or(false),
        credential,
    };
    let answer = control_plane(call)?
        .register_passkey(&request)
        .await
        .map_err(|failure| unavailable(call, "passkey registration", &failure))?;
    match (answer.outcome, answer.user, answer.passkey_id) {
        (PasskeyRegisterOutcome::Registered, Some(user), Some(id)) => Ok((user, id)),
        (PasskeyRegisterOutcome::Registered, _, _) => Err(PasskeyError::Unavailable),
        (PasskeyRegisterOutcome::NotRegistered, _, _) => Err(PasskeyError::NotRegistered),
        (PasskeyRegisterOutcome::Disabled, _, _) => Err(PasskeyError::Disabled),
        (PasskeyRegisterOutcome::UnknownUser, _, _) => Err(PasskeyError::SignInRequired),
        (PasskeyRegisterOutcome::CredentialTaken, _, _) => Err(PasskeyError::CredentialTaken),
        (PasskeyRegisterOutcome::HandleMismatch, _, _) => Err(PasskeyError::ChallengeInvalid),
    }
}

/// The end of a sign-in: for the browser, the session cookies like any provider's and where
/// the page goes next; for an app, the address of its code (no cookies), which the page
/// follows.
fn signed_in(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    user: &ResolvedUser,
    destination: Destination,
) -> Result<Response, PasskeyError> {
    let redirect = match destination {
        Destination::Browser(redirect) => redirect,
        Destination::App(request) => {
            let answer = app_code_redirect(call, &request, user);
            let location = answer
                .headers()
                .get(LOCATION)
                .and_then(|location| location.to_str().ok())
                .ok_or(PasskeyError::Unavailable)?;
            let body = serde_json::json!({ "redirect": location });
            return Ok(super::super::no_store(axum::Json(body).into_response()));
        }
    };
    let context = IssueContext {
        api: call.api,
        issuer: &call.issuer,
        now: call.now,
    };
    let session = session::begin(context, user).map_err(|_| PasskeyError::Unavailable)?;
    let body = serde_json::json!({ "redirect": redirect });
    let mut response = super::super::no_store(axum::Json(body).into_response());
    for cookie in session.cookies(&host.scope, call.now) {
        append_cookie(&mut response, &cookie);
    }
    append_cookie(&mut response, &session.logout_cookie(&host.scope, call.now));
    Ok(response)
}

/// What a failed verification means, logged. A browser that answers for another origin or
/// relying party points at a misconfigured host or proxy (or an attack), which an operator
/// should see with both origins, as a counter that did not grow; the library's text stays
/// out of the answer.
fn refused(
    call: &EndpointCall<'_>,
    party: &RelyingParty,
    client_data_json: &[u8],
    failure: WebauthnError,
) -> PasskeyError {
    if matches!(failure, WebauthnError::CredentialPossibleCompromise) {
        // WebAuthn §6.1.1: a counter that did not grow may be a cloned authenticator, or a
        // replayed assertion.
        tracing::warn!(api = %call.api.name, "passkey counter did not grow: refused");
    }
    let refusal = verification_error(failure);
    if matches!(
        refusal,
        PasskeyError::OriginMismatch | PasskeyError::RelyingPartyIdMismatch
    ) {
        #[derive(Deserialize)]
        struct ClientData {
            origin: String,
        }
        let browser_origin = serde_json::from_slice::<ClientData>(client_data_json)
            .map(|data| data.origin)
            .unwrap_or_default();
        tracing::warn!(api = %call.api.name, expected_origin = %party.origin,
            browser_origin = %browser_origin, error = %refusal,
            "passkey made for another origin or relying party");
    }
    refusal
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, PasskeyError> {
    serde_json::from_slice(body)
        .map_err(|_| PasskeyError::InvalidRequest("the body is not the expected JSON"))
}

fn internal(what: &str, call: &EndpointCall<'_>, failure: WebauthnError) -> PasskeyError {
    tracing::error!(api = %call.api.name, step = what, error = ?failure,
        "passkey options could not be made");
    PasskeyError::Unavailable
}

fn control_plane<'a>(
    call: &EndpointCall<'a>,
) -> Result<&'a crate::node_client::NodeClient, PasskeyError> {
    call.state.control_plane.as_ref().ok_or_else(|| {
        tracing::warn!(api = %call.api.name, "passkeys impossible: no control plane configured");
        PasskeyError::Unavailable
    })
}

fn unavailable(
    call: &EndpointCall<'_>,
    what: &str,
    failure: &crate::node_client::NodeError,
) -> PasskeyError {
    let failure = crate::node_client::error_chain(failure);
    tracing::warn!(api = %call.api.name, call = what, error = failure,
        "control plane call failed");
    PasskeyError::Unavailable
}

/// The host name as the browser sent it, for messages and logs.
pub(super) fn host_name(host: &LoginHost) -> &str {
    host.own_origin
        .split_once("://")
        .map_or(host.own_origin.as_str(), |(_, rest)| rest)
}

/// A plausible address: one `@` with text on both sides, no spaces. The control plane keeps
/// only addresses it accepts.
fn looks_like_email(email: &str) -> bool {
    email.len() <= MAX_EMAIL_LEN
        && !email
            .chars()
            .any(|character| character.is_whitespace() || character.is_control())
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn only_plausible_addresses_pass_for_email() {
        assert!(looks_like_email("ada@example.com"));
        for bad in [
            "ada",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "ada@ex\nample.com",
        ] {
            assert!(!looks_like_email(bad), "{bad:?}");
        }
        assert!(!looks_like_email(&format!(
            "{}@example.com",
            "a".repeat(250)
        )));
    }

    #[tokio::test]
    async fn refusals_carry_stable_codes_and_never_a_library_message() {
        let cases = [
            (
                PasskeyError::OriginMismatch,
                StatusCode::BAD_REQUEST,
                "origin_mismatch",
            ),
            (
                PasskeyError::RelyingPartyIdMismatch,
                StatusCode::BAD_REQUEST,
                "relying_party_mismatch",
            ),
            (
                PasskeyError::HostMismatch,
                StatusCode::BAD_REQUEST,
                "relying_party_mismatch",
            ),
            (
                PasskeyError::ChallengeExpired,
                StatusCode::BAD_REQUEST,
                "challenge_expired",
            ),
            (
                PasskeyError::UnknownPasskey,
                StatusCode::UNAUTHORIZED,
                "unknown_passkey",
            ),
            (
                PasskeyError::Disabled,
                StatusCode::FORBIDDEN,
                "user_disabled",
            ),
            (
                PasskeyError::Unavailable,
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
            ),
        ];
        for (failure, status, code) in cases {
            let response = failure.response("shop.apps.test");
            assert_eq!(response.status(), status, "{failure:?}");
            assert_eq!(response.headers()["cache-control"], "no-store");
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"], code, "{failure:?}");
        }
        assert_eq!(
            verification_error(WebauthnError::InvalidRPOrigin),
            PasskeyError::OriginMismatch
        );
        assert_eq!(
            verification_error(WebauthnError::InvalidRPIDHash),
            PasskeyError::RelyingPartyIdMismatch
        );
        assert_eq!(
            verification_error(WebauthnError::CredentialPossibleCompromise),
            PasskeyError::Refused
        );
        let (_, message) = PasskeyError::HostNotRelyingParty.status_and_message("10.0.0.1:8080");
        assert!(message.contains("10.0.0.1:8080 is not one"), "{message}");
    }
}
