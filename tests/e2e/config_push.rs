//! Configuration written on the control plane reaches the data plane within a second, and
//! only the data planes of the API's region.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::service_accounts::{provision, token_json};
use crate::support::db::test_databases;
use crate::support::stack::{Stack, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_publishes_first_and_signs_later_without_restart() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        let account = provision(&stack, "shop", "eu").await;
        stack.wait_for_push(&plane).await;
        let client = plane.client(&plane.hosts("shop").each_ref().map(String::as_str));
        let base = plane.regional_base("shop");
        let credentials = json!({ "grant_type": "client_credentials",
            "client_id": account.client_id, "client_secret": account.client_secret });

        let (_, before) = token_json(&client, &base, credentials.clone()).await;
        let old_kid = kid_of(&before["access_token"]);

        let (status, rotated) = stack
            .admin_request(Method::POST, "/v1/apis/shop/signing-keys/rotate", None)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{rotated}");
        let new_kid = rotated["kid"].as_str().expect("kid").to_owned();
        assert_ne!(new_kid, old_kid);

        // Published within a second, next to the old key ...
        let jwks_url = format!("{base}/.well-known/jwks.json");
        wait_until("new key published", Duration::from_secs(1), || async {
            published_kids(&client, &jwks_url).await.contains(&new_kid)
        })
        .await;
        assert!(published_kids(&client, &jwks_url).await.contains(&old_kid));

        // ... but not used before data planes had time to fetch it.
        let (_, during) = token_json(&client, &base, credentials.clone()).await;
        assert_eq!(kid_of(&during["access_token"]), old_kid);

        stack.clock.advance(301);
        let (_, after) = token_json(&client, &base, credentials.clone()).await;
        assert_eq!(kid_of(&after["access_token"]), new_kid);

        // The old key stays published while tokens it signed can still be alive ...
        let userinfo = format!("{base}/_userinfo");
        let old_token = during["access_token"].as_str().unwrap();
        let response = client
            .get(&userinfo)
            .bearer_auth(old_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(published_kids(&client, &jwks_url).await.contains(&old_kid));

        // ... and leaves once every one of them has expired.
        stack.clock.advance(3600 + 120);
        assert!(!published_kids(&client, &jwks_url).await.contains(&old_kid));
        assert!(published_kids(&client, &jwks_url).await.contains(&new_kid));
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_secret_is_refused_within_a_second_while_its_successor_works() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        let account = provision(&stack, "shop", "eu").await;
        stack.wait_for_push(&plane).await;
        let client = plane.client(&plane.hosts("shop").each_ref().map(String::as_str));
        let base = plane.app_base("shop");

        let secrets_path = format!(
            "/v1/apis/shop/service-accounts/{}/secrets",
            account.account_id
        );
        let successor = stack.create(&secrets_path, json!({})).await;
        let successor_secret = successor["clientSecret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let with = |secret: &str| {
            json!({ "grant_type": "client_credentials", "client_id": account.client_id,
                    "client_secret": secret })
        };
        wait_until("second secret pushed", Duration::from_secs(1), || async {
            token_json(&client, &base, with(&successor_secret)).await.0 == StatusCode::OK
        })
        .await;
        let (_, issued) = token_json(&client, &base, with(&account.client_secret)).await;

        let (status, body) = stack
            .admin_request(
                Method::PATCH,
                &format!("{secrets_path}/{}", account.secret_id),
                Some(json!({ "enabled": false })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["enabled"], false);

        let refused_in = wait_until(
            "disabled secret refused",
            Duration::from_secs(1),
            || async {
                token_json(&client, &base, with(&account.client_secret))
                    .await
                    .0
                    == StatusCode::UNAUTHORIZED
            },
        )
        .await;
        assert!(refused_in < Duration::from_secs(1));
        let (status, body) = token_json(&client, &base, with(&account.client_secret)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "invalid_client");

        // A refresh token obtained with the disabled secret dies with it.
        let (status, body) = token_json(
            &client,
            &base,
            json!({ "grant_type": "refresh_token", "client_id": account.client_id,
                    "refresh_token": issued["refresh_token"] }),
        )
        .await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );

        let (status, _) = token_json(&client, &base, with(&successor_secret)).await;
        assert_eq!(status, StatusCode::OK);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_plane_never_sees_another_regions_apis_and_reports_its_revision() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        stack
            .create("/v1/regions", json!({ "name": "no", "host": "no.test" }))
            .await;
        let fjord = provision(&stack, "fjord", "no").await;
        provision(&stack, "shop", "eu").await;
        stack.wait_for_push(&plane).await;

        let client = plane.client(&["eu.test", "no.test", "fjord.apps.test"]);
        for base in [plane.regional_base("fjord"), plane.app_base("fjord")] {
            let (status, body) = token_json(
                &client,
                &base,
                json!({ "grant_type": "client_credentials", "client_id": fjord.client_id,
                        "client_secret": fjord.client_secret }),
            )
            .await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{base}: {body}");
            assert_eq!(body["error"], "not_found");
        }

        // Moving the API into the region brings it; moving it out takes it away again.
        let (status, _) = stack
            .admin_request(
                Method::PATCH,
                "/v1/apis/fjord",
                Some(json!({ "region": "eu" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        stack.wait_for_push(&plane).await;
        let (status, _) = stack
            .admin_request(
                Method::PATCH,
                "/v1/apis/fjord",
                Some(json!({ "region": "no" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let discovery = format!(
            "{}/.well-known/openid-configuration",
            plane.regional_base("fjord")
        );
        wait_until("API moved away", Duration::from_secs(1), || async {
            client
                .get(&discovery)
                .send()
                .await
                .is_ok_and(|r| r.status() == StatusCode::NOT_FOUND)
        })
        .await;

        let served = plane.plane.revision().expect("revision");
        let (status, planes) = stack
            .admin_request(Method::GET, "/v1/data-planes", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let listed = data_plane_rows(&planes);
        assert_eq!(listed.len(), 1, "{planes}");
        assert_eq!(listed[0]["region"], "eu");
        wait_until("reported revision", Duration::from_secs(2), || async {
            let (_, planes) = stack
                .admin_request(Method::GET, "/v1/data-planes", None)
                .await;
            data_plane_rows(&planes)[0]["revision"].as_i64() >= Some(served)
        })
        .await;
        database.drop_database().await;
    }
}

fn data_plane_rows(body: &Value) -> Vec<Value> {
    body.as_array()
        .or_else(|| body["items"].as_array())
        .or_else(|| body["dataPlanes"].as_array())
        .cloned()
        .unwrap_or_default()
}

fn kid_of(token: &Value) -> String {
    let token = token.as_str().expect("token");
    jsonwebtoken::decode_header(token)
        .expect("header")
        .kid
        .expect("kid")
}

async fn published_kids(client: &reqwest::Client, url: &str) -> Vec<String> {
    let jwks: Value = client.get(url).send().await.unwrap().json().await.unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}
