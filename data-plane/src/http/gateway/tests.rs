//! Router-level tests of the gateway, forwarding to a local echo upstream.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use restapi_shared::push::{AccessRule, RegionSnapshot, WebConfig};
use serde_json::{Value, json};

use super::proxy::{ForwardError, UpstreamClient};
use crate::test_support::*;

const APP: &str = "shop.restapi.localhost";
const LISTED_ORIGIN: &str = "https://app.example.com";

/// Answers every request with what it received, as JSON; `/slow` waits a second first.
async fn echo(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.uri.path().ends_with("/slow") {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<&str> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect();
        headers.insert(name.to_string(), json!(values.join(" | ")));
    }
    let answer = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(&bytes),
    });
    (
        [
            ("access-control-allow-origin", "*"),
            ("set-cookie", "restapi-access=forged"),
        ],
        axum::Json(answer),
    )
        .into_response()
}

fn rule(role: &str, methods: &[&str], path: &str) -> AccessRule {
    AccessRule {
        role: role.to_owned(),
        methods: methods.iter().map(|method| (*method).to_owned()).collect(),
        path: path.to_owned(),
    }
}

/// The fixture's region, `shop` forwarding to `upstream` (under `/v1`) and `web_upstream`.
fn snapshot_with(upstream: &str, web_upstream: &str) -> RegionSnapshot {
    let mut snapshot = snapshot();
    snapshot.apis[0].web = WebConfig {
        upstream: Some(format!("{upstream}/v1/")),
        web_upstream: Some(web_upstream.to_owned()),
        access_rules: vec![
            rule("_EVERYONE", &["GET"], "/public"),
            rule("reader", &["GET"], "/products"),
            rule("writer", &["*"], "/products"),
            rule("_AUTHENTICATED_USER", &["POST"], "/orders"),
            rule("_EVERYONE", &["*"], "/slow"),
        ],
        cors_origins: vec![LISTED_ORIGIN.to_owned()],
        ..WebConfig::default()
    };
    snapshot
}

async fn fixture() -> Fixture {
    let upstream = spawn_stub(Router::new().fallback(echo)).await;
    Fixture::with(settings(None), snapshot_with(&upstream, &upstream))
}

fn request(method: Method, host: &str, path: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::empty()).unwrap()
}

async fn token(fixture: &Fixture, api: &str, client_id: &str) -> String {
    let grant = fixture.client_credentials(api, client_id).await;
    grant["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn public_route_forwards_path_and_query_with_forwarding_headers() {
    let fixture = fixture().await;
    for (host, path) in [
        (REGIONAL, "/shop/public/a%20b?x=1&y=%2F"),
        (APP, "/api/public/a%20b?x=1&y=%2F"),
    ] {
        let answer = fixture
            .send(request(
                Method::GET,
                host,
                path,
                &[("restapi-user-id", "usr_x")],
            ))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{host}: {:?}", answer.json);
        assert_eq!(answer.json["path"], "/v1/public/a%20b");
        assert_eq!(answer.json["query"], "x=1&y=%2F");
        let headers = &answer.json["headers"];
        assert_eq!(headers["x-forwarded-host"], host);
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["restapi-api"], "shop");
        assert!(headers.get("restapi-user-id").is_none());
        assert!(headers["host"].as_str().unwrap().starts_with("127.0.0.1:"));
        // The platform's cookie is not set by an upstream, and CORS is the platform's.
        assert!(answer.headers.get("set-cookie").is_none());
        assert!(answer.headers.get("access-control-allow-origin").is_none());
    }
}

