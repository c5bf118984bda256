//! `POST _token`: the OAuth 2.0 token endpoint (RFC 6749 §3.2), answering from memory.

use std::borrow::Cow;

use axum::Json;
use axum::body::Body;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use restapi_shared::error::{OAuthErrorBody, OAuthErrorCode};
use restapi_shared::secret::SecretString;
use restapi_shared::token::ACCESS_TOKEN_TTL;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::app_token::{self, AppTokens, CodeExchange};
use super::body::{BodyError, MediaType, media_type, read_limited};
use super::{EndpointCall, no_store};
use crate::grants::{
    self, ClientCredentials, ClientRejection, GrantError, IssueContext, TokenPair,
};
use crate::metrics::{GrantType, Refusal};

/// Parameters of a token request, as JSON or as a form (RFC 6749 §4.4.2, §6).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct TokenRequest {
    /// `authorization_code`, `client_credentials` or `refresh_token`.
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
    /// The authorization code, for `grant_type=authorization_code`.
    #[serde(default, deserialize_with = "secret_omitted_if_empty")]
    #[schema(value_type = Option<String>)]
    code: Option<SecretString>,
    /// The redirect URI of the authorization request, for `grant_type=authorization_code`.
    #[serde(default, deserialize_with = "omitted_if_empty")]
    redirect_uri: Option<String>,
    /// The PKCE code verifier (RFC 7636 §4.5), for `grant_type=authorization_code`.
    #[serde(default, deserialize_with = "secret_omitted_if_empty")]
    #[schema(value_type = Option<String>)]
    code_verifier: Option<SecretString>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenResponse {
    /// The access token, an ES256 JWT.
    #[schema(value_type = String)]
    access_token: SecretString,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 3600)]
    expires_in: i64,
    /// The refresh token; each is usable once.
    #[schema(value_type = String)]
    refresh_token: SecretString,
    /// The OpenID Connect ID token, when an app asked for the `openid` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    /// The scopes granted to an app.
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

/// What a grant issued, whoever it was for.
struct Issued {
    access_token: SecretString,
    refresh_token: SecretString,
    id_token: Option<String>,
    scope: Option<String>,
}

impl From<TokenPair> for Issued {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: pair.access_token,
            refresh_token: pair.refresh_token,
            id_token: None,
            scope: None,
        }
    }
}

impl From<AppTokens> for Issued {
    fn from(app: AppTokens) -> Self {
        Self {
            access_token: SecretString::new(app.tokens.access_token),
            refresh_token: SecretString::new(app.tokens.refresh_token),
            id_token: app.id_token,
            scope: app.scope,
        }
    }
}

/// `POST _token`: issues tokens, or answers an RFC 6749 §5.2 error.
#[utoipa::path(
    post,
    path = "/{api}/_token",
    tag = "oauth",
    params(("api" = String, Path,
        description = "The API's name (on its app host the path is `/api/_token`)")),
    request_body(content(
        (TokenRequest = "application/x-www-form-urlencoded"),
        (TokenRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "Tokens issued", body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant or unsupported_grant_type",
            body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
        (status = 413, description = "Body over 64 KiB", body = OAuthErrorBody),
        (status = 503, description = "temporarily_unavailable: the refresh could not be recorded",
            body = OAuthErrorBody),
    ),
    security((), ("client_secret_basic" = [])),
)]
pub(crate) async fn token(call: EndpointCall<'_>, body: Body) -> Response {
    let request = match parse_parameters::<TokenRequest>(&call.parts.headers, body).await {
        Ok(request) => request,
        Err(error) => return grant_error_response(&call, None, error),
    };
    let grant_type = supported_grant_type(&request);
    match exchange(&call, &request, grant_type).await {
        Ok(issued) => {
            if let Some(grant_type) = grant_type {
                call.state.metrics.grant_issued(grant_type);
            }
            token_response(issued)
        }
        Err(error) => grant_error_response(&call, grant_type, error),
    }
}

