//! `GET/POST _userinfo` (OpenID Connect Core 1.0 §5.3): the first protected endpoint.

use axum::Json;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use restapi_shared::error::ErrorBody;
use serde::Serialize;
use utoipa::ToSchema;

use super::{EndpointCall, error};

/// The caller's identity.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserInfo {
    /// The subject: a user or service account identifier.
    sub: String,
    /// Display name.
    name: String,
    /// Email address, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    /// Roles in this API.
    roles: Vec<String>,
}

/// `GET/POST _userinfo`: the identity behind a valid bearer token of this API.
#[utoipa::path(
    method(get, post),
    path = "/{api}/_userinfo",
    tag = "oauth",
    params(("api" = String, Path, description = "The API's name; on its app host the path is `/api/_userinfo`")),
    responses(
        (status = 200, description = "The caller's identity", body = UserInfo),
        (status = 401, description = "Missing, invalid or expired bearer token (see WWW-Authenticate)", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) fn userinfo(call: EndpointCall<'_>) -> Response {
    let Some(token) = bearer_token(&call.parts.headers) else {
        // RFC 6750 §3.1: a request without credentials gets a challenge without an error code.
        return challenge(&call.api.name, None);
    };
    match call.state.bearer.verify(call.api, token, call.now) {
        Ok(verified) => {
            let claims = &verified.claims;
            let body = UserInfo {
                sub: claims.sub.clone(),
                name: claims.name.clone(),
                email: claims.email.clone(),
                roles: claims.roles.clone(),
            };
            let mut response = Json(body).into_response();
            response
                .headers_mut()
                .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(reason) => {
            tracing::debug!(api = %call.api.name, %reason, "bearer token refused");
            challenge(&call.api.name, Some("invalid_token"))
        }
    }
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1); the scheme is
/// case-insensitive (RFC 9110 §11.1). An empty token counts as presented (and invalid).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// RFC 6750 §3: 401 with a `Bearer` challenge naming the API, and the error code if any.
fn challenge(api_name: &str, error_code: Option<&'static str>) -> Response {
    let (header, body) = match error_code {
        Some(code) => (
            format!("Bearer realm=\"{api_name}\", error=\"{code}\""),
            error(
                StatusCode::UNAUTHORIZED,
                code,
                "the access token is invalid or expired",
            ),
        ),
        None => (
            format!("Bearer realm=\"{api_name}\""),
            error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a bearer token is required",
            ),
        ),
    };
    let mut response = body;
    // API names are DNS labels, always valid inside a quoted string.
    let header =
        HeaderValue::from_str(&header).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    response.headers_mut().insert(WWW_AUTHENTICATE, header);
    response
}