#[tokio::test]
async fn rules_answer_401_to_strangers_and_403_to_the_wrong_roles() {
    let fixture = fixture().await;
    let anonymous = fixture
        .send(request(Method::GET, REGIONAL, "/shop/products", &[]))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anonymous.header("www-authenticate"),
        "Bearer realm=\"shop\""
    );

    let reader = format!("Bearer {}", token(&fixture, "shop", "cid_billing").await);
    let allowed = fixture
        .send(request(
            Method::GET,
            REGIONAL,
            "/shop/products/7",
            &[("authorization", &reader), ("restapi-user-roles", "writer")],
        ))
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{:?}", allowed.json);
    let headers = &allowed.json["headers"];
    assert_eq!(headers["restapi-user-id"], "sa_billing");
    assert_eq!(headers["restapi-user-roles"], "reader");
    assert_eq!(headers["restapi-client-id"], "cid_billing");
    assert_eq!(headers["restapi-user-name"], "billing");
    assert_eq!(headers["authorization"], reader);

    let head = fixture
        .send(request(
            Method::HEAD,
            REGIONAL,
            "/shop/products",
            &[("authorization", &reader)],
        ))
        .await;
    assert_eq!(head.status, StatusCode::OK);

    let forbidden = fixture
        .send(request(
            Method::DELETE,
            REGIONAL,
            "/shop/products/7",
            &[("authorization", &reader)],
        ))
        .await;
    assert_eq!(
        (forbidden.status, forbidden.json["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let unmatched = fixture
        .send(request(
            Method::GET,
            REGIONAL,
            "/shop/productsx",
            &[("authorization", &reader)],
        ))
        .await;
    assert_eq!(unmatched.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn invalid_expired_and_foreign_tokens_do_not_authenticate() {
    let fixture = fixture().await;
    let blog = format!("Bearer {}", token(&fixture, "blog", "cid_blog").await);
    let shop = format!("Bearer {}", token(&fixture, "shop", "cid_billing").await);
    for authorization in [blog.as_str(), "Bearer not-a-token", "Bearer"] {
        let answer = fixture
            .send(request(
                Method::GET,
                APP,
                "/api/products",
                &[("authorization", authorization)],
            ))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization}");
        assert_eq!(
            answer.header("www-authenticate"),
            "Bearer realm=\"shop\", error=\"invalid_token\""
        );
    }
    // An invalid token is no error by itself: public routes still pass.
    let public = fixture
        .send(request(
            Method::GET,
            APP,
            "/api/public",
            &[("authorization", &blog)],
        ))
        .await;
    assert_eq!(public.status, StatusCode::OK);

    fixture.clock.advance(2 * 3600);
    let expired = fixture
        .send(request(
            Method::GET,
            APP,
            "/api/products",
            &[("authorization", &shop)],
        ))
        .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cookie_authenticates_and_state_changes_need_an_allowed_origin() {
    let fixture = fixture().await;
    let cookie = format!(
        "theme=dark; restapi-access={}; restapi-refresh=r",
        token(&fixture, "shop", "cid_billing").await
    );

    let read = fixture
        .send(request(
            Method::GET,
            APP,
            "/api/products",
            &[("cookie", &cookie)],
        ))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.json);
    assert_eq!(read.json["headers"]["cookie"], "theme=dark");
    assert_eq!(read.json["headers"]["restapi-user-id"], "sa_billing");

    let no_origin = fixture
        .send(request(
            Method::POST,
            APP,
            "/api/orders",
            &[("cookie", &cookie)],
        ))
        .await;
    assert_eq!(
        (no_origin.status, no_origin.json["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf"))
    );
    for origin in [format!("http://{APP}"), LISTED_ORIGIN.to_owned()] {
        let answer = fixture
            .send(request(
                Method::POST,
                APP,
                "/api/orders",
                &[("cookie", &cookie), ("origin", &origin)],
            ))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{origin}: {:?}", answer.json);
        assert_eq!(answer.json["method"], "POST");
    }

    // The regional host's cookie is scoped to the API and checked the same way.
    let regional = fixture
        .send(request(
            Method::POST,
            REGIONAL,
            "/shop/orders",
            &[("cookie", &cookie), ("origin", "https://evil.example.com")],
        ))
        .await;
    assert_eq!(regional.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn dot_segments_are_refused_and_encoded_paths_match_rules_as_decoded() {
    let fixture = fixture().await;
    let dots = fixture
        .send(request(
            Method::GET,
            REGIONAL,
            "/shop/public/%2e%2e/products",
            &[],
        ))
        .await;
    assert_eq!(
        (dots.status, dots.json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_path"))
    );
    let encoded = fixture
        .send(request(Method::GET, REGIONAL, "/shop/%70ublic//x", &[]))
        .await;
    assert_eq!(encoded.status, StatusCode::OK);
    assert_eq!(encoded.json["path"], "/v1/public/x");
}

#[tokio::test]
async fn missing_and_unreachable_upstreams_are_clear_errors() {
    let fixture = fixture().await;
    let blog = fixture
        .send(request(Method::GET, REGIONAL, "/blog/anything", &[]))
        .await;
    assert_eq!(
        (blog.status, blog.json["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    fixture.replace_configuration(snapshot_with(&closed, &closed));
    let api = fixture
        .send(request(Method::GET, REGIONAL, "/shop/public", &[]))
        .await;
    assert_eq!(
        (api.status, api.json["error"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("bad_gateway"))
    );
    let web = fixture.send(request(Method::GET, APP, "/", &[])).await;
    assert_eq!(web.status, StatusCode::BAD_GATEWAY);
    assert!(web.header("content-type").starts_with("text/html"));

    let metrics = fixture
        .send(request(Method::GET, REGIONAL, "/metrics", &[]))
        .await;
    assert_eq!(metrics.status, StatusCode::OK);
}

#[tokio::test]
async fn web_app_gets_every_other_path_on_the_app_host_including_operational_ones() {
    let fixture = fixture().await;
    for path in [
        "/",
        "/assets/x.js?v=3",
        "/healthz",
        "/metrics",
        "/openapi.json",
    ] {
        let answer = fixture.send(request(Method::GET, APP, path, &[])).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}");
        let expected = path.split_once('?').map_or(path, |(path, _)| path);
        assert_eq!(answer.json["path"], expected, "{path}");
        assert!(answer.json["headers"].get("restapi-user-id").is_none());
    }
    let with_query = fixture
        .send(request(Method::GET, APP, "/assets/x.js?v=3", &[]))
        .await;
    assert_eq!(with_query.json["query"], "v=3");

    let cookie = format!(
        "restapi-access={}",
        token(&fixture, "shop", "cid_billing").await
    );
    let signed_in = fixture
        .send(request(
            Method::GET,
            APP,
            "/account",
            &[("cookie", &cookie)],
        ))
        .await;
    assert_eq!(signed_in.json["headers"]["restapi-user-id"], "sa_billing");
    assert!(signed_in.json["headers"].get("cookie").is_none());

    // A cross-site form post reaches the public web app, without the session's identity.
    let cross_site = fixture
        .send(request(
            Method::POST,
            APP,
            "/account",
            &[("cookie", &cookie), ("origin", "https://evil.example.com")],
        ))
        .await;
    assert_eq!(cross_site.status, StatusCode::OK);
    assert!(cross_site.json["headers"].get("restapi-user-id").is_none());

    // The regional host keeps the operational paths.
    let health = fixture
        .send(request(Method::GET, REGIONAL, "/healthz", &[]))
        .await;
    assert_eq!(
        (health.status, &health.json),
        (StatusCode::OK, &Value::Null)
    );
}

#[tokio::test]
async fn app_host_without_a_web_app_shows_a_page() {
    let fixture = Fixture::new();
    let answer = fixture
        .send(request(Method::GET, APP, "/healthz", &[]))
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    assert!(answer.header("content-type").starts_with("text/html"));
}

#[tokio::test]
async fn cors_preflights_and_responses_on_both_hosts() {
    let fixture = fixture().await;
    for (host, path) in [(REGIONAL, "/shop/products"), (APP, "/api/products")] {
        let preflight = fixture
            .send(request(
                Method::OPTIONS,
                host,
                path,
                &[
                    ("origin", LISTED_ORIGIN),
                    ("access-control-request-method", "DELETE"),
                    ("access-control-request-headers", "authorization"),
                ],
            ))
            .await;
        assert_eq!(preflight.status, StatusCode::NO_CONTENT, "{host}");
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            LISTED_ORIGIN
        );
        assert_eq!(preflight.header("access-control-allow-credentials"), "true");
        assert_eq!(
            preflight.header("access-control-allow-headers"),
            "authorization"
        );
        assert_eq!(preflight.header("access-control-max-age"), "600");

        let refused = fixture
            .send(request(
                Method::OPTIONS,
                host,
                path,
                &[
                    ("origin", "https://evil.example.com"),
                    ("access-control-request-method", "GET"),
                ],
            ))
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(refused.header("access-control-allow-origin"), "");

        let public = path.replace("products", "public");
        let actual = fixture
            .send(request(
                Method::GET,
                host,
                &public,
                &[("origin", LISTED_ORIGIN)],
            ))
            .await;
        assert_eq!(actual.header("access-control-allow-origin"), LISTED_ORIGIN);
        assert_eq!(actual.header("access-control-allow-credentials"), "true");
        assert_eq!(actual.header("vary"), "Origin");
    }

    // Platform endpoints get the same treatment.
    let jwks = fixture
        .send(request(
            Method::GET,
            REGIONAL,
            "/shop/.well-known/jwks.json",
            &[("origin", LISTED_ORIGIN)],
        ))
        .await;
    assert_eq!(jwks.header("access-control-allow-origin"), LISTED_ORIGIN);
}

#[tokio::test]
async fn an_upstream_that_does_not_answer_in_time_times_out() {
    let upstream = spawn_stub(Router::new().fallback(echo)).await;
    let client = UpstreamClient::new(Duration::from_millis(100)).unwrap();
    let result = client
        .send(
            Method::GET,
            &format!("{upstream}/slow"),
            Default::default(),
            Body::empty(),
        )
        .await;
    assert_eq!(result.unwrap_err(), ForwardError::Timeout);
    let fast = client
        .send(
            Method::GET,
            &format!("{upstream}/fast"),
            Default::default(),
            Body::empty(),
        )
        .await;
    assert_eq!(fast.unwrap().status(), StatusCode::OK);
}
