//! `login/passkeys`: the page where a signed-in user sees their passkeys, adds one (after a
//! recent sign-in) and removes one; and the session and control plane calls it rests on.

use axum::body::Body;
use axum::http::header::LOCATION;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::utf8_percent_encode;
use restapi_shared::clock::UnixTime;
use restapi_shared::node::{
    PasskeyListRequest, PasskeyListResponse, PasskeyRemoveRequest, PasskeyRemoveResponse,
};
use serde::Deserialize;

use super::super::super::EndpointCall;
use super::super::super::body::read_limited;
use super::super::super::csrf;
use super::super::page::{self, Look};
use super::super::{LoginHost, UNRESERVED};
use super::{PasskeyError, RECENT_SIGN_IN, control_plane, host_name, provider, unavailable};
use crate::cookies;

/// `GET login/passkeys`: the user's passkeys; a browser without a session is sent to sign in
/// and come back.
pub(crate) async fn manage(call: &EndpointCall<'_>, host: &LoginHost, look: &Look<'_>) -> Response {
    if provider(call).is_none() {
        return refusal(look, host, PasskeyError::NotEnabled);
    }
    let Ok(session) = signed_in_user(call, host) else {
        return sign_in_first(host);
    };
    let listed = match list(call, &session.user_id).await {
        Ok(listed) if listed.active => listed,
        Ok(_) => return sign_in_first(host),
        Err(failure) => return refusal(look, host, failure),
    };
    let recent = call.now - session.auth_time <= RECENT_SIGN_IN;
    super::page::manage_page(look, &host.login_path, &listed.passkeys, recent)
}

#[derive(Deserialize)]
struct RemoveForm {
    passkey: String,
}

/// `POST login/passkeys/remove`: removes one of the signed-in user's passkeys, then shows the
/// list again.
pub(crate) async fn remove(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    look: &Look<'_>,
    body: Body,
) -> Response {
    if provider(call).is_none() {
        return refusal(look, host, PasskeyError::NotEnabled);
    }
    if !csrf::origin_allowed(&call.parts.headers, &host.own_origin, &[]) {
        return refusal(look, host, PasskeyError::CrossSite);
    }
    let Ok(session) = signed_in_user(call, host) else {
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
    match remove_passkey(call, &session.user_id, &form.passkey).await {
        Ok(answer) if answer.only_way_in => refusal(look, host, PasskeyError::OnlyWayIn),
        Ok(answer) if answer.removed => {
            tracing::info!(api = %call.api.name, user = %session.user_id,
                passkey = %form.passkey, "passkey removed by its user");
            see_other(&host.passkeys_path())
        }
        Ok(_) => refusal(look, host, PasskeyError::UnknownPasskey),
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

/// The user the access cookie names, and when they signed in.
pub(crate) struct SessionUser {
    pub user_id: String,
    pub name: String,
    pub email: Option<String>,
    /// When the session's sign-in happened (its `auth_time`).
    pub auth_time: UnixTime,
}

/// The browser session's user, from a valid access cookie of this API (not an app's token).
pub(crate) fn signed_in_user(
    call: &EndpointCall<'_>,
    host: &LoginHost,
) -> Result<SessionUser, PasskeyError> {
    let token = cookies::read(&call.parts.headers, host.scope.access_name)
        .ok_or(PasskeyError::SignInRequired)?;
    let verified = call
        .state
        .bearer
        .verify(call.api, token, call.now)
        .map_err(|_| PasskeyError::SignInRequired)?;
    let claims = &verified.claims;
    // Only a browser session's token carries `auth_time`; an app's token has a client id.
    let auth_time = claims
        .extra
        .get("auth_time")
        .and_then(serde_json::Value::as_i64)
        .filter(|_| claims.client_id.is_none())
        .ok_or(PasskeyError::SignInRequired)?;
    Ok(SessionUser {
        user_id: claims.sub.clone(),
        name: claims.name.clone(),
        email: claims.email.clone(),
        auth_time,
    })
}

/// The user's passkeys, from the control plane.
pub(crate) async fn list(
    call: &EndpointCall<'_>,
    user_id: &str,
) -> Result<PasskeyListResponse, PasskeyError> {
    let request = PasskeyListRequest {
        api_id: call.api.id.clone(),
        user_id: user_id.to_owned(),
    };
    control_plane(call)?
        .list_passkeys(&request)
        .await
        .map_err(|failure| unavailable(call, "passkey list", &failure))
}

/// Removes one of the user's passkeys; whether it was theirs.
async fn remove_passkey(
    call: &EndpointCall<'_>,
    user_id: &str,
    passkey_id: &str,
) -> Result<PasskeyRemoveResponse, PasskeyError> {
    let request = PasskeyRemoveRequest {
        api_id: call.api.id.clone(),
        user_id: user_id.to_owned(),
        passkey_id: passkey_id.to_owned(),
    };
    let answer = control_plane(call)?
        .remove_passkey(&request)
        .await
        .map_err(|failure| unavailable(call, "passkey removal", &failure))?;
    Ok(answer)
}
