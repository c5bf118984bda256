//! `POST _token` (RFC 6749 §3.2) and `POST _auth` (the RestAPI.com sign-in).

use std::borrow::Cow;

use axum::Json;
use axum::body::Body;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use restapi_shared::error::{ErrorBody, OAuthErrorBody, OAuthErrorCode};
use restapi_shared::secret::SecretString;
use restapi_shared::token::ACCESS_TOKEN_TTL;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::body::{BodyError, MediaType, media_type, read_limited};
use super::{EndpointCall, error};
use crate::grants::{
    self, ClientCredentials, ClientRejection, GrantError, IssueContext, TokenPair,
};

/// Parameters of a token request, as JSON or as a form (RFC 6749 §4.4.2, §6).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct TokenRequest {
    /// `client_credentials` or `refresh_token`.
    #[serde(default, deserialize_with = "omitted_if_empty")]
    grant_type: Option<String>,
    /// The client id, unless sent by HTTP Basic.
    #[serde(default, deserialize_with = "omitted_if_empty")]
    client_id: Option<String>,
    /// The client secret, unless sent by HTTP Basic.
    #[serde(default, deserialize_with = "secret_omitted_if_empty")]
    #[schema(value_type = Option<String>)]
    client_secret: Option<SecretString>,
    /// The refresh token, for `grant_type=refresh_token`.
    #[serde(default, deserialize_with = "secret_omitted_if_empty")]
    #[schema(value_type = Option<String>)]
    refresh_token: Option<SecretString>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    /// The access token, an ES256 JWT.
    access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 3600)]
    expires_in: i64,
    /// The refresh token; each is usable once.
    refresh_token: String,
}

/// The `_auth` request of a service account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthRequest {
    /// Always `serviceaccount`.
    #[schema(example = "serviceaccount")]
    authority: String,
    /// The service account's client id.
    client_id: String,
    /// The service account's client secret.
    #[schema(value_type = String)]
    client_secret: SecretString,
}

/// The `_auth` response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuthResponse {
    /// The access token, an ES256 JWT.
    token: String,
}

/// `POST _token`: issues tokens, or answers an RFC 6749 §5.2 error.
#[utoipa::path(
    post,
    path = "/{api}/_token",
    tag = "oauth",
    params(("api" = String, Path, description = "The API's name; on its app host the path is `/api/_token`")),
    request_body(content(
        (TokenRequest = "application/x-www-form-urlencoded"),
        (TokenRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant or unsupported_grant_type", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
        (status = 413, description = "Body over 64 KiB", body = OAuthErrorBody),
        (status = 503, description = "temporarily_unavailable: the refresh could not be recorded", body = OAuthErrorBody),
    ),
    security((), ("client_secret_basic" = [])),
)]
pub(crate) async fn token(call: EndpointCall<'_>, body: Body) -> Response {
    match exchange(&call, body).await {
        Ok(pair) => token_response(pair),
        Err(error) => grant_error_response(&call, error),
    }
}

/// `POST _auth`: a service account signs in with its client id and secret.
#[utoipa::path(
    post,
    path = "/{api}/_auth",
    tag = "restapi",
    params(("api" = String, Path, description = "The API's name; on its app host the path is `/api/_auth`")),
    request_body(content = AuthRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, description = "invalid_body or unsupported_authority", body = ErrorBody),
        (status = 401, description = "invalid_credentials", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 415, description = "unsupported_media_type", body = ErrorBody),
    ),
)]
pub(crate) async fn auth(call: EndpointCall<'_>, body: Body) -> Response {
    match sign_in(&call, body).await {
        Ok(token) => no_store(Json(AuthResponse { token }).into_response()),
        Err(error) => auth_error_response(&call, error),
    }
}