async fn exchange(
    call: &EndpointCall<'_>,
    request: &TokenRequest,
    grant_type: Option<GrantType>,
) -> Result<Issued, GrantError> {
    let basic = basic_credentials(&call.parts.headers)?;
    let credentials = client_credentials(
        basic.as_ref(),
        request.client_id.as_deref(),
        request.client_secret.as_ref().map(SecretString::expose),
    )?;
    let context = IssueContext {
        api: call.api,
        issuer: &call.issuer,
        now: call.now,
    };
    let refresh_token = request.refresh_token.as_ref().map(SecretString::expose);

    if request.grant_type.is_none() {
        return Err(GrantError::InvalidRequest("grant_type is required"));
    }
    let control_plane = call.state.control_plane.as_ref();
    // A public client authenticates with nothing but its id: PKCE and the refresh token's
    // binding to it stand in for a secret.
    let public_client = credentials
        .filter(|credentials| credentials.client_secret.is_none())
        .and_then(|credentials| call.api.client(credentials.client_id));
    match (grant_type, public_client) {
        (Some(GrantType::ClientCredentials), _) => {
            grants::client_credentials(context, credentials).map(Issued::from)
        }
        (Some(GrantType::RefreshToken), Some(client)) => {
            let client_id = &client.client_id;
            app_token::refresh_token(context, client_id, refresh_token, control_plane)
                .await
                .map(Issued::from)
        }
        (Some(GrantType::RefreshToken), None) => {
            grants::refresh_token(context, credentials, refresh_token, control_plane)
                .await
                .map(Issued::from)
        }
        (Some(GrantType::AuthorizationCode), _) => {
            let exchange = CodeExchange {
                client_id: credentials.map(|credentials| credentials.client_id),
                code: request.code.as_ref().map(SecretString::expose),
                redirect_uri: request.redirect_uri.as_deref(),
                code_verifier: request.code_verifier.as_ref().map(SecretString::expose),
            };
            if public_client.is_none() {
                // Only the API's public clients are sent codes.
                return Err(GrantError::ClientRejected(ClientRejection::UnknownClient));
            }
            app_token::authorization_code(context, exchange, control_plane)
                .await
                .map(Issued::from)
        }
        (Some(GrantType::ServiceAccountAuth) | None, _) => Err(GrantError::UnsupportedGrantType),
    }
}

/// The grant the request names, if this endpoint supports it.
fn supported_grant_type(request: &TokenRequest) -> Option<GrantType> {
    match request.grant_type.as_deref()? {
        "client_credentials" => Some(GrantType::ClientCredentials),
        "refresh_token" => Some(GrantType::RefreshToken),
        "authorization_code" => Some(GrantType::AuthorizationCode),
        _ => None,
    }
}

/// The parameters of an OAuth request to this API's endpoints (`_token`, `_revoke`,
/// `_introspect`), as a form or as JSON.
pub(super) async fn parse_parameters<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, GrantError> {
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
pub(super) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, GrantError> {
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
pub(super) fn client_credentials<'a>(
    basic: Option<&'a (String, String)>,
    body_client_id: Option<&'a str>,
    body_secret: Option<&'a str>,
) -> Result<Option<ClientCredentials<'a>>, GrantError> {
    let Some((client_id, client_secret)) = basic else {
        return Ok(body_client_id.map(|client_id| ClientCredentials {
            client_id,
            client_secret: body_secret,
        }));
    };
    if body_secret.is_some() {
        return Err(GrantError::InvalidRequest(
            "more than one client authentication method",
        ));
    }
    if body_client_id.is_some_and(|body_id| body_id != client_id) {
        return Err(GrantError::InvalidRequest(
            "client_id differs from the Basic credentials",
        ));
    }
    Ok(Some(ClientCredentials {
        client_id,
        client_secret: Some(client_secret),
    }))
}

fn token_response(issued: Issued) -> Response {
    let body = TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL,
        refresh_token: issued.refresh_token,
        id_token: issued.id_token,
        scope: issued.scope,
    };
    no_store(Json(body).into_response())
}

/// RFC 6749 §5.2: every refusal as its error code; the refusal is counted by `grant_type`
/// and code.
fn grant_error_response(
    call: &EndpointCall<'_>,
    grant_type: Option<GrantType>,
    error: GrantError,
) -> Response {
    tracing::debug!(api = %call.api.name, %error, "token request refused");
    let (response, code) = oauth_error_response(call, &error);
    call.state
        .metrics
        .grant_refused(grant_type, Refusal::from(code));
    response
}

