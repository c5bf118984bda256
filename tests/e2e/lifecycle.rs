//! The end of a token's life: revocation (RFC 7009) and introspection (RFC 7662) through
//! both planes, with a service account's tokens, on every backend under test.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::service_accounts::{Provisioned, provision, token_json};
use crate::support::db::test_databases;
use crate::support::stack::DataPlaneHandle;

/// `POST <base>/<endpoint>` as a form authenticated by HTTP Basic with `account`.
async fn ask(
    client: &reqwest::Client,
    base: &str,
    endpoint: &str,
    account: &Provisioned,
    token: &str,
) -> (StatusCode, Value) {
    let response = client
        .post(format!("{base}/{endpoint}"))
        .basic_auth(&account.client_id, Some(&account.client_secret))
        .form(&[("token", token)])
        .send()
        .await
        .expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn client_for(plane: &DataPlaneHandle, apis: &[&str]) -> reqwest::Client {
    let hosts: Vec<String> = apis.iter().flat_map(|api| plane.hosts(api)).collect();
    let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
    plane.client(&hosts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_tells_live_tokens_and_revocation_ends_a_refresh_family() {
    for database in test_databases().await {
        let stack = crate::support::stack::Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        let shop = provision(&stack, "shop", "eu").await;
        let other = provision(&stack, "other", "eu").await;
        stack.wait_for_push(&plane).await;
        let client = client_for(&plane, &["shop", "other"]);
        let base = plane.regional_base("shop");
        let backend = database.backend;

        let credentials = json!({ "grant_type": "client_credentials",
            "client_id": shop.client_id, "client_secret": shop.client_secret });
        let (status, tokens) = token_json(&client, &base, credentials).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {tokens}");
        let access = tokens["access_token"].as_str().unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();

        // Both tokens are active, and say whose they are.
        let (status, answer) = ask(&client, &base, "_introspect", &shop, access).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["active"], true, "{answer}");
        assert_eq!(answer["token_type"], "access_token");
        assert_eq!(answer["sub"], shop.account_id);
        assert_eq!(answer["client_id"], shop.client_id);
        assert_eq!(answer["aud"], "shop");
        let (_, answer) = ask(&client, &base, "_introspect", &shop, refresh).await;
        assert_eq!(answer["active"], true, "{answer}");
        assert_eq!(answer["token_type"], "refresh_token");

        // Garbage is inactive, and says nothing else.
        let (_, answer) = ask(&client, &base, "_introspect", &shop, "garbage").await;
        assert_eq!(answer, json!({ "active": false }));

        // Another API's service account may not ask, nor see this API's tokens as its own.
        let (status, answer) = ask(&client, &base, "_introspect", &other, access).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["error"], "invalid_client");
        let other_base = plane.regional_base("other");
        let (status, answer) = ask(&client, &other_base, "_introspect", &other, access).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(answer, json!({ "active": false }));

        // Without credentials, or with a wrong secret: invalid_client.
        let anonymous = client
            .post(format!("{base}/_introspect"))
            .form(&[("token", access)])
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
        assert!(anonymous.headers().contains_key("www-authenticate"));
        let wrong = Provisioned {
            client_secret: "rcs_wrong".into(),
            ..shop.clone()
        };
        let (status, _) = ask(&client, &base, "_introspect", &wrong, access).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // Another API's client revoking this API's token changes nothing.
        let (status, _) = ask(&client, &other_base, "_revoke", &other, refresh).await;
        assert_eq!(status, StatusCode::OK);
        let (_, answer) = ask(&client, &base, "_introspect", &shop, refresh).await;
        assert_eq!(answer["active"], true, "{answer}");

        // Revoked: inactive, and it no longer refreshes.
        let (status, answer) = ask(&client, &base, "_revoke", &shop, refresh).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let (_, answer) = ask(&client, &base, "_introspect", &shop, refresh).await;
        assert_eq!(answer, json!({ "active": false }), "{backend}");
        let renew = json!({ "grant_type": "refresh_token", "client_id": shop.client_id,
            "refresh_token": refresh });
        let (status, answer) = token_json(&client, &base, renew).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(answer["error"], "invalid_grant");

        // A redeemed refresh token is spent: inactive, while its successor is active.
        let credentials = json!({ "grant_type": "client_credentials",
            "client_id": shop.client_id, "client_secret": shop.client_secret });
        let (_, tokens) = token_json(&client, &base, credentials).await;
        let first = tokens["refresh_token"].as_str().unwrap().to_owned();
        let renew = json!({ "grant_type": "refresh_token", "client_id": shop.client_id,
            "refresh_token": first });
        let (status, renewed) = token_json(&client, &base, renew).await;
        assert_eq!(status, StatusCode::OK, "{renewed}");
        let (_, answer) = ask(&client, &base, "_introspect", &shop, &first).await;
        assert_eq!(answer["active"], false, "{answer}");
        let second = renewed["refresh_token"].as_str().unwrap();
        let (_, answer) = ask(&client, &base, "_introspect", &shop, second).await;
        assert_eq!(answer["active"], true, "{answer}");

        // Revoking garbage is fine (RFC 7009 §2.2); a missing token is invalid_request.
        let (status, _) = ask(&client, &base, "_revoke", &shop, "garbage").await;
        assert_eq!(status, StatusCode::OK);
        let missing = client
            .post(format!("{base}/_revoke"))
            .basic_auth(&shop.client_id, Some(&shop.client_secret))
            .form(&[("token_type_hint", "refresh_token")])
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
        let missing: Value = missing.json().await.unwrap();
        assert_eq!(missing["error"], "invalid_request");

        database.drop_database().await;
    }
}
