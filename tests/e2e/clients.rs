//! Public OAuth clients through the admin API: stored per API, refused field by field when a
//! redirect URI is not one of RFC 8252's forms, kept apart between APIs, and pushed to the
//! API's region only, within a second.

use reqwest::{Method, StatusCode};
use restapi_shared::push::ClientConfig;
use serde_json::{Value, json};

use crate::providers::pushed_api;
use crate::support::db::test_databases;
use crate::support::stack::{DataPlaneHandle, Stack};

/// A redirect URI of each allowed form.
const CLAIMED: &str = "https://shop.example.com/oauth/callback";
const LOOPBACK: &str = "http://127.0.0.1/callback";
const PRIVATE_USE: &str = "com.example.shop:/oauth/callback";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_round_trip() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        api_in(&stack, "shop", "eu").await;

        let created = stack
            .create(
                "/v1/apis/shop/clients",
                json!({ "name": "Shop for iOS",
                        "redirectUris": [PRIVATE_USE, LOOPBACK, PRIVATE_USE, "http://[::1]:8080/cb",
                                         "http://localhost/cb", CLAIMED] }),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let client_id = created["clientId"].as_str().unwrap().to_owned();
        assert!(id.starts_with("pcl_"), "{id}");
        assert!(client_id.starts_with("app_"), "{client_id}");
        assert_eq!(created["name"], "Shop for iOS");
        // The duplicate is dropped, the order kept.
        assert_eq!(
            created["redirectUris"],
            json!([
                PRIVATE_USE,
                LOOPBACK,
                "http://[::1]:8080/cb",
                "http://localhost/cb",
                CLAIMED
            ])
        );
        assert!(created["createdAt"].is_string());
        assert_eq!(created["updatedAt"], created["createdAt"]);
        let mut fields: Vec<&String> = created.as_object().unwrap().keys().collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "clientId",
                "createdAt",
                "id",
                "name",
                "redirectUris",
                "updatedAt"
            ]
        );

        let path = format!("/v1/apis/shop/clients/{id}");
        let (status, fetched) = stack.admin_request(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fetched, created);
        let second = stack
            .create(
                "/v1/apis/shop/clients",
                json!({ "name": "Shop web", "redirectUris": [CLAIMED] }),
            )
            .await;
        assert_ne!(second["clientId"], created["clientId"]);
        let (status, listed) = stack
            .admin_request(Method::GET, "/v1/apis/shop/clients", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed, json!([created, second]));

        // Absent fields stay; the client id never changes.
        stack.clock.advance(5);
        let (status, renamed) = stack
            .admin_request(
                Method::PATCH,
                &path,
                Some(json!({ "name": "Shop for iPhone" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{renamed}");
        assert_eq!(renamed["name"], "Shop for iPhone");
        assert_eq!(renamed["redirectUris"], created["redirectUris"]);
        assert_eq!(renamed["clientId"], created["clientId"]);
        assert_eq!(renamed["createdAt"], created["createdAt"]);
        assert_ne!(renamed["updatedAt"], created["updatedAt"]);

        let (status, moved) = stack
            .admin_request(
                Method::PATCH,
                &path,
                Some(json!({ "redirectUris": [LOOPBACK, LOOPBACK] })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        assert_eq!(moved["redirectUris"], json!([LOOPBACK]));
        assert_eq!(moved["name"], "Shop for iPhone");
        let (_, fetched) = stack.admin_request(Method::GET, &path, None).await;
        assert_eq!(fetched, moved);

        let (status, body) = stack.admin_request(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, body) = stack.admin_request(Method::GET, &path, None).await;
        assert_not_found(status, &body);
        let (status, body) = stack.admin_request(Method::DELETE, &path, None).await;
        assert_not_found(status, &body);
        let (_, listed) = stack
            .admin_request(Method::GET, "/v1/apis/shop/clients", None)
            .await;
        assert_eq!(listed, json!([second]));

        // Deleting the API deletes its clients.
        let (status, _) = stack
            .admin_request(Method::DELETE, "/v1/apis/shop", None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM public_clients")
            .fetch_one(stack.control.store().pool())
            .await
            .unwrap();
        assert_eq!(left, 0);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reach_their_region_within_a_second_and_leave_it() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let eu = stack.region_with_data_plane("eu").await;
        let us = stack.region_with_data_plane("us").await;
        // A data plane moves on only when its own region changes, so each waits for its own.
        api_in_existing_region(&stack, "other", "us").await;
        stack.wait_for_push(&us).await;
        api_in_existing_region(&stack, "shop", "eu").await;
        stack.wait_for_push(&eu).await;
        assert_eq!(
            authorize(&eu, "app_unknown", LOOPBACK).await,
            StatusCode::BAD_REQUEST
        );

        let ios = stack
            .create(
                "/v1/apis/shop/clients",
                json!({ "name": "Shop for iOS", "redirectUris": [PRIVATE_USE, LOOPBACK] }),
            )
            .await;
        let web = stack
            .create(
                "/v1/apis/shop/clients",
                json!({ "name": "Shop web", "redirectUris": [CLAIMED] }),
            )
            .await;
        let ios_client_id = ios["clientId"].as_str().unwrap();

        // The push's promise: the data plane serves the new revision within a second.
        stack.wait_for_push(&eu).await;
        let shop = pushed_api(&stack, "eu", "shop").await;
        assert_eq!(
            shop.clients,
            vec![
                ClientConfig {
                    client_id: ios_client_id.to_owned(),
                    name: "Shop for iOS".to_owned(),
                    redirect_uris: vec![PRIVATE_USE.to_owned(), LOOPBACK.to_owned()],
                },
                ClientConfig {
                    client_id: web["clientId"].as_str().unwrap().to_owned(),
                    name: "Shop web".to_owned(),
                    redirect_uris: vec![CLAIMED.to_owned()],
                },
            ]
        );
        // The data plane itself knows the client: it answers the app at its redirect URI
        // (here that PKCE is missing) instead of refusing it as unknown.
        assert_eq!(
            authorize(&eu, ios_client_id, LOOPBACK).await,
            StatusCode::FOUND
        );

        // The other region holds none of them.
        assert!(pushed_api(&stack, "us", "other").await.clients.is_empty());
        assert_eq!(
            authorize(&us, ios_client_id, LOOPBACK).await,
            StatusCode::NOT_FOUND
        );

        // A change arrives within a second: the old redirect URI is no longer accepted.
        let ios_path = format!("/v1/apis/shop/clients/{}", ios["id"].as_str().unwrap());
        let (status, body) = stack
            .admin_request(
                Method::PATCH,
                &ios_path,
                Some(json!({ "redirectUris": [PRIVATE_USE] })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        stack.wait_for_push(&eu).await;
        assert_eq!(
            authorize(&eu, ios_client_id, LOOPBACK).await,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            authorize(&eu, ios_client_id, PRIVATE_USE).await,
            StatusCode::FOUND
        );

        // A deleted client leaves the data plane within a second.
        let (status, _) = stack.admin_request(Method::DELETE, &ios_path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        stack.wait_for_push(&eu).await;
        let shop = pushed_api(&stack, "eu", "shop").await;
        assert_eq!(shop.clients.len(), 1);
        assert_eq!(shop.clients[0].client_id, web["clientId"].as_str().unwrap());
        assert_eq!(
            authorize(&eu, ios_client_id, PRIVATE_USE).await,
            StatusCode::BAD_REQUEST
        );
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invalid_field_is_refused_by_name_and_nothing_is_created() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        api_in(&stack, "shop", "eu").await;
        let with_uri = |uri: &str| json!({ "name": "App", "redirectUris": [CLAIMED, uri] });
        let cases = [
            // Fragment, userinfo, wildcard.
            (with_uri("https://shop.example.com/cb#top"), "redirectUris"),
            (with_uri("https://me@shop.example.com/cb"), "redirectUris"),
            (with_uri("https://*.example.com/cb"), "redirectUris"),
            (with_uri("https://shop.example.com/*"), "redirectUris"),
            // Plain http to a host that is not loopback.
            (with_uri("http://shop.example.com/cb"), "redirectUris"),
            (with_uri("http://127.0.0.2/cb"), "redirectUris"),
            // Schemes that are never a redirect target, and one without a dot.
            (with_uri("javascript:alert(1)"), "redirectUris"),
            (with_uri("data:text/html,hello"), "redirectUris"),
            (with_uri("file:///etc/passwd"), "redirectUris"),
            (with_uri("vbscript:msgbox"), "redirectUris"),
            (with_uri("shopapp:/callback"), "redirectUris"),
            (with_uri("/relative/callback"), "redirectUris"),
            // Too long.
            (
                with_uri(&format!("https://shop.example.com/{}", "a".repeat(2000))),
                "redirectUris",
            ),
            // None, or too many.
            (json!({ "name": "App", "redirectUris": [] }), "redirectUris"),
            (
                json!({ "name": "App", "redirectUris": (0..21)
                    .map(|n| format!("https://shop.example.com/{n}")).collect::<Vec<_>>() }),
                "redirectUris",
            ),
            (json!({ "name": "App" }), "redirectUris"),
            // The name: empty, blank, too long, with a control character, missing.
            (json!({ "name": "", "redirectUris": [CLAIMED] }), "name"),
            (json!({ "name": "  ", "redirectUris": [CLAIMED] }), "name"),
            (
                json!({ "name": "n".repeat(101), "redirectUris": [CLAIMED] }),
                "name",
            ),
            (
                json!({ "name": "a\u{1}b", "redirectUris": [CLAIMED] }),
                "name",
            ),
            (json!({ "redirectUris": [CLAIMED] }), "name"),
            // Unknown fields.
            (
                json!({ "name": "App", "redirectUris": [CLAIMED], "clientSecret": "s" }),
                "clientSecret",
            ),
            (
                json!({ "name": "App", "redirectUri": CLAIMED }),
                "redirectUri",
            ),
        ];
        for (body, field) in cases {
            let (status, answer) = stack
                .admin_request(Method::POST, "/v1/apis/shop/clients", Some(body.clone()))
                .await;
            assert_refused(status, &answer, field, &body);
        }
        let (_, listed) = stack
            .admin_request(Method::GET, "/v1/apis/shop/clients", None)
            .await;
        assert_eq!(listed, json!([]));
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM public_clients")
            .fetch_one(stack.control.store().pool())
            .await
            .unwrap();
        assert_eq!(stored, 0);

        // PATCH checks the same way and leaves the client as it was.
        let created = stack
            .create(
                "/v1/apis/shop/clients",
                json!({ "name": "App", "redirectUris": [CLAIMED] }),
            )
            .await;
        let path = format!("/v1/apis/shop/clients/{}", created["id"].as_str().unwrap());
        for (changes, field) in [
            (
                json!({ "redirectUris": ["http://evil.example/cb"] }),
                "redirectUris",
            ),
            (json!({ "redirectUris": [] }), "redirectUris"),
            (json!({ "name": "" }), "name"),
            (
                json!({ "name": "Renamed", "redirectUris": ["javascript:x"] }),
                "redirectUris",
            ),
            (json!({ "clientId": "app_mine" }), "clientId"),
        ] {
            let (status, answer) = stack
                .admin_request(Method::PATCH, &path, Some(changes.clone()))
                .await;
            assert_refused(status, &answer, field, &changes);
        }
        let (_, unchanged) = stack.admin_request(Method::GET, &path, None).await;
        assert_eq!(unchanged, created);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_apis_client_is_not_found_under_this_api() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        api_in(&stack, "shop", "eu").await;
        api_in_existing_region(&stack, "other", "eu").await;
        let theirs = stack
            .create(
                "/v1/apis/other/clients",
                json!({ "name": "Other app", "redirectUris": [CLAIMED] }),
            )
            .await;
        let id = theirs["id"].as_str().unwrap();

        let path = format!("/v1/apis/shop/clients/{id}");
        let (status, body) = stack.admin_request(Method::GET, &path, None).await;
        assert_not_found(status, &body);
        let (status, body) = stack
            .admin_request(Method::PATCH, &path, Some(json!({ "name": "Mine now" })))
            .await;
        assert_not_found(status, &body);
        let (status, body) = stack.admin_request(Method::DELETE, &path, None).await;
        assert_not_found(status, &body);
        let (_, listed) = stack
            .admin_request(Method::GET, "/v1/apis/shop/clients", None)
            .await;
        assert_eq!(listed, json!([]));

        // Untouched under its own API.
        let (status, fetched) = stack
            .admin_request(Method::GET, &format!("/v1/apis/other/clients/{id}"), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fetched, theirs);

        // An unknown API is a 404 too, for every method.
        for (method, path, body) in [
            (Method::GET, "/v1/apis/none/clients".to_owned(), None),
            (
                Method::POST,
                "/v1/apis/none/clients".to_owned(),
                Some(json!({ "name": "App", "redirectUris": [CLAIMED] })),
            ),
            (Method::GET, format!("/v1/apis/none/clients/{id}"), None),
        ] {
            let (status, body) = stack.admin_request(method, &path, body).await;
            assert_not_found(status, &body);
        }
        database.drop_database().await;
    }
}

/// Creates region `region` (host `<region>.test`) and an API in it.
async fn api_in(stack: &Stack, api: &str, region: &str) {
    stack
        .create(
            "/v1/regions",
            json!({ "name": region, "host": format!("{region}.test") }),
        )
        .await;
    api_in_existing_region(stack, api, region).await;
}

async fn api_in_existing_region(stack: &Stack, api: &str, region: &str) {
    stack
        .create(
            "/v1/apis",
            json!({ "name": api, "region": region, "roles": ["reader"] }),
        )
        .await;
}

/// Sends an authorization request of `client_id` for `redirect_uri` to `shop`'s login page on
/// `plane`, without PKCE: 302 to the redirect URI when the data plane knows the client and the
/// URI, a 400 page when it does not, 404 when it does not serve `shop`.
async fn authorize(plane: &DataPlaneHandle, client_id: &str, redirect_uri: &str) -> StatusCode {
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
    ])
    .unwrap();
    let url = format!("{}/login?{query}", plane.regional_base("shop"));
    let response = plane
        .client(&[&plane.region_host])
        .get(url)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status == StatusCode::FOUND {
        let location = response.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with(&format!("{redirect_uri}?")),
            "{location}"
        );
        assert!(location.contains("error=invalid_request"), "{location}");
    }
    status
}

/// A 400 `invalid_field` or `invalid_body` whose message names `field`.
fn assert_refused(status: StatusCode, answer: &Value, field: &str, body: &Value) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains(field), "{field}: {message}");
    assert!(
        ["invalid_field", "invalid_body"].contains(&answer["error"].as_str().unwrap()),
        "{answer}"
    );
}

/// The stable 404 of the admin API.
fn assert_not_found(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"], "not_found", "{body}");
    assert!(body["message"].is_string(), "{body}");
}
