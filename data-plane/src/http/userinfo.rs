//! `GET/POST _userinfo` (OpenID Connect Core 1.0 §5.3): the first protected endpoint.

use axum::Json;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use restapi_shared::error::ErrorBody;
use serde::Serialize;
use utoipa::ToSchema;

use super::{EndpointCall, error};
use crate::cookies;

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

/// `GET/POST _userinfo`: the identity behind a valid bearer token of this API, or behind the
/// access cookie of the hosted login (a `POST` with the cookie only from the API's own site).
#[utoipa::path(
    method(get, post),
    path = "/{api}/_userinfo",
    tag = "oauth",
    params(("api" = String, Path,
        description = "The API's name (on its app host the path is `/api/_userinfo`)")),
    responses(
        (status = 200, description = "The caller's identity", body = UserInfo),
        (status = 401, description = "Missing, invalid or expired token (see WWW-Authenticate)",
            body = ErrorBody),
    ),
    security(("bearer" = []), ("access_cookie" = [])),
)]
pub(crate) fn userinfo(call: EndpointCall<'_>) -> Response {
    let token = bearer_token(&call.parts.headers).or_else(|| {
        let cookie = cookies::read(&call.parts.headers, call.cookie_scope().access_name)?;
        call.cookie_may_act().then_some(cookie)
    });
    let Some(token) = token else {
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};

    use crate::test_support::*;

    fn userinfo(
        method: &str,
        host: &str,
        path: &str,
        authorization: Option<&str>,
    ) -> Request<Body> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.body(Body::empty()).unwrap()
    }

    async fn access_token(fixture: &Fixture, api: &str, client_id: &str) -> String {
        let answer = fixture.client_credentials(api, client_id).await;
        answer["access_token"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn valid_token_returns_the_identity_on_both_hosts_and_methods() {
        let fixture = Fixture::new();
        let token = access_token(&fixture, "shop", "cid_billing").await;
        let bearer = format!("Bearer {token}");

        for (method, host, path) in [
            ("GET", REGIONAL, "/shop/_userinfo"),
            ("POST", REGIONAL, "/shop/_userinfo"),
            ("GET", "shop.restapi.localhost", "/api/_userinfo"),
        ] {
            let answer = fixture
                .send(userinfo(method, host, path, Some(&bearer)))
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{method} {host}");
            assert_eq!(
                answer.json,
                serde_json::json!({"sub": "sa_billing", "name": "billing", "roles": ["reader"]})
            );
        }
    }

    #[tokio::test]
    async fn access_cookie_authenticates_reads_and_same_site_posts_only() {
        let fixture = Fixture::new();
        let token = access_token(&fixture, "shop", "cid_billing").await;
        let with_cookie = |method: &str, origin: Option<&str>| {
            let mut request = Request::builder()
                .method(method)
                .uri("/api/_userinfo")
                .header("host", "shop.restapi.localhost")
                .header("cookie", format!("theme=dark; restapi-access={token}"));
            if let Some(origin) = origin {
                request = request.header("origin", origin);
            }
            request.body(Body::empty()).unwrap()
        };

        let read = fixture.send(with_cookie("GET", None)).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(read.json["sub"], "sa_billing");
        let own_site = with_cookie("POST", Some("http://shop.restapi.localhost"));
        assert_eq!(fixture.send(own_site).await.status, StatusCode::OK);
        // Another site's POST does not act with the browser's cookie.
        let other_site = with_cookie("POST", Some("http://evil.example"));
        assert_eq!(
            fixture.send(other_site).await.status,
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn missing_token_gets_a_plain_challenge() {
        let fixture = Fixture::new();
        let answer = fixture
            .send(userinfo("GET", REGIONAL, "/shop/_userinfo", None))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.header("www-authenticate"), "Bearer realm=\"shop\"");

        let answer = fixture
            .send(userinfo(
                "GET",
                REGIONAL,
                "/shop/_userinfo",
                Some("Basic abc"),
            ))
            .await;
        assert_eq!(answer.header("www-authenticate"), "Bearer realm=\"shop\"");
    }

    #[tokio::test]
    async fn expired_foreign_and_garbage_tokens_are_invalid_token() {
        let fixture = Fixture::new();
        let shop_token = access_token(&fixture, "shop", "cid_billing").await;
        let blog_token = access_token(&fixture, "blog", "cid_blog").await;
        let challenge = "Bearer realm=\"shop\", error=\"invalid_token\"";

        for presented in [blog_token.as_str(), "garbage", ""] {
            let authorization = format!("Bearer {presented}");
            let answer = fixture
                .send(userinfo(
                    "GET",
                    REGIONAL,
                    "/shop/_userinfo",
                    Some(&authorization),
                ))
                .await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
            assert_eq!(answer.header("www-authenticate"), challenge);
            assert_eq!(answer.json["error"], "invalid_token");
        }

        // Verified once (and cached), then expired: the cache does not outlive the token.
        let authorization = format!("Bearer {shop_token}");
        let answer = fixture
            .send(userinfo(
                "GET",
                REGIONAL,
                "/shop/_userinfo",
                Some(&authorization),
            ))
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        fixture.clock.advance(3600 + 61);
        let answer = fixture
            .send(userinfo(
                "GET",
                REGIONAL,
                "/shop/_userinfo",
                Some(&authorization),
            ))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.header("www-authenticate"), challenge);
    }

    #[tokio::test]
    async fn cached_token_stops_working_when_its_key_or_api_is_removed() {
        let fixture = Fixture::new();
        let token = access_token(&fixture, "shop", "cid_billing").await;
        let authorization = format!("Bearer {token}");
        let request = || userinfo("GET", REGIONAL, "/shop/_userinfo", Some(&authorization));
        assert_eq!(fixture.send(request()).await.status, StatusCode::OK);

        let mut snapshot = fixture.snapshot.clone();
        snapshot.apis[0].signing_keys = vec![signing_key("key_new", 0, None)];
        fixture.replace_configuration(snapshot);
        assert_eq!(
            fixture.send(request()).await.status,
            StatusCode::UNAUTHORIZED
        );

        let mut snapshot = fixture.snapshot.clone();
        fixture.replace_configuration(snapshot.clone());
        assert_eq!(fixture.send(request()).await.status, StatusCode::OK);
        snapshot.apis.remove(0);
        fixture.replace_configuration(snapshot);
        assert_eq!(fixture.send(request()).await.status, StatusCode::NOT_FOUND);
    }
}
