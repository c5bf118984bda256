//! The browser session the hosted login starts: its tokens and cookies, `_refresh` and
//! `_logout`.
//!
//! A session is an access cookie (an ordinary access token of the user, with `sid` naming
//! the session) and a refresh cookie (a sealed refresh token, sent only to `_refresh`). Both
//! belong to one refresh family, which ends 70 days after the sign-in however often it
//! rotates. `_refresh` redeems the refresh cookie on the control plane, which also reads the
//! user as they are now, so changed roles and a disabled user take effect at the next
//! refresh. `_logout` revokes the family.

use axum::body::Body;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use restapi_shared::clock::UnixTime;
use restapi_shared::error::ErrorBody;
use restapi_shared::ids::{self, new_id};
use restapi_shared::node::{
    RedeemOutcome, RedeemRefreshRequest, ResolvedUser, RevokeRefreshRequest,
};
use restapi_shared::refresh::{self, RefreshClaims};
use restapi_shared::token::ACCESS_TOKEN_TTL;
use serde::Deserialize;

use super::{EndpointCall, error};
use crate::config::ApiState;
use crate::cookies::{self, CookieScope};
use crate::grants::{GrantError, IssueContext};
use crate::user_tokens::{self, SESSION_CLIENT_ID, UserTokens};

/// A `Set-Cookie` header of the session.
pub(crate) struct SessionCookie<'a> {
    pub name: &'a str,
    pub value: &'a str,
    pub path: &'a str,
    pub max_age: i64,
    pub secure: bool,
    /// `Lax`, or `None` for the login cookie over HTTPS.
    pub same_site: &'static str,
}

