//! Identity providers through the admin API: stored with their secrets sealed, never shown,
//! checked field by field, and pushed to the API's region only, within a second.

use reqwest::{Method, StatusCode};
use restapi_shared::push::{ApiConfig, ProviderConfig, ProviderKind};
use serde_json::{Value, json};

use crate::support::db::test_databases;
use crate::support::stack::Stack;

/// A P-256 key in PKCS#8 PEM, as Apple hands out; made for these tests only.
const APPLE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggHM9YEnaRuVURPhq
3go1x01z5YCY7ofplMq6IJ25QDChRANCAATFeVr/RL88m3mqyl5xU/AvrS068vwX
8wz8JmYGoJAvHuuCvaflKHY303a1xii8+4pkAPbCrPfNwGEWqX11wo5p
-----END PRIVATE KEY-----
";
/// A line of [`APPLE_KEY`]'s body, looked for where it must not be.
const APPLE_KEY_LINE: &str = "3go1x01z5YCY7ofplMq6IJ25QDChRANCAATFeVr";
const GOOGLE_SECRET: &str = "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ts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_round_trip_without_revealing_secrets() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        api_in(&stack, "shop", "eu").await;

        let created = stack
            .create(
                "/v1/apis/shop/providers",
                json!({ "kind": "google", "clientId": "g-client", "clientSecret": GOOGLE_SECRET,
                        "scopes": ["openid", "email"] }),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert!(id.starts_with("idp_"), "{id}");
        assert_eq!(created["kind"], "google");
        assert_eq!(created["displayName"], "Google");
        assert_eq!(created["enabled"], true);
        assert_eq!(created["autoCreate"], false);
        assert_eq!(created["clientId"], "g-client");
        assert_eq!(created["clientSecretSet"], true);
        assert_eq!(created["privateKeySet"], false);
        assert_eq!(created["scopes"], json!(["openid", "email"]));
        assert_eq!(created["issuer"], Value::Null);
        assert!(created["createdAt"].is_string() && created["updatedAt"].is_string());
        // The stack serves plain HTTP under the app domain `apps.test`; the region's host is
        // `eu.test`.
        assert_eq!(
            created["redirectUris"],
            json!([
                format!("http://shop.apps.test/login/callback/{id}"),
                format!("http://eu.test/shop/login/callback/{id}"),
            ])
        );
        assert_no_secret(&created, GOOGLE_SECRET);

        let path = format!("/v1/apis/shop/providers/{id}");
        let (status, fetched) = stack.admin_request(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fetched, created);
        let (status, listed) = stack
            .admin_request(Method::GET, "/v1/apis/shop/providers", None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(listed, json!([created]));

        // Sealed at rest: the column holds no trace of the secret.
        let stored: Vec<u8> =
            sqlx::query_scalar("SELECT client_secret FROM identity_providers WHERE id = $1")
                .bind(&id)
                .fetch_one(stack.control.store().pool())
                .await
                .unwrap();
        assert!(!contains(&stored, GOOGLE_SECRET.as_bytes()));
        assert!(!contains(&stored, b"GOCSPX"));

        // Absent fields stay; given ones change; null clears.
        let endpoints = json!({ "authorization": "https://idp.example/authorize",
            "token": "https://idp.example/token", "userinfo": null, "jwks": null });
        let (status, changed) = stack
            .admin_request(
                Method::PATCH,
                &path,
                Some(json!({ "displayName": "Google Workspace", "enabled": false,
                    "issuer": "https://accounts.google.com", "endpoints": endpoints })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{changed}");
        assert_eq!(changed["displayName"], "Google Workspace");
        assert_eq!(changed["enabled"], false);
        assert_eq!(changed["clientId"], "g-client");
        assert_eq!(changed["clientSecretSet"], true);
        assert_eq!(changed["issuer"], "https://accounts.google.com");
        assert_eq!(changed["endpoints"], endpoints);
        assert_eq!(changed["createdAt"], created["createdAt"]);

        let (status, cleared) = stack
            .admin_request(
                Method::PATCH,
                &path,
                Some(json!({ "issuer": null, "endpoints": null, "kind": "google" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{cleared}");
        assert_eq!(cleared["issuer"], Value::Null);
        assert_eq!(
            cleared["endpoints"],
            json!({ "authorization": null, "token": null, "userinfo": null, "jwks": null })
        );
        assert_eq!(cleared["displayName"], "Google Workspace");

        // A new secret replaces the old one, still without showing it.
        let new_secret = "GOCSPX-rotated-secret-value-0000";
        let (status, rotated) = stack
            .admin_request(
                Method::PATCH,
                &path,
                Some(json!({ "clientSecret": new_secret })),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_no_secret(&rotated, new_secret);
        let pushed = pushed_provider(&stack, "eu", "shop", &id).await;
        assert_eq!(
            pushed.client_secret.as_ref().map(|s| s.expose()),
            Some(new_secret)
        );

        let (status, _) = stack.admin_request(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = stack.admin_request(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        let (status, _) = stack.admin_request(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apple_takes_a_private_key_and_never_shows_it() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        api_in(&stack, "shop", "eu").await;
        let apple = json!({ "kind": "apple", "clientId": "com.example.shop",
            "teamId": "TEAM123456", "keyId": "KEY1234567", "privateKey": APPLE_KEY });

        let created = stack.create("/v1/apis/shop/providers", apple.clone()).await;
        assert_eq!(created["displayName"], "Apple");
        assert_eq!(created["privateKeySet"], true);
        assert_eq!(created["clientSecretSet"], false);
        assert_eq!(created["teamId"], "TEAM123456");
        assert_eq!(created["keyId"], "KEY1234567");
        assert_no_secret(&created, APPLE_KEY_LINE);
        let id = created["id"].as_str().unwrap();
        let stored: Vec<u8> =
            sqlx::query_scalar("SELECT private_key FROM identity_providers WHERE id = $1")
                .bind(id)
                .fetch_one(stack.control.store().pool())
                .await
                .unwrap();
        assert!(!contains(&stored, APPLE_KEY_LINE.as_bytes()));
        assert!(!contains(&stored, b"BEGIN PRIVATE KEY"));

        let pushed = pushed_provider(&stack, "eu", "shop", id).await;
        assert_eq!(pushed.private_key.as_ref().unwrap().expose(), APPLE_KEY);
        assert_eq!(pushed.issuer.as_deref(), Some("https://appleid.apple.com"));
        assert!(pushed.client_secret.is_none());

        let mut with_secret = apple.clone();
        with_secret["clientSecret"] = json!("no-such-thing");
        assert_refused(&stack, with_secret, "clientSecret").await;
        let mut bad_key = apple.clone();
        bad_key["privateKey"] = json!(APPLE_KEY.replace(APPLE_KEY_LINE, "AAAA"));
        assert_refused(&stack, bad_key, "privateKey").await;
        let mut no_team = apple;
        no_team.as_object_mut().unwrap().remove("teamId");
        assert_refused(&stack, no_team, "teamId").await;
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_invalid_field_is_refused_by_name_and_nothing_is_created() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        api_in(&stack, "shop", "eu").await;
        let google = |extra: Value| {
            let mut body = json!({ "kind": "google", "clientId": "c", "clientSecret": "s" });
            for (key, value) in extra.as_object().unwrap() {
                body[key] = value.clone();
            }
            body
        };
        let cases = [
            (google(json!({ "tenant": "common" })), "tenant"),
            (google(json!({ "teamId": "T" })), "teamId"),
            (google(json!({ "privateKey": APPLE_KEY })), "privateKey"),
            (google(json!({ "clientSecret": null })), "clientSecret"),
            (google(json!({ "clientId": "" })), "clientId"),
            (google(json!({ "displayName": " " })), "displayName"),
            (google(json!({ "scopes": ["open id"] })), "scopes"),
            (google(json!({ "issuer": "accounts.google.com" })), "issuer"),
            (
                google(json!({ "endpoints": { "token": "ftp://x.example/t" } })),
                "endpoints.token",
            ),
            (
                google(json!({ "endpoints": { "tokn": "https://x.example/t" } })),
                "tokn",
            ),
            (google(json!({ "clientSecrt": "s" })), "clientSecrt"),
            (json!({ "kind": "google", "clientSecret": "s" }), "clientId"),
            (json!({ "clientId": "c", "clientSecret": "s" }), "kind"),
            (
                json!({ "kind": "oidc", "clientId": "c", "clientSecret": "s" }),
                "issuer",
            ),
            (
                json!({ "kind": "microsoft", "clientId": "c", "clientSecret": "s",
                        "tenant": "not a tenant" }),
                "tenant",
            ),
        ];
        for (body, field) in cases {
            assert_refused(&stack, body, field).await;
        }
        let (_, listed) = stack
            .admin_request(Method::GET, "/v1/apis/shop/providers", None)
            .await;
        assert_eq!(listed, json!([]));

        // PATCH checks the result as a whole, and the kind stays.
        let created = stack
            .create("/v1/apis/shop/providers", google(json!({})))
            .await;
        let path = format!(
            "/v1/apis/shop/providers/{}",
            created["id"].as_str().unwrap()
        );
        for (changes, field) in [
            (json!({ "kind": "microsoft" }), "kind"),
            (json!({ "tenant": "common" }), "tenant"),
            (json!({ "keyId": "K" }), "keyId"),
            (
                json!({ "endpoints": { "jwks": "https://x.example/#k" } }),
                "endpoints.jwks",
            ),
            (json!({ "clientSecret": "" }), "clientSecret"),
        ] {
            let (status, body) = stack
                .admin_request(Method::PATCH, &path, Some(changes))
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {body}");
            let message = body["message"].as_str().unwrap();
            assert!(message.contains(field), "{field}: {message}");
        }
        let (_, unchanged) = stack.admin_request(Method::GET, &path, None).await;
        assert_eq!(unchanged, created);

        let (status, _) = stack
            .admin_request(Method::GET, "/v1/apis/none/providers", None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_reach_their_region_only_within_a_second_with_defaults_filled() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let eu = stack.region_with_data_plane("eu").await;
        let us = stack.region_with_data_plane("us").await;
        // A data plane moves on only when its own region changes, so each waits for its own.
        api_in_existing_region(&stack, "other", "us").await;
        stack.wait_for_push(&us).await;
        api_in_existing_region(&stack, "shop", "eu").await;
        stack.wait_for_push(&eu).await;

        let mut ids = Vec::new();
        for body in [
            json!({ "kind": "microsoft", "clientId": "m", "clientSecret": "ms" }),
            json!({ "kind": "microsoft", "clientId": "m2", "clientSecret": "ms",
                    "tenant": "contoso.onmicrosoft.com" }),
            json!({ "kind": "facebook", "clientId": "f", "clientSecret": "fs",
                    "endpoints": { "userinfo": "https://graph.example/me" } }),
            json!({ "kind": "vipps", "clientId": "v", "clientSecret": "vs" }),
            json!({ "kind": "google", "clientId": "g", "clientSecret": "gs" }),
            json!({ "kind": "oidc", "clientId": "o", "clientSecret": "os",
                    "issuer": "https://login.example.org/realms/main", "autoCreate": true }),
        ] {
            let created = stack.create("/v1/apis/shop/providers", body).await;
            ids.push(created["id"].as_str().unwrap().to_owned());
        }
        // The push's promise: the data plane serves the new revision within a second.
        stack.wait_for_push(&eu).await;

        let shop = pushed_api(&stack, "eu", "shop").await;
        let providers: Vec<&ProviderConfig> = shop.providers.iter().collect();
        assert_eq!(
            providers.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
            ids
        );
        let [microsoft, contoso, facebook, vipps, google, oidc] = providers[..] else {
            panic!("six providers expected");
        };
        assert_eq!(microsoft.kind, ProviderKind::Microsoft);
        assert_eq!(microsoft.display_name, "Microsoft");
        assert_eq!(microsoft.tenant.as_deref(), Some("common"));
        assert_eq!(
            microsoft.issuer.as_deref(),
            Some("https://login.microsoftonline.com/common/v2.0")
        );
        assert_eq!(microsoft.client_secret.as_ref().unwrap().expose(), "ms");
        assert_eq!(
            contoso.issuer.as_deref(),
            Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0")
        );
        assert_eq!(facebook.issuer, None);
        assert_eq!(
            facebook.endpoints.authorization.as_deref(),
            Some("https://www.facebook.com/v21.0/dialog/oauth")
        );
        assert_eq!(
            facebook.endpoints.token.as_deref(),
            Some("https://graph.facebook.com/v21.0/oauth/access_token")
        );
        assert_eq!(
            facebook.endpoints.userinfo.as_deref(),
            Some("https://graph.example/me")
        );
        assert_eq!(
            vipps.issuer.as_deref(),
            Some("https://api.vipps.no/access-management-1.0/access/")
        );
        assert_eq!(vipps.display_name, "Vipps");
        assert_eq!(
            google.issuer.as_deref(),
            Some("https://accounts.google.com")
        );
        assert_eq!(oidc.display_name, "login.example.org");
        assert_eq!(
            oidc.issuer.as_deref(),
            Some("https://login.example.org/realms/main")
        );
        assert!(oidc.auto_create);

        // The other region's data plane holds none of them.
        let other = pushed_api(&stack, "us", "other").await;
        assert!(other.providers.is_empty());
        let us_snapshot = serde_json::to_string(&snapshot(&stack, "us").await).unwrap();
        for id in &ids {
            assert!(!us_snapshot.contains(id.as_str()), "{id} pushed to us");
        }

        // A change and a removal arrive within a second too.
        let path = format!("/v1/apis/shop/providers/{}", ids[0]);
        stack
            .admin_request(Method::PATCH, &path, Some(json!({ "tenant": "consumers" })))
            .await;
        stack
            .admin_request(
                Method::DELETE,
                &format!("/v1/apis/shop/providers/{}", ids[1]),
                None,
            )
            .await;
        stack.wait_for_push(&eu).await;
        let shop = pushed_api(&stack, "eu", "shop").await;
        assert_eq!(shop.providers.len(), 5);
        assert_eq!(
            shop.providers[0].issuer.as_deref(),
            Some("https://login.microsoftonline.com/consumers/v2.0")
        );

        // Deleting the API deletes its providers.
        let (status, _) = stack
            .admin_request(Method::DELETE, "/v1/apis/shop", None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM identity_providers")
            .fetch_one(stack.control.store().pool())
            .await
            .unwrap();
        assert_eq!(left, 0);
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

/// POSTs a provider to `shop` and expects a 400 whose message names `field`.
async fn assert_refused(stack: &Stack, body: Value, field: &str) {
    let (status, answer) = stack
        .admin_request(Method::POST, "/v1/apis/shop/providers", Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains(field), "{field}: {message}");
    assert!(
        ["invalid_field", "invalid_body"].contains(&answer["error"].as_str().unwrap()),
        "{answer}"
    );
}

/// The snapshot a data plane of `region` would be sent now.
async fn snapshot(stack: &Stack, region: &str) -> restapi_shared::push::RegionSnapshot {
    let (_, region) = stack
        .admin_request(Method::GET, &format!("/v1/regions/{region}"), None)
        .await;
    stack
        .control
        .store()
        .snapshot(region["id"].as_str().unwrap())
        .await
        .unwrap()
}

pub async fn pushed_api(stack: &Stack, region: &str, api: &str) -> ApiConfig {
    snapshot(stack, region)
        .await
        .apis
        .into_iter()
        .find(|config| config.name == api)
        .unwrap_or_else(|| panic!("API {api} not in the snapshot of {region}"))
}

async fn pushed_provider(stack: &Stack, region: &str, api: &str, id: &str) -> ProviderConfig {
    pushed_api(stack, region, api)
        .await
        .providers
        .into_iter()
        .find(|provider| provider.id == id)
        .unwrap_or_else(|| panic!("provider {id} not pushed"))
}

fn assert_no_secret(answer: &Value, secret: &str) {
    let text = answer.to_string();
    assert!(!text.contains(secret), "secret in answer: {text}");
    assert!(answer.get("clientSecret").is_none() && answer.get("privateKey").is_none());
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