async fn exchange(call: &EndpointCall<'_>, body: Body) -> Result<TokenPair, GrantError> {
    let headers = &call.parts.headers;
    let request = parse_token_request(headers, body).await?;
    let basic = basic_credentials(headers)?;
    let credentials = client_credentials(basic.as_ref(), &request)?;
    let context = IssueContext {
        api: call.api,
        issuer: &call.issuer,
        now: call.now,
    };
    let refresh_token = request.refresh_token.as_ref().map(SecretString::expose);

    match request.grant_type.as_deref() {
        None => Err(GrantError::InvalidRequest("grant_type is required")),
        Some("client_credentials") => grants::client_credentials(context, credentials),
        Some("refresh_token") => {
            let control_plane = call.state.control_plane.as_ref();
            grants::refresh_token(context, credentials, refresh_token, control_plane).await
        }
        Some(_) => Err(GrantError::UnsupportedGrantType),
    }
}

async fn parse_token_request(headers: &HeaderMap, body: Body) -> Result<TokenRequest, GrantError> {
    let Some(media_type) = media_type(headers) else {
        return Err(GrantError::InvalidRequest(
            "content type must be application/x-www-form-urlencoded or application/json",
        ));
    };
    let bytes = read_limited(headers, body)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge => GrantError::BodyTooLarge,
            BodyError::Unreadable => GrantError::InvalidRequest("body could not be read"),
        })?;
    // RFC 6749 §3.2: parameters must not repeat. The derived deserialiser refuses a
    // repeated field in both formats.
    match media_type {
        MediaType::Form => serde_urlencoded::from_bytes(&bytes)
            .map_err(|_| GrantError::InvalidRequest("malformed or repeated parameter")),
        MediaType::Json => serde_json::from_slice(&bytes)
            .map_err(|_| GrantError::InvalidRequest("malformed JSON or repeated parameter")),
    }
}

/// HTTP Basic client credentials (RFC 6749 §2.3.1): both parts are form-url-encoded before
/// being joined, so they are decoded after splitting. Other schemes are not ours to judge.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, GrantError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed = || GrantError::ClientRejected(ClientRejection::MalformedBasic);
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (client_id, client_secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let client_id = form_decode(client_id).ok_or_else(malformed)?;
    let client_secret = form_decode(client_secret).ok_or_else(malformed)?;
    Ok(Some((client_id, client_secret)))
}

fn form_decode(value: &str) -> Option<String> {
    let spaced = if value.contains('+') {
        Cow::Owned(value.replace('+', " "))
    } else {
        Cow::Borrowed(value)
    };
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

/// The client's credentials from exactly one method (RFC 6749 §2.3: a client must not use
/// more than one). A body `client_id` equal to the Basic one is tolerated: many libraries
/// send it alongside Basic, and it adds no second secret.
fn client_credentials<'a>(
    basic: Option<&'a (String, String)>,
    request: &'a TokenRequest,
) -> Result<Option<ClientCredentials<'a>>, GrantError> {
    let Some((client_id, client_secret)) = basic else {
        return Ok(request
            .client_id
            .as_deref()
            .map(|client_id| ClientCredentials {
                client_id,
                client_secret: request.client_secret.as_ref().map(SecretString::expose),
            }));
    };
    if request.client_secret.is_some() {
        return Err(GrantError::InvalidRequest(
            "more than one client authentication method",
        ));
    }
    if request
        .client_id
        .as_ref()
        .is_some_and(|body_id| body_id != client_id)
    {
        return Err(GrantError::InvalidRequest(
            "client_id differs from the Basic credentials",
        ));
    }
    Ok(Some(ClientCredentials {
        client_id,
        client_secret: Some(client_secret),
    }))
}

async fn sign_in(call: &EndpointCall<'_>, body: Body) -> Result<String, AuthError> {
    let headers = &call.parts.headers;
    if media_type(headers) != Some(MediaType::Json) {
        return Err(AuthError::UnsupportedMediaType);
    }
    let bytes = read_limited(headers, body)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge => AuthError::TooLarge,
            BodyError::Unreadable => AuthError::InvalidBody,
        })?;
    let request: AuthRequest =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::InvalidBody)?;
    if request.authority != "serviceaccount" {
        return Err(AuthError::UnsupportedAuthority);
    }
    let context = IssueContext {
        api: call.api,
        issuer: &call.issuer,
        now: call.now,
    };
    grants::service_account_sign_in(context, &request.client_id, request.client_secret.expose())
        .map_err(AuthError::Grant)
}

