//! Bad input gets a clear JSON error, changes nothing, and never panics or answers 500.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::service_accounts::{provision, token_json};
use crate::support::db::test_databases;
use crate::support::stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_refuses_bad_input_with_stable_errors_and_changes_nothing() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        stack
            .create("/v1/regions", json!({ "name": "eu", "host": "eu.test" }))
            .await;
        provision(&stack, "shop", "eu").await;
        let apis_before = stack.admin_request(Method::GET, "/v1/apis", None).await.1;
        let url = |path: &str| format!("{}{path}", stack.control_url);
        let raw = reqwest::Client::new();

        // No operator token, or a wrong one.
        for authorization in [None, Some("Bearer rot_wrong"), Some("Basic Zm9vOmJhcg==")] {
            let mut request = raw.get(url("/v1/apis"));
            if let Some(value) = authorization {
                request = request.header("authorization", value);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{authorization:?}"
            );
            assert!(response.headers().contains_key("www-authenticate"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "unauthorized");
        }

        // Malformed JSON.
        let response = stack
            .admin
            .post(url("/v1/apis"))
            .header("content-type", "application/json")
            .body("{\"name\": \"broken\",")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_body", "{body}");

        // Names that cannot be an API: not a DNS label, reserved, a region's name.
        for name in [
            "Shop",
            "-shop",
            "shop_",
            "a.b",
            "",
            "www",
            "login",
            "api",
            "eu",
            &"x".repeat(64),
        ] {
            let (status, body) = stack
                .admin_request(
                    Method::POST,
                    "/v1/apis",
                    Some(json!({ "name": name, "region": "eu" })),
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
            assert_eq!(body["error"], "invalid_name", "{name}: {body}");
            assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        }

        // A duplicate name, an unknown region, an unknown API.
        let (status, body) = stack
            .admin_request(
                Method::POST,
                "/v1/apis",
                Some(json!({ "name": "shop", "region": "eu" })),
            )
            .await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::CONFLICT, &json!("conflict"))
        );
        let (status, _) = stack
            .admin_request(
                Method::POST,
                "/v1/apis",
                Some(json!({ "name": "new", "region": "mars" })),
            )
            .await;
        assert!(status.is_client_error(), "{status}");
        let (status, body) = stack
            .admin_request(Method::GET, "/v1/apis/nothing", None)
            .await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::NOT_FOUND, &json!("not_found"))
        );

        // An oversized body.
        // Just over the 1 MiB limit: the server answers 413 without reading the body and closes
        // the connection, so a body far larger than the socket buffers could still be in
        // flight and have the client see a reset instead of the answer.
        let huge = json!({ "name": "big", "region": "eu", "description": "x".repeat(1 << 20) });
        let (status, body) = stack
            .admin_request(Method::POST, "/v1/apis", Some(huge))
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
        assert_eq!(body["error"], "payload_too_large");

        let apis_after = stack.admin_request(Method::GET, "/v1/apis", None).await.1;
        assert_eq!(
            apis_before, apis_after,
            "a refused request changed something"
        );
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_endpoints_refuse_bad_input_with_rfc_6749_errors() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        let account = provision(&stack, "shop", "eu").await;
        stack.wait_for_push(&plane).await;
        let client = plane.client(&["eu.test", "shop.apps.test", "nothing.apps.test"]);
        let base = plane.regional_base("shop");

        let wrong_secret = json!({ "grant_type": "client_credentials",
            "client_id": account.client_id, "client_secret": "rcs_wrong" });
        let unknown_client = json!({ "grant_type": "client_credentials",
            "client_id": "cid_unknown", "client_secret": account.client_secret });
        for body in [wrong_secret, unknown_client] {
            let response = client
                .post(format!("{base}/_token"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert!(response.headers().contains_key("www-authenticate"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_client");
            assert!(body.get("access_token").is_none());
        }

        let cases = [
            (
                json!({ "grant_type": "password", "client_id": account.client_id,
                     "client_secret": account.client_secret }),
                "unsupported_grant_type",
            ),
            (
                json!({ "client_id": account.client_id, "client_secret": account.client_secret }),
                "invalid_request",
            ),
            (
                json!({ "grant_type": "refresh_token", "client_id": account.client_id,
                     "refresh_token": "rrt1_forged" }),
                "invalid_grant",
            ),
            (
                json!({ "grant_type": "refresh_token", "client_id": account.client_id }),
                "invalid_request",
            ),
        ];
        for (body, expected) in cases {
            let (status, answer) = token_json(&client, &base, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert_eq!(answer["error"], expected, "{body}: {answer}");
        }

        // Malformed JSON, a duplicated form parameter, and a body far too large.
        let response = client
            .post(format!("{base}/_token"))
            .header("content-type", "application/json")
            .body("{\"grant_type\":")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_request"
        );
        let response = client
            .post(format!("{base}/_token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials&grant_type=client_credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_request"
        );
        let response = client
            .post(format!("{base}/_token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&pad={}",
                "x".repeat(65 * 1024)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

        // `/_auth` with a wrong secret or an unknown authority.
        let response = client
            .post(format!("{base}/_auth"))
            .json(
                &json!({ "authority": "serviceaccount", "clientId": account.client_id,
                           "clientSecret": "rcs_wrong" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.json::<Value>().await.unwrap()["error"].is_string());

        // An expired secret is refused like a wrong one.
        stack.clock.advance(2 * 366 * 24 * 3600);
        let (status, body) = token_json(
            &client,
            &base,
            json!({ "grant_type": "client_credentials", "client_id": account.client_id,
                    "client_secret": account.client_secret }),
        )
        .await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::UNAUTHORIZED, &json!("invalid_client"))
        );

        // An unknown API, on both kinds of host.
        let port = plane.addr.port();
        for url in [
            format!("http://eu.test:{port}/nothing/_token"),
            format!("http://nothing.apps.test:{port}/api/_token"),
        ] {
            let response = client.post(&url).json(&json!({})).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{url}");
            assert_eq!(
                response.json::<Value>().await.unwrap()["error"],
                "not_found"
            );
        }
        database.drop_database().await;
    }
}