impl SessionCookie<'_> {
    /// The header value; cookie values here are base64url, JWTs or empty, all valid.
    pub(crate) fn header(&self) -> HeaderValue {
        let mut text = format!(
            "{}={}; Path={}; Max-Age={}; HttpOnly; SameSite={}",
            self.name,
            self.value,
            self.path,
            self.max_age.max(0),
            self.same_site
        );
        if self.secure {
            text.push_str("; Secure");
        }
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// A header that removes the cookie `name` of `path`.
pub(crate) fn clear_cookie(name: &str, path: &str, secure: bool) -> HeaderValue {
    SessionCookie {
        name,
        value: "",
        path,
        max_age: 0,
        secure,
        same_site: "Lax",
    }
    .header()
}

/// Starts a session for `user`: a new refresh family and its first tokens.
pub(crate) fn begin(
    context: IssueContext<'_>,
    user: &ResolvedUser,
) -> Result<UserTokens, GrantError> {
    let family = new_id(ids::REFRESH_FAMILY);
    user_tokens::issue(context, user, &family, context.now, SESSION_CLIENT_ID)
}

impl UserTokens {
    /// The access cookie and the refresh cookie of `scope`.
    pub(crate) fn cookies(&self, scope: &CookieScope, now: UnixTime) -> [HeaderValue; 2] {
        let access = SessionCookie {
            name: scope.access_name,
            value: &self.access_token,
            path: &scope.path,
            max_age: ACCESS_TOKEN_TTL,
            secure: scope.secure,
            same_site: "Lax",
        };
        let refresh = SessionCookie {
            name: scope.refresh_name,
            value: &self.refresh_token,
            path: &scope.refresh_path,
            max_age: self.family_ends - now,
            secure: scope.secure,
            same_site: "Lax",
        };
        [access.header(), refresh.header()]
    }

    /// The copy of the refresh cookie sent only to `_logout`, set when the session begins:
    /// the family it names stays the same while the tokens rotate.
    pub(crate) fn logout_cookie(&self, scope: &CookieScope, now: UnixTime) -> HeaderValue {
        SessionCookie {
            name: scope.refresh_name,
            value: &self.refresh_token,
            path: &scope.logout_path,
            max_age: self.family_ends - now,
            secure: scope.secure,
            same_site: "Lax",
        }
        .header()
    }
}

/// `POST _refresh`: a new access cookie and refresh cookie from the refresh cookie.
///
/// The reference page's `apiCall` posts here after a 401 and retries. Answers 204 with both
/// cookies, or 401 (cookies cleared) when the session is over: no cookie, a tampered or
/// foreign one, a chain older than 70 days, a revoked family, a reused token, or a user who
/// is gone or disabled.
#[utoipa::path(
    post,
    path = "/{api}/_refresh",
    tag = "restapi",
    params(("api" = String, Path,
        description = "The API's name (on its app host the path is `/api/_refresh`)")),
    responses(
        (status = 204, description = "New access and refresh cookies are set"),
        (status = 401, description = "The session is over; both cookies are cleared",
            body = ErrorBody),
        (status = 403, description = "The request came from another site (`csrf`)",
            body = ErrorBody),
        (status = 503, description = "The control plane could not be reached", body = ErrorBody),
    ),
    security(("refresh_cookie" = [])),
)]
pub(crate) async fn refresh(call: EndpointCall<'_>, _body: Body) -> Response {
    let scope = call.cookie_scope();
    if !call.cookie_may_act() {
        return forbidden();
    }
    let Some(cookie) = cookies::read(&call.parts.headers, scope.refresh_name) else {
        return unauthorized(&scope, "no session");
    };
    let claims = match refresh::open(&call.api.sealing_key, &call.api.id, cookie, call.now) {
        Ok(claims) if claims.client_id == SESSION_CLIENT_ID => claims,
        Ok(_) | Err(_) => return unauthorized(&scope, "session cookie invalid or expired"),
    };

    let Some(control_plane) = &call.state.control_plane else {
        return unavailable();
    };
    let request = RedeemRefreshRequest {
        api_id: call.api.id.clone(),
        token_id: claims.jti.clone(),
        family: claims.family.clone(),
        expires_at: claims.expires_at(),
        user_id: Some(claims.sub.clone()),
        strict: false,
    };
    let answer = match control_plane.redeem_session(&request).await {
        Ok(answer) => answer,
        Err(failure) => {
            let failure = crate::node_client::error_chain(&failure);
            tracing::warn!(api = %call.api.name, error = failure, "session refresh not recorded");
            return unavailable();
        }
    };
    let user = match (answer.outcome, answer.user) {
        (RedeemOutcome::Redeemed, Some(user)) if user.id == claims.sub => user,
        (outcome, _) => {
            tracing::info!(api = %call.api.name, family = %claims.family, ?outcome,
                "session refresh refused");
            return unauthorized(&scope, "session ended");
        }
    };

    let context = IssueContext {
        api: call.api,
        issuer: &call.issuer,
        now: call.now,
    };
    let Ok(tokens) = user_tokens::issue(
        context,
        &user,
        &claims.family,
        claims.family_started,
        SESSION_CLIENT_ID,
    ) else {
        return unavailable();
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    for cookie in tokens.cookies(&scope, call.now) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    super::no_store(response)
}

/// `POST _logout`: revokes the session's refresh family and clears both cookies; 204.
///
/// The family comes from the access cookie's `sid` (the token may have expired: only its
/// signature is required), else from the refresh cookie's copy scoped to `_logout`.
#[utoipa::path(
    post,
    path = "/{api}/_logout",
    tag = "restapi",
    params(("api" = String, Path,
        description = "The API's name (on its app host the path is `/api/_logout`)")),
    responses(
        (status = 204, description = "The session is revoked and both cookies are cleared"),
        (status = 403, description = "The request came from another site (`csrf`)",
            body = ErrorBody),
    ),
    security(("access_cookie" = []), ("refresh_cookie" = [])),
)]
pub(crate) async fn logout(call: EndpointCall<'_>, _body: Body) -> Response {
    let scope = call.cookie_scope();
    if !call.cookie_may_act() {
        return forbidden();
    }
    let family = cookies::read(&call.parts.headers, scope.access_name)
        .and_then(|token| session_family(call.api, token, call.now))
        .or_else(|| {
            let cookie = cookies::read(&call.parts.headers, scope.refresh_name)?;
            let claims = refresh::open(&call.api.sealing_key, &call.api.id, cookie, call.now).ok();
            claims.map(|claims: RefreshClaims| claims.family)
        });
    if let (Some(family), Some(control_plane)) = (family, &call.state.control_plane) {
        let request = RevokeRefreshRequest {
            api_id: call.api.id.clone(),
            family,
        };
        match control_plane.revoke_family(&request).await {
            // Refused here at once; the other data planes hear of it through the feed.
            Ok(()) => call.api.revoked_sessions.insert(request.family),
            Err(failure) => {
                // The cookies are cleared all the same; the family ends with its 70 days.
                let failure = crate::node_client::error_chain(&failure);
                tracing::warn!(api = %call.api.name, error = failure, "session not revoked");
            }
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    clear_session_cookies(&mut response, &scope);
    super::no_store(response)
}

/// The `sid` of an access token of `api` whose signature verifies against a published key,
/// expired or not.
fn session_family(api: &ApiState, token: &str, now: UnixTime) -> Option<String> {
    #[derive(Deserialize)]
    struct Unverified {
        iat: UnixTime,
    }
    let payload = token.split('.').nth(1)?;
    let unverified: Unverified =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    // Verified as of its own issue time, so that expiry does not matter; the signature, the
    // key and the audience still do.
    let keys = &api.keys.at(now).verifying_keys;
    let claims = restapi_shared::token::verify(token, keys, &api.name, unverified.iat).ok()?;
    claims.extra.get("sid")?.as_str().map(str::to_owned)
}

fn clear_session_cookies(response: &mut Response, scope: &CookieScope) {
    let headers = response.headers_mut();
    headers.append(
        SET_COOKIE,
        clear_cookie(scope.access_name, &scope.path, scope.secure),
    );
    headers.append(
        SET_COOKIE,
        clear_cookie(scope.refresh_name, &scope.refresh_path, scope.secure),
    );
    headers.append(
        SET_COOKIE,
        clear_cookie(scope.refresh_name, &scope.logout_path, scope.secure),
    );
}

fn unauthorized(scope: &CookieScope, message: &str) -> Response {
    let mut response = error(StatusCode::UNAUTHORIZED, "unauthorized", message);
    clear_session_cookies(&mut response, scope);
    super::no_store(response)
}

fn forbidden() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "csrf",
        "cross-site request refused: Origin is not this API's",
    )
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the session cannot be refreshed right now",
    )
}