/// Why `_auth` failed.
#[derive(Debug)]
enum AuthError {
    UnsupportedMediaType,
    TooLarge,
    InvalidBody,
    UnsupportedAuthority,
    Grant(GrantError),
}

fn token_response(pair: TokenPair) -> Response {
    let body = TokenResponse {
        access_token: pair.access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL,
        refresh_token: pair.refresh_token,
    };
    no_store(Json(body).into_response())
}

/// RFC 6749 §5.1: token responses must not be cached.
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// RFC 6749 §5.2: every refusal as its error code; `invalid_client` with 401 and a Basic
/// challenge naming the API.
fn grant_error_response(call: &EndpointCall<'_>, error: GrantError) -> Response {
    tracing::debug!(api = %call.api.name, %error, "token request refused");
    let (status, code, description) = match &error {
        GrantError::InvalidRequest(reason) => (
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidRequest,
            *reason,
        ),
        GrantError::BodyTooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            OAuthErrorCode::InvalidRequest,
            "body exceeds 64 KiB",
        ),
        GrantError::UnsupportedGrantType => (
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::UnsupportedGrantType,
            "supported grant types: client_credentials, refresh_token",
        ),
        GrantError::ClientRejected(_) => (
            StatusCode::UNAUTHORIZED,
            OAuthErrorCode::InvalidClient,
            "client authentication failed",
        ),
        GrantError::RefreshRejected(_) => (
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidGrant,
            "refresh token is invalid or expired",
        ),
        GrantError::ControlPlaneUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            OAuthErrorCode::TemporarilyUnavailable,
            "try again shortly",
        ),
        GrantError::NoSigningKey => (
            StatusCode::INTERNAL_SERVER_ERROR,
            OAuthErrorCode::ServerError,
            "no signing key available",
        ),
    };
    let body = OAuthErrorBody {
        error: code,
        error_description: Some(description.to_owned()),
    };
    let mut response = no_store((status, Json(body)).into_response());
    if code == OAuthErrorCode::InvalidClient {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, basic_challenge(&call.api.name));
    }
    response
}

fn auth_error_response(call: &EndpointCall<'_>, error: AuthError) -> Response {
    let grant_error = match error {
        AuthError::UnsupportedMediaType => {
            let message = "content type must be application/json";
            return error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                message,
            );
        }
        AuthError::TooLarge => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "body exceeds 64 KiB",
            );
        }
        AuthError::InvalidBody => {
            let message = "expected {authority, clientId, clientSecret}";
            return error_response(StatusCode::BAD_REQUEST, "invalid_body", message);
        }
        AuthError::UnsupportedAuthority => {
            let message = "supported authorities: serviceaccount";
            return error_response(StatusCode::BAD_REQUEST, "unsupported_authority", message);
        }
        AuthError::Grant(grant_error) => grant_error,
    };
    tracing::debug!(api = %call.api.name, error = %grant_error, "sign-in refused");
    match grant_error {
        GrantError::ClientRejected(_) => error_response(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong client id or secret",
        ),
        GrantError::NoSigningKey
        | GrantError::InvalidRequest(_)
        | GrantError::BodyTooLarge
        | GrantError::UnsupportedGrantType
        | GrantError::RefreshRejected(_)
        | GrantError::ControlPlaneUnavailable => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "sign-in failed",
        ),
    }
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    no_store(error(status, code, message))
}

fn basic_challenge(api_name: &str) -> HeaderValue {
    // API names are DNS labels, always valid inside a quoted string.
    HeaderValue::from_str(&format!("Basic realm=\"{api_name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"))
}

/// RFC 6749 §3.2: "parameters sent without a value MUST be treated as if they were omitted".
fn omitted_if_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    Ok(value.filter(|value| !value.is_empty()))
}

fn secret_omitted_if_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SecretString>, D::Error> {
    Ok(omitted_if_empty(deserializer)?.map(SecretString::new))
}
