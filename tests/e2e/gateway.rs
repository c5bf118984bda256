//! The API behind the data plane: an operator configures an upstream, a web app, access rules
//! and CORS origins through the admin API; callers reach a local backend through both hosts,
//! authorised by the rules, with the identity headers the backend may trust.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::service_accounts::token_json;
use crate::support::db::test_databases;
use crate::support::stack::{APP_DOMAIN, DataPlaneHandle, Stack};
use crate::support::upstream::{Upstream, pattern_byte};

const LISTED_ORIGIN: &str = "https://app.example.com";

/// Service account credentials of one API.
struct Account {
    client_id: String,
    client_secret: String,
    id: String,
}

/// Creates API `name` with `web` settings and a service account holding `roles`.
async fn api_with_account(stack: &Stack, name: &str, web: Value, roles: &[&str]) -> Account {
    let mut body = json!({ "name": name, "region": "eu", "roles": ["reader", "writer"] });
    if let (Some(body), Some(web)) = (body.as_object_mut(), web.as_object()) {
        body.extend(web.clone());
    }
    stack.create("/v1/apis", body).await;
    let account = stack
        .create(
            &format!("/v1/apis/{name}/service-accounts"),
            json!({ "name": "billing", "roles": roles }),
        )
        .await;
    Account {
        client_id: account["clientId"].as_str().expect("clientId").to_owned(),
        client_secret: account["clientSecret"].as_str().expect("secret").to_owned(),
        id: account["id"].as_str().expect("id").to_owned(),
    }
}

async fn access_token(client: &reqwest::Client, base: &str, account: &Account) -> String {
    let (status, body) = token_json(
        client,
        base,
        json!({ "grant_type": "client_credentials", "client_id": account.client_id,
                "client_secret": account.client_secret }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().expect("token").to_owned()
}

/// Sends a request and returns status, headers and the JSON body (`Null` if none).
async fn send(request: reqwest::RequestBuilder) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.expect("send");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn header<'a>(headers: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_behind_the_data_plane_is_authorised_and_forwarded() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        let upstream = Upstream::start().await;
        let shop = api_with_account(
            &stack,
            "shop",
            json!({
                "upstream": format!("{}/backend/", upstream.url),
                "webUpstream": upstream.url,
                "accessRules": [
                    { "role": "_EVERYONE", "methods": ["GET"], "path": "/public" },
                    { "role": "reader", "methods": ["GET"], "path": "/products" },
                    { "role": "writer", "methods": ["*"], "path": "/products" },
                    { "role": "_AUTHENTICATED_USER", "methods": ["POST", "PUT"], "path": "/orders" },
                ],
                "corsOrigins": [LISTED_ORIGIN],
            }),
            &["reader"],
        )
        .await;
        let blog = api_with_account(
            &stack,
            "blog",
            json!({ "accessRules": [{ "role": "_EVERYONE", "methods": ["*"], "path": "/" }] }),
            &["reader"],
        )
        .await;
        api_with_account(
            &stack,
            "down",
            json!({
                "upstream": Upstream::unreachable(),
                "webUpstream": Upstream::unreachable(),
                "accessRules": [{ "role": "_EVERYONE", "methods": ["*"], "path": "/" }],
            }),
            &["reader"],
        )
        .await;
        stack.wait_for_push(&plane).await;

        let mut hosts: Vec<String> = plane.hosts("shop").to_vec();
        hosts.push(format!("blog.{APP_DOMAIN}"));
        hosts.push(format!("down.{APP_DOMAIN}"));
        let client = plane.client(&hosts.iter().map(String::as_str).collect::<Vec<_>>());

        for base in [plane.regional_base("shop"), plane.app_base("shop")] {
            let tokens = Tokens {
                shop: access_token(&client, &base, &shop).await,
                blog: access_token(&client, &base.replace("shop", "blog"), &blog).await,
            };
            public_route_joins_path_and_query(&client, &base).await;
            roles_decide_between_401_and_403(&client, &base, &tokens, &shop).await;
            cookie_authenticates_and_csrf_guards_state_changes(&client, &base, &tokens).await;
            large_bodies_stream_both_ways(&client, &base, &tokens).await;
            cors_preflights_are_answered_by_the_platform(&client, &base).await;
            missing_and_unreachable_upstreams(&client, &base).await;
        }
        web_app_owns_every_other_path_of_the_app_host(&client, &plane, &shop).await;
        database.drop_database().await;
    }
}

