//! The refresh token grant: rotation on every use, reuse detection, and the 70-day chain.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::service_accounts::{provision, token_json};
use crate::support::db::test_databases;
use crate::support::stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_rotate_detect_reuse_and_end_after_seventy_days() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        let account = provision(&stack, "shop", "eu").await;
        stack.wait_for_push(&plane).await;
        let client = plane.client(&plane.hosts("shop").each_ref().map(String::as_str));
        let base = plane.regional_base("shop");
        let grant = || {
            json!({ "grant_type": "client_credentials", "client_id": account.client_id,
                    "client_secret": account.client_secret })
        };
        let refresh = |token: &Value| {
            json!({ "grant_type": "refresh_token", "client_id": account.client_id,
                    "refresh_token": token })
        };

        // The reference page's refresh: client_id and refresh_token, a new pair back.
        let (_, first) = token_json(&client, &base, grant()).await;
        let (status, second) = token_json(&client, &base, refresh(&first["refresh_token"])).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_ne!(second["refresh_token"], first["refresh_token"]);
        assert_eq!(second["expires_in"], 3600);

        // Presenting the used token again, after the 30-second grace window for a lost answer,
        // is theft or a bug: the whole family ends.
        stack.clock.advance(31);
        let (status, body) = token_json(&client, &base, refresh(&first["refresh_token"])).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );
        let (status, body) = token_json(&client, &base, refresh(&second["refresh_token"])).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );

        // Another client cannot use the token.
        let (_, fresh) = token_json(&client, &base, grant()).await;
        let (status, body) = token_json(
            &client,
            &base,
            json!({ "grant_type": "refresh_token", "client_id": "cid_someone_else",
                    "refresh_token": fresh["refresh_token"] }),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["error"], "invalid_grant");

        // A family lives 70 days from its first token, however often it rotates.
        let mut current = fresh["refresh_token"].clone();
        for _ in 0..3 {
            stack.clock.advance(20 * 24 * 3600);
            let (status, next) = token_json(&client, &base, refresh(&current)).await;
            assert_eq!(status, StatusCode::OK, "{next}");
            current = next["refresh_token"].clone();
        }
        stack.clock.advance(10 * 24 * 3600);
        let (status, body) = token_json(&client, &base, refresh(&current)).await;
        assert_eq!(
            (status, &body["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );
        database.drop_database().await;
    }
}