/// The RFC 6749 §5.2 answer to `error`, which RFC 7009 and RFC 7662 reuse: `invalid_client`
/// with 401 and a Basic challenge naming the API.
pub(super) fn oauth_error_response(
    call: &EndpointCall<'_>,
    error: &GrantError,
) -> (Response, OAuthErrorCode) {
    let (status, code, description) = match error {
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
            "supported grant types: authorization_code, client_credentials, refresh_token",
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
        GrantError::CodeRejected(_) => (
            StatusCode::BAD_REQUEST,
            OAuthErrorCode::InvalidGrant,
            "code is invalid, expired, used, or not for this client, redirect URI and verifier",
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
    (response, code)
}

fn basic_challenge(api_name: &str) -> HeaderValue {
    // API names are DNS labels, always valid inside a quoted string.
    HeaderValue::from_str(&format!("Basic realm=\"{api_name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"))
}

/// RFC 6749 §3.2: "parameters sent without a value MUST be treated as if they were omitted".
pub(super) fn omitted_if_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(deserializer)?;
    Ok(value.filter(|value| !value.is_empty()))
}

pub(super) fn secret_omitted_if_empty<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SecretString>, D::Error> {
    Ok(omitted_if_empty(deserializer)?.map(SecretString::new))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use crate::test_support::*;

    const TOKEN: &str = "/shop/_token";

    fn basic_form(authorization: &str, body: &str) -> axum::http::Request<axum::body::Body> {
        let mut request = form(REGIONAL, TOKEN, body);
        request
            .headers_mut()
            .insert("authorization", authorization.parse().unwrap());
        request
    }

    #[tokio::test]
    async fn client_credentials_in_a_json_body() {
        let fixture = Fixture::new();
        let body = json!({
            "grant_type": "client_credentials", "client_id": "cid_billing", "client_secret": SECRET
        });
        let answer = fixture.send(json(REGIONAL, TOKEN, body)).await;

        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.header("cache-control"), "no-store");
        assert_eq!(answer.header("pragma"), "no-cache");
        assert_eq!(answer.json["token_type"], "Bearer");
        assert_eq!(answer.json["expires_in"], 3600);
        let claims = fixture.verify("shop", answer.json["access_token"].as_str().unwrap());
        assert_eq!(claims.iss, "http://eu.localhost/shop");
        assert_eq!(
            (claims.aud.as_str(), claims.sub.as_str()),
            ("shop", "sa_billing")
        );
        assert_eq!(
            (claims.name.as_str(), claims.roles.as_slice()),
            ("billing", &["reader".to_owned()][..])
        );
        assert_eq!(claims.client_id.as_deref(), Some("cid_billing"));
        assert_eq!((claims.iat, claims.exp), (NOW, NOW + 3600));
        assert!(claims.jti.starts_with("tok_"));

        let refresh = open_refresh_token(
            "api_shop",
            answer.json["refresh_token"].as_str().unwrap(),
            NOW,
        );
        assert_eq!(refresh.family_started, NOW);
        assert_eq!(refresh.secret_id.as_deref(), Some("sec_billing"));
        assert_eq!(
            (refresh.sub.as_str(), refresh.client_id.as_str()),
            ("sa_billing", "cid_billing")
        );
    }

    #[tokio::test]
    async fn client_credentials_in_a_form_body_on_the_app_host() {
        let fixture = Fixture::new();
        let body =
            format!("grant_type=client_credentials&client_id=cid_billing&client_secret={SECRET}");
        let request = form("shop.restapi.localhost:8080", "/api/_token", &body);
        let answer = fixture.send(request).await;

        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        let claims = fixture.verify("shop", answer.json["access_token"].as_str().unwrap());
        assert_eq!(claims.iss, "http://shop.restapi.localhost:8080/api");
    }

    #[tokio::test]
    async fn client_credentials_with_basic_and_a_form_or_json_body() {
        let fixture = Fixture::new();
        // RFC 6749 §2.3.1: id and secret are form-encoded inside Basic; `%5F` is `_`.
        let authorization = basic("cid%5Fbilling", SECRET);
        let answer = fixture
            .send(basic_form(&authorization, "grant_type=client_credentials"))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);

        let mut request = json(REGIONAL, TOKEN, json!({"grant_type": "client_credentials"}));
        request.headers_mut().insert(
            "authorization",
            basic("cid_billing", SECRET).parse().unwrap(),
        );
        let answer = fixture.send(request).await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        fixture.verify("shop", answer.json["access_token"].as_str().unwrap());

        // The same client id in the body as well is tolerated.
        let body = "grant_type=client_credentials&client_id=cid_billing";
        let answer = fixture
            .send(basic_form(&basic("cid_billing", SECRET), body))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    }

    #[tokio::test]
    async fn client_authentication_failures_are_invalid_client() {
        let fixture = Fixture::new();
        let cases = [
            ("cid_billing", "rcs_wrong"),
            ("cid_billing", "rcs_disabled"),
            ("cid_billing", "rcs_expired"),
            ("cid_unknown", SECRET),
            ("cid_off", SECRET),
            ("cid_blog", SECRET),
        ];
        for (client_id, secret) in cases {
            let body = format!(
                "grant_type=client_credentials&client_id={client_id}&client_secret={secret}"
            );
            let answer = fixture.send(form(REGIONAL, TOKEN, &body)).await;
            answer.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
            assert_eq!(
                answer.header("www-authenticate"),
                "Basic realm=\"shop\"",
                "{client_id}"
            );
        }

        let answer = fixture
            .send(form(REGIONAL, TOKEN, "grant_type=client_credentials"))
            .await;
        answer.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        let answer = fixture
            .send(basic_form("Basic !!!", "grant_type=client_credentials"))
            .await;
        answer.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }

    #[tokio::test]
    async fn malformed_requests_are_refused_with_their_rfc_code() {
        let fixture = Fixture::new();
        let credentials = format!("client_id=cid_billing&client_secret={SECRET}");
        let cases = [
            // Two authentication methods at once (RFC 6749 §2.3).
            (
                basic_form(
                    &basic("cid_billing", SECRET),
                    &format!("grant_type=client_credentials&{credentials}"),
                ),
                "invalid_request",
            ),
            (
                form(
                    REGIONAL,
                    TOKEN,
                    &format!("grant_type=password&{credentials}"),
                ),
                "unsupported_grant_type",
            ),
            (form(REGIONAL, TOKEN, &credentials), "invalid_request"),
            // RFC 6749 §3.2: parameters must not repeat.
            (
                form(
                    REGIONAL,
                    TOKEN,
                    &format!(
                        "grant_type=client_credentials&grant_type=client_credentials&{credentials}"
                    ),
                ),
                "invalid_request",
            ),
            (
                with_body(
                    REGIONAL,
                    TOKEN,
                    "application/json",
                    r#"{"grant_type": "client_credentials", "grant_type": "x"}"#,
                ),
                "invalid_request",
            ),
            (
                with_body(REGIONAL, TOKEN, "application/json", "{not json"),
                "invalid_request",
            ),
            (
                with_body(REGIONAL, TOKEN, "application/json", r#"{"grant_type": 5}"#),
                "invalid_request",
            ),
            (
                with_body(
                    REGIONAL,
                    TOKEN,
                    "text/plain",
                    "grant_type=client_credentials",
                ),
                "invalid_request",
            ),
        ];
        for (request, code) in cases {
            fixture
                .send(request)
                .await
                .assert_oauth_error(StatusCode::BAD_REQUEST, code);
        }

        let oversized = format!(
            "grant_type=client_credentials&{credentials}&pad={}",
            "x".repeat(70_000)
        );
        let answer = fixture.send(form(REGIONAL, TOKEN, &oversized)).await;
        answer.assert_oauth_error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
    }

    fn refresh_body(client_id: &str, refresh_token: &str) -> String {
        format!("grant_type=refresh_token&client_id={client_id}&refresh_token={refresh_token}")
    }

    #[tokio::test]
    async fn refresh_rotates_within_the_family_and_refuses_reuse() {
        let (url, received) = stub_control_plane().await;
        let fixture = Fixture::with_control_plane(&url);
        let first = fixture.client_credentials("shop", "cid_billing").await;
        let first_token = first["refresh_token"].as_str().unwrap();
        fixture.clock.advance(600);

        let answer = fixture
            .send(form(
                REGIONAL,
                TOKEN,
                &refresh_body("cid_billing", first_token),
            ))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        assert_eq!(answer.header("cache-control"), "no-store");
        let claims = fixture.verify("shop", answer.json["access_token"].as_str().unwrap());
        assert_eq!((claims.sub.as_str(), claims.iat), ("sa_billing", NOW + 600));

        let before = open_refresh_token("api_shop", first_token, NOW);
        let after = open_refresh_token(
            "api_shop",
            answer.json["refresh_token"].as_str().unwrap(),
            NOW,
        );
        assert_eq!(
            (&after.family, after.family_started),
            (&before.family, before.family_started)
        );
        assert_ne!(after.jti, before.jti);
        {
            let received = received.lock().unwrap();
            assert_eq!(received.len(), 1);
            assert_eq!(
                (received[0].api_id.as_str(), received[0].token_id.as_str()),
                ("api_shop", before.jti.as_str())
            );
            assert_eq!(received[0].expires_at, NOW + 70 * 24 * 3600);
        }

        // A wrong secret is checked when sent; the right one is accepted.
        let with_wrong_secret = format!(
            "{}&client_secret=rcs_wrong",
            refresh_body("cid_billing", first_token)
        );
        let answer = fixture
            .send(form(REGIONAL, TOKEN, &with_wrong_secret))
            .await;
        answer.assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");

        let answer = fixture
            .send(form(
                REGIONAL,
                TOKEN,
                &refresh_body("cid_billing", first_token),
            ))
            .await;
        answer.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }

    #[tokio::test]
    async fn refresh_refuses_foreign_tampered_and_expired_tokens_without_calling_the_control_plane()
    {
        let (url, received) = stub_control_plane().await;
        let fixture = Fixture::with_control_plane(&url);
        let billing = fixture.client_credentials("shop", "cid_billing").await;
        let billing_token = billing["refresh_token"].as_str().unwrap().to_owned();
        let blog = fixture.client_credentials("blog", "cid_blog").await;
        let blog_token = blog["refresh_token"].as_str().unwrap();

        // Flip one character in the middle of the ciphertext.
        let mut tampered = billing_token.clone();
        let middle = tampered.len() / 2;
        let flipped = if &tampered[middle..=middle] == "A" {
            "B"
        } else {
            "A"
        };
        tampered.replace_range(middle..=middle, flipped);
        let cases = [
            refresh_body("cid_billing", &tampered),
            refresh_body("cid_billing", "not-a-token"),
            // Another API's token, presented with its own client id and with ours.
            refresh_body("cid_blog", blog_token),
            refresh_body("cid_billing", blog_token),
            // Another client's token.
            refresh_body("cid_other", &billing_token),
        ];
        for body in cases {
            let answer = fixture.send(form(REGIONAL, TOKEN, &body)).await;
            answer.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        }
        let answer = fixture
            .send(form(
                REGIONAL,
                TOKEN,
                "grant_type=refresh_token&client_id=cid_billing",
            ))
            .await;
        answer.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_request");

        // RFC 6749 §6 and the platform's rule: the chain ends 70 days after it started.
        fixture.clock.advance(70 * 24 * 3600);
        let answer = fixture
            .send(form(
                REGIONAL,
                TOKEN,
                &refresh_body("cid_billing", &billing_token),
            ))
            .await;
        answer.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        assert!(received.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn refresh_ends_when_the_chain_secret_or_account_is_disabled() {
        let (url, received) = stub_control_plane().await;
        let fixture = Fixture::with_control_plane(&url);
        let first = fixture.client_credentials("shop", "cid_billing").await;
        let body = refresh_body("cid_billing", first["refresh_token"].as_str().unwrap());

        let mut snapshot = fixture.snapshot.clone();
        snapshot.apis[0].service_accounts[0].secrets[0].enabled = false;
        fixture.replace_configuration(snapshot);
        let answer = fixture.send(form(REGIONAL, TOKEN, &body)).await;
        answer.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");

        let mut snapshot = fixture.snapshot.clone();
        snapshot.apis[0].service_accounts[0].enabled = false;
        fixture.replace_configuration(snapshot);
        let answer = fixture.send(form(REGIONAL, TOKEN, &body)).await;
        answer.assert_oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
        assert!(received.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn refresh_without_a_reachable_control_plane_is_temporarily_unavailable() {
        let unreachable = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        let fixture = Fixture::with_control_plane(&unreachable);
        let first = fixture.client_credentials("shop", "cid_billing").await;
        let body = refresh_body("cid_billing", first["refresh_token"].as_str().unwrap());
        let answer = fixture.send(form(REGIONAL, TOKEN, &body)).await;
        answer.assert_oauth_error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
    }
}
