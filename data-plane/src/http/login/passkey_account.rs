//! `login/passkeys`: the page where a signed-in user sees their passkeys, adds one (after a
//! recent sign-in) and removes one.

use axum::body::Body;
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::utf8_percent_encode;
use serde::Deserialize;

use super::super::EndpointCall;
use super::super::body::read_limited;
use super::super::csrf;
use super::page::{self, Look};
use super::passkey::{self, PasskeyError, RECENT_SIGN_IN, host_name};
use super::{LoginHost, UNRESERVED, passkey_page};

/// `GET login/passkeys`: the user's passkeys; a browser without a session is sent to sign in
/// and come back.
pub(super) async fn manage(call: &EndpointCall<'_>, host: &LoginHost, look: &Look<'_>) -> Response {
    if passkey::provider(call).is_none() {
        return refusal(look, host, PasskeyError::NotEnabled);
    }
    let Ok(session) = passkey::signed_in_user(call, host) else {
        return sign_in_first(host);
    };
    let listed = match passkey::list(call, &session.user_id).await {
        Ok(listed) if listed.active => listed,
        Ok(_) => return sign_in_first(host),
        Err(failure) => return refusal(look, host, failure),
    };
    let recent = call.now - session.auth_time <= RECENT_SIGN_IN;
    passkey_page::manage_page(look, &host.login_path, &listed.passkeys, recent)
}

#[derive(Deserialize)]
struct RemoveForm {
    passkey: String,
}

/// `POST login/passkeys/remove`: removes one of the signed-in user's passkeys, then shows the
/// list again.
pub(super) async fn remove(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    look: &Look<'_>,
    body: Body,
) -> Response {
    if passkey::provider(call).is_none() {
        return refusal(look, host, PasskeyError::NotEnabled);
    }
    if !csrf::origin_allowed(&call.parts.headers, &host.own_origin, &[]) {
        return refusal(look, host, PasskeyError::CrossSite);
    }
    let Ok(session) = passkey::signed_in_user(call, host) else {
        return refusal(look, host, PasskeyError::SignInRequired);
    };
    let form: Option<RemoveForm> = match read_limited(&call.parts.headers, body).await {
        Ok(bytes) => serde_urlencoded::from_bytes(&bytes).ok(),
        Err(_) => None,
    };
    let Some(form) = form else {
        let failure = PasskeyError::InvalidRequest("name the passkey to remove");
        return refusal(look, host, failure);
    };
    match passkey::remove(call, &session.user_id, &form.passkey).await {
        Ok(true) => {
            tracing::info!(api = %call.api.name, user = %session.user_id,
                passkey = %form.passkey, "passkey removed by its user");
            see_other(&host.passkeys_path())
        }
        Ok(false) => refusal(look, host, PasskeyError::UnknownPasskey),
        Err(failure) => refusal(look, host, failure),
    }
}

/// To the login page, and back here once signed in.
fn sign_in_first(host: &LoginHost) -> Response {
    let back = utf8_percent_encode(&host.passkeys_path(), UNRESERVED).to_string();
    see_other(&format!("{}?redirect={back}", host.login_path))
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(location) {
        response.headers_mut().insert(LOCATION, location);
    }
    page::insert_security_headers(response.headers_mut());
    response
}

/// A readable page for a refused step, with the same message as the JSON answer.
fn refusal(look: &Look<'_>, host: &LoginHost, failure: PasskeyError) -> Response {
    let (status, message) = failure.status_and_message(host_name(host));
    tracing::info!(error = %failure, "passkey page refused");
    page::error_page(status, look, &message, Some(&host.passkeys_path()))
}