struct Tokens {
    shop: String,
    blog: String,
}

async fn public_route_joins_path_and_query(client: &reqwest::Client, base: &str) {
    let (status, headers, echo) = send(
        client
            .get(format!("{base}/public/items/a%20b?q=x%26y&page=2"))
            .header("restapi-user-id", "usr_spoofed")
            .header("x-custom", "kept"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{base}: {echo}");
    assert_eq!(echo["path"], "/backend/public/items/a%20b", "{base}");
    assert_eq!(echo["query"], "q=x%26y&page=2");
    let sent = &echo["headers"];
    assert_eq!(sent["x-custom"], "kept");
    assert_eq!(sent["restapi-api"], "shop");
    assert!(
        sent.get("restapi-user-id").is_none(),
        "spoofed header: {sent}"
    );
    assert_eq!(sent["x-forwarded-for"], "127.0.0.1");
    assert_eq!(sent["x-forwarded-proto"], "http");
    let host = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .expect("host");
    assert_eq!(sent["x-forwarded-host"], host);
    assert_eq!(
        sent["forwarded"],
        format!("for=127.0.0.1;host=\"{host}\";proto=http")
    );
    assert!(!header(&headers, "x-request-id").is_empty());

    let (status, _, echo) = send(client.get(format!("{base}/public?status=418"))).await;
    assert_eq!(status, StatusCode::IM_A_TEAPOT);
    assert_eq!(echo["path"], "/backend/public");
}

async fn roles_decide_between_401_and_403(
    client: &reqwest::Client,
    base: &str,
    tokens: &Tokens,
    shop: &Account,
) {
    let (status, headers, body) = send(client.get(format!("{base}/products"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(
        header(&headers, "www-authenticate"),
        "Bearer realm=\"shop\""
    );

    let (status, _, echo) = send(
        client
            .get(format!("{base}/products/7"))
            .bearer_auth(&tokens.shop)
            .header("RestAPI-User-Roles", "writer"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{echo}");
    let sent = &echo["headers"];
    assert_eq!(sent["restapi-user-id"], shop.id.as_str());
    assert_eq!(sent["restapi-client-id"], shop.client_id.as_str());
    assert_eq!(sent["restapi-user-name"], "billing");
    assert_eq!(sent["restapi-user-roles"], "reader");
    assert_eq!(sent["restapi-api"], "shop");

    let (status, _, body) = send(
        client
            .delete(format!("{base}/products/7"))
            .bearer_auth(&tokens.shop),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );

    // A token of another API never authenticates here, whatever it holds.
    let (status, headers, _) = send(
        client
            .get(format!("{base}/products"))
            .bearer_auth(&tokens.blog),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&headers, "www-authenticate"),
        "Bearer realm=\"shop\", error=\"invalid_token\""
    );
}

async fn cookie_authenticates_and_csrf_guards_state_changes(
    client: &reqwest::Client,
    base: &str,
    tokens: &Tokens,
) {
    let cookie = format!("theme=dark; restapi-access={}", tokens.shop);
    let (status, _, echo) = send(
        client
            .get(format!("{base}/products"))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{echo}");
    assert_eq!(echo["headers"]["cookie"], "theme=dark");
    assert_eq!(echo["headers"]["restapi-user-roles"], "reader");

    let (status, _, body) = send(
        client
            .post(format!("{base}/orders"))
            .header("cookie", &cookie)
            .json(&json!({ "item": 7 })),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("csrf"))
    );

    let own_origin = base.rsplit_once('/').expect("base").0;
    for origin in [own_origin, LISTED_ORIGIN] {
        let (status, _, echo) = send(
            client
                .post(format!("{base}/orders"))
                .header("cookie", &cookie)
                .header("origin", origin)
                .json(&json!({ "item": 7 })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{origin}: {echo}");
        assert_eq!(echo["body"], "{\"item\":7}");
        assert_eq!(echo["headers"]["content-type"], "application/json");
    }

    // A bearer token is no ambient credential: no origin needed.
    let (status, _, _) = send(
        client
            .post(format!("{base}/orders"))
            .bearer_auth(&tokens.shop)
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

async fn large_bodies_stream_both_ways(client: &reqwest::Client, base: &str, tokens: &Tokens) {
    const LENGTH: usize = 8 * 1024 * 1024 + 7;
    let upload: Vec<u8> = (0..LENGTH).map(pattern_byte).collect();
    let digest = ring::digest::digest(&ring::digest::SHA256, &upload);
    let (status, _, echo) = send(
        client
            .put(format!("{base}/orders/upload"))
            .bearer_auth(&tokens.shop)
            .header("content-type", "application/octet-stream")
            .body(upload),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(echo["bodyLength"], LENGTH);
    assert_eq!(echo["bodySha256"], hex::encode(digest.as_ref()));

    let response = client
        .get(format!("{base}/public/file?download={LENGTH}"))
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.bytes().await.expect("download body");
    assert_eq!(bytes.len(), LENGTH);
    assert!(
        bytes
            .iter()
            .enumerate()
            .all(|(index, byte)| *byte == pattern_byte(index))
    );
}

async fn cors_preflights_are_answered_by_the_platform(client: &reqwest::Client, base: &str) {
    let (status, headers, _) = send(
        client
            .request(Method::OPTIONS, format!("{base}/products"))
            .header("origin", LISTED_ORIGIN)
            .header("access-control-request-method", "PUT")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            ),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        LISTED_ORIGIN
    );
    assert_eq!(header(&headers, "access-control-allow-credentials"), "true");
    assert!(header(&headers, "access-control-allow-methods").contains("PUT"));
    assert_eq!(
        header(&headers, "access-control-allow-headers"),
        "content-type, authorization"
    );
    assert_eq!(header(&headers, "access-control-max-age"), "600");
    assert_eq!(header(&headers, "vary"), "Origin");

    let (status, headers, _) = send(
        client
            .request(Method::OPTIONS, format!("{base}/products"))
            .header("origin", "https://evil.example.com")
            .header("access-control-request-method", "GET"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(headers.get("access-control-allow-origin").is_none());

    let (status, headers, _) = send(
        client
            .get(format!("{base}/public"))
            .header("origin", LISTED_ORIGIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        LISTED_ORIGIN
    );
    assert_eq!(header(&headers, "access-control-allow-credentials"), "true");

    // The platform endpoints under the same base too.
    let (_, headers, _) = send(
        client
            .get(format!("{base}/.well-known/jwks.json"))
            .header("origin", LISTED_ORIGIN),
    )
    .await;
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        LISTED_ORIGIN
    );
}

async fn missing_and_unreachable_upstreams(client: &reqwest::Client, base: &str) {
    let (status, _, body) =
        send(client.get(format!("{}/anything", base.replace("shop", "blog")))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    let (status, _, body) =
        send(client.get(format!("{}/anything", base.replace("shop", "down")))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("bad_gateway"))
    );
}

async fn web_app_owns_every_other_path_of_the_app_host(
    client: &reqwest::Client,
    plane: &DataPlaneHandle,
    shop: &Account,
) {
    let app = format!("http://shop.{APP_DOMAIN}:{}", plane.addr.port());
    for path in ["/", "/assets/x.js", "/healthz", "/metrics"] {
        let (status, _, echo) = send(client.get(format!("{app}{path}"))).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(echo["path"], path, "{path}: {echo}");
        assert!(echo["headers"].get("restapi-user-id").is_none());
    }

    let token = access_token(client, &format!("{app}/api"), shop).await;
    let (_, _, echo) = send(
        client
            .get(format!("{app}/account?tab=2"))
            .header("cookie", format!("restapi-access={token}")),
    )
    .await;
    assert_eq!(echo["path"], "/account");
    assert_eq!(echo["query"], "tab=2");
    assert_eq!(echo["headers"]["restapi-user-id"], shop.id.as_str());
    assert!(echo["headers"].get("cookie").is_none());

    // The regional host keeps the operational paths.
    let regional = format!("http://{}:{}", plane.region_host, plane.addr.port());
    let response = client
        .get(format!("{regional}/metrics"))
        .send()
        .await
        .expect("metrics");
    let metrics = response.text().await.expect("metrics body");
    assert!(
        metrics.contains("restapi_gateway_requests_total{outcome=\"forwarded\"}"),
        "{metrics}"
    );

    // No web app: a page for the browser, not JSON.
    let blog = format!("http://blog.{APP_DOMAIN}:{}/", plane.addr.port());
    let response = client.get(blog).send().await.expect("blog");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(header(response.headers(), "content-type").starts_with("text/html"));

    let down = format!("http://down.{APP_DOMAIN}:{}/", plane.addr.port());
    let response = client.get(down).send().await.expect("down");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
}
