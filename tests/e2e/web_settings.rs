//! An API's web settings (upstreams, access rules, origins, branding) through the admin API:
//! checked, normalised, shown, cleared with null, and pushed to the API's data planes.

use reqwest::{Method, StatusCode};
use restapi_shared::push::{AccessRule, Branding, WebConfig};
use serde_json::{Value, json};

use crate::providers::pushed_api;
use crate::support::db::test_databases;
use crate::support::stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_settings_round_trip_and_reach_the_data_plane() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        let created = stack
            .create(
                "/v1/apis",
                json!({
                    "name": "shop", "region": "eu", "roles": ["reader", "writer"],
                    "upstream": "https://backend.example.com/v1",
                    "accessRules": [
                        { "role": "_EVERYONE", "methods": ["GET", "HEAD"], "path": "/products" },
                        { "role": "writer", "methods": ["*"], "path": "/" },
                    ],
                    "corsOrigins": ["https://App.Example.com", "http://localhost:3000"],
                    "branding": { "displayName": "Shop", "primaryColor": "#0B57D0" },
                }),
            )
            .await;
        assert_eq!(created["upstream"], "https://backend.example.com/v1");
        assert_eq!(created["webUpstream"], Value::Null);
        assert_eq!(
            created["corsOrigins"],
            json!(["https://app.example.com", "http://localhost:3000"])
        );
        assert_eq!(created["redirectOrigins"], json!([]));
        assert_eq!(created["accessRules"][1]["methods"], json!(["*"]));
        assert_eq!(
            created["branding"],
            json!({ "displayName": "Shop", "logoUrl": null, "primaryColor": "#0b57d0",
                    "backgroundColor": null })
        );
        let (_, fetched) = stack
            .admin_request(Method::GET, "/v1/apis/shop", None)
            .await;
        assert_eq!(fetched, created);

        stack.wait_for_push(&plane).await;
        let web = pushed_api(&stack, "eu", "shop").await.web;
        assert_eq!(
            web,
            WebConfig {
                upstream: Some("https://backend.example.com/v1".to_owned()),
                web_upstream: None,
                access_rules: vec![
                    AccessRule {
                        role: "_EVERYONE".to_owned(),
                        methods: vec!["GET".to_owned(), "HEAD".to_owned()],
                        path: "/products".to_owned(),
                    },
                    AccessRule {
                        role: "writer".to_owned(),
                        methods: vec!["*".to_owned()],
                        path: "/".to_owned(),
                    },
                ],
                cors_origins: vec![
                    "https://app.example.com".to_owned(),
                    "http://localhost:3000".to_owned()
                ],
                redirect_origins: vec![],
                branding: Branding {
                    display_name: Some("Shop".to_owned()),
                    logo_url: None,
                    primary_color: Some("#0b57d0".to_owned()),
                    background_color: None,
                },
            }
        );

        // Absent fields stay, lists replace, null clears.
        let (status, changed) = stack
            .admin_request(
                Method::PATCH,
                "/v1/apis/shop",
                Some(json!({ "webUpstream": "http://127.0.0.1:3000",
                    "redirectOrigins": ["https://app.example.com"],
                    "branding": { "logoUrl": "https://cdn.example.com/logo.svg" } })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{changed}");
        assert_eq!(changed["upstream"], "https://backend.example.com/v1");
        assert_eq!(changed["webUpstream"], "http://127.0.0.1:3000");
        assert_eq!(
            changed["redirectOrigins"],
            json!(["https://app.example.com"])
        );
        assert_eq!(changed["branding"]["displayName"], Value::Null);
        assert_eq!(changed["accessRules"], created["accessRules"]);

        let (status, cleared) = stack
            .admin_request(
                Method::PATCH,
                "/v1/apis/shop",
                Some(json!({ "upstream": null, "branding": null, "corsOrigins": [] })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{cleared}");
        assert_eq!(cleared["upstream"], Value::Null);
        assert_eq!(cleared["webUpstream"], "http://127.0.0.1:3000");
        assert_eq!(cleared["corsOrigins"], json!([]));
        assert_eq!(
            cleared["branding"],
            json!({ "displayName": null, "logoUrl": null, "primaryColor": null,
                    "backgroundColor": null })
        );

        stack.wait_for_push(&plane).await;
        let web = pushed_api(&stack, "eu", "shop").await.web;
        assert_eq!(web.upstream, None);
        assert_eq!(web.web_upstream.as_deref(), Some("http://127.0.0.1:3000"));
        assert_eq!(web.branding, Branding::default());
        assert!(web.cors_origins.is_empty());
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_web_settings_are_refused_by_name_and_change_nothing() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        stack
            .create("/v1/regions", json!({ "name": "eu", "host": "eu.test" }))
            .await;
        let cases = [
            (json!({ "upstream": "backend.example.com" }), "upstream"),
            (
                json!({ "upstream": "https://b.example.com/?x=1" }),
                "upstream",
            ),
            (
                json!({ "webUpstream": "https://b.example.com/#a" }),
                "webUpstream",
            ),
            (
                json!({ "webUpstream": "ftp://b.example.com" }),
                "webUpstream",
            ),
            (
                json!({ "accessRules": rule("owner", json!(["GET"]), "/") }),
                "accessRules[0].role",
            ),
            (
                json!({ "accessRules": rule("reader", json!([]), "/") }),
                "accessRules[0].methods",
            ),
            (
                json!({ "accessRules": rule("reader", json!(["get"]), "/") }),
                "accessRules[0].methods",
            ),
            (
                json!({ "accessRules": rule("reader", json!(["GET"]), "products") }),
                "accessRules[0].path",
            ),
            (
                json!({ "accessRules": rule("reader", json!(["GET"]), "/a/../b") }),
                "accessRules[0].path",
            ),
            (
                json!({ "corsOrigins": ["https://app.example.com/"] }),
                "corsOrigins",
            ),
            (json!({ "corsOrigins": ["app.example.com"] }), "corsOrigins"),
            (
                json!({ "redirectOrigins": ["https://a.example.com/x"] }),
                "redirectOrigins",
            ),
            (
                json!({ "branding": { "logoUrl": "http://cdn.example.com/l.png" } }),
                "branding.logoUrl",
            ),
            (
                json!({ "branding": { "primaryColor": "red" } }),
                "branding.primaryColor",
            ),
            (
                json!({ "branding": { "backgroundColor": "#fff" } }),
                "branding.backgroundColor",
            ),
            (
                json!({ "branding": { "displayName": "x".repeat(101) } }),
                "branding.displayName",
            ),
            (
                json!({ "branding": { "logo": "https://x.example" } }),
                "logo",
            ),
        ];

        // On create: nothing is created.
        for (settings, field) in &cases {
            let mut body = json!({ "name": "shop", "region": "eu", "roles": ["reader"] });
            for (key, value) in settings.as_object().unwrap() {
                body[key] = value.clone();
            }
            let (status, answer) = stack
                .admin_request(Method::POST, "/v1/apis", Some(body))
                .await;
            assert_refused(status, &answer, field);
        }
        let (_, apis) = stack.admin_request(Method::GET, "/v1/apis", None).await;
        assert_eq!(apis, json!([]));

        // On change: nothing changes.
        let created = stack
            .create(
                "/v1/apis",
                json!({ "name": "shop", "region": "eu", "roles": ["reader"] }),
            )
            .await;
        for (settings, field) in cases {
            let (status, answer) = stack
                .admin_request(Method::PATCH, "/v1/apis/shop", Some(settings))
                .await;
            assert_refused(status, &answer, field);
        }
        let (_, unchanged) = stack
            .admin_request(Method::GET, "/v1/apis/shop", None)
            .await;
        assert_eq!(unchanged, created);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_named_by_an_access_rule_cannot_be_removed() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        stack
            .create("/v1/regions", json!({ "name": "eu", "host": "eu.test" }))
            .await;
        stack
            .create(
                "/v1/apis",
                json!({ "name": "shop", "region": "eu", "roles": ["reader", "writer"],
                    "accessRules":
                        [{ "role": "writer", "methods": ["POST"], "path": "/orders" }] }),
            )
            .await;

        let (status, answer) = stack
            .admin_request(
                Method::PATCH,
                "/v1/apis/shop",
                Some(json!({ "roles": ["reader"] })),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        assert_eq!(answer["error"], "conflict");
        let message = answer["message"].as_str().unwrap();
        assert!(
            message.contains("'writer'") && message.contains("access rule"),
            "{message}"
        );
        let (_, api) = stack
            .admin_request(Method::GET, "/v1/apis/shop", None)
            .await;
        assert_eq!(api["roles"], json!(["reader", "writer"]));

        // Dropping the role and the rule together is fine; a rule for a dropped role is not.
        let (status, answer) = stack
            .admin_request(
                Method::PATCH,
                "/v1/apis/shop",
                Some(json!({ "roles": ["reader"], "accessRules":
                    [{ "role": "writer", "methods": ["POST"], "path": "/orders" }] })),
            )
            .await;
        assert_refused(status, &answer, "accessRules[0].role");
        let (status, answer) = stack
            .admin_request(
                Method::PATCH,
                "/v1/apis/shop",
                Some(json!({ "roles": ["reader"], "accessRules":
                    [{ "role": "reader", "methods": ["GET"], "path": "/orders" }] })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["roles"], json!(["reader"]));
        assert_eq!(answer["accessRules"][0]["role"], "reader");
        database.drop_database().await;
    }
}

fn rule(role: &str, methods: Value, path: &str) -> Value {
    json!([{ "role": role, "methods": methods, "path": path }])
}

fn assert_refused(status: StatusCode, answer: &Value, field: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains(field), "{field}: {message}");
}
