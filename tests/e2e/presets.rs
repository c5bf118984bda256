//! The identity provider presets of the hosted login, each signing in for real against a local
//! stand-in that speaks its provider's protocol (`support/presets.rs`), through both planes on
//! every backend under test, with each provider's peculiarity checked:
//! Microsoft's multi-tenant issuer and tenant restriction, Apple's `form_post` answer, minted
//! client secret and once-only name, Facebook's Graph `/me` with `appsecret_proof`, and Vipps'
//! identity from userinfo.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::support::db::test_databases;
use crate::support::presets::{
    AppleKey, Browser, Client, Landing, MICROSOFT_CONSUMERS_TENANT, Person, Provider, StandIn,
};
use crate::support::stack::{APP_DOMAIN, DataPlaneHandle, Stack};

const API: &str = "shop";
const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const FABRIKAM: &str = "2e1f4a5c-0d3b-4f6a-9c8e-7b6a5d4c3b2a";
/// The name of the access cookie on the plain-HTTP app host.
const ACCESS_COOKIE: &str = "restapi-access";

/// A control plane, a data plane for `eu`, and API `shop` in it.
async fn shop(stack: &Stack) -> DataPlaneHandle {
    let plane = stack.region_with_data_plane("eu").await;
    stack
        .create(
            "/v1/apis",
            json!({ "name": API, "region": "eu", "description": "presets",
                    "roles": ["reader"], "defaultRoles": ["reader"] }),
        )
        .await;
    plane
}

/// Adds a provider to `shop`, waits until the data plane has it, and returns its id.
async fn add_provider(stack: &Stack, plane: &DataPlaneHandle, body: Value) -> String {
    let provider = stack
        .create(&format!("/v1/apis/{API}/providers"), body)
        .await;
    stack.wait_for_push(plane).await;
    provider["id"].as_str().expect("provider id").to_owned()
}

fn browser(plane: &DataPlaneHandle) -> Browser {
    let hosts = plane.hosts(API);
    Browser::new(plane.client(&[&hosts[0], &hosts[1]]))
}

fn start_url(plane: &DataPlaneHandle, provider_id: &str) -> String {
    let port = plane.addr.port();
    format!("http://{API}.{APP_DOMAIN}:{port}/login/start/{provider_id}")
}

fn app_host() -> String {
    format!("{API}.{APP_DOMAIN}")
}

/// Asserts the sign-in went through and returns the access token's claims.
fn signed_in(browser: &Browser, landing: &Landing) -> Value {
    assert_eq!(
        landing.status,
        StatusCode::SEE_OTHER,
        "sign-in refused: {}",
        landing.body
    );
    // No `?redirect=` was given: the browser returns to the app's root.
    assert_eq!(landing.location.as_deref(), Some("/"));
    let token = browser
        .cookie(&app_host(), ACCESS_COOKIE)
        .expect("access cookie after sign-in");
    let payload = token.split('.').nth(1).expect("JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("claims")
}

/// Asserts the sign-in was refused with the page about an answer that did not verify.
fn refused(landing: &Landing) {
    assert_eq!(landing.status, StatusCode::BAD_REQUEST, "{}", landing.body);
    assert!(
        landing.body.contains("could not be verified"),
        "{}",
        landing.body
    );
}

/// The users of `shop`, as the admin API lists them.
async fn users(stack: &Stack) -> Vec<Value> {
    let (status, page) = stack
        .admin_request(Method::GET, &format!("/v1/apis/{API}/users"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().expect("items").clone()
}

/// The identities of user `id`.
async fn identities(stack: &Stack, id: &str) -> Vec<Value> {
    let path = format!("/v1/apis/{API}/users/{id}/identities");
    let (status, body) = stack.admin_request(Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .or_else(|| body["items"].as_array())
        .expect("identities")
        .clone()
}

fn microsoft_person(tid: &str, oid: &str, username: &str, name: &str) -> Person {
    let mut claims = Map::new();
    claims.insert("tid".into(), tid.into());
    claims.insert("oid".into(), oid.into());
    claims.insert("preferred_username".into(), username.into());
    Person {
        subject: format!("pairwise-{oid}"),
        name: Some(name.to_owned()),
        claims,
        ..Person::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_multi_tenant_accepts_each_tenant_only_with_its_own_issuer() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = shop(&stack).await;
        let microsoft = StandIn::start(Provider::Microsoft, stack.clock.clone()).await;
        microsoft.register(
            "ms-app",
            Client {
                secret: Some("ms-secret".into()),
                ..Client::default()
            },
        );
        let common = add_provider(
            &stack,
            &plane,
            json!({ "kind": "microsoft", "clientId": "ms-app", "clientSecret": "ms-secret",
                    "tenant": "common", "issuer": microsoft.microsoft_issuer("common"),
                    "autoCreate": true }),
        )
        .await;

        // Work accounts of two tenants: each token's issuer names its own tenant.
        let ada_oid = "00000000-0000-0000-0000-00000000ada1";
        microsoft.sign_in_as(microsoft_person(CONTOSO, ada_oid, "ada@contoso.com", "Ada"));
        let browser = browser(&plane);
        let claims = signed_in(
            &browser,
            &browser.sign_in(&start_url(&plane, &common)).await,
        );
        assert_eq!(claims["name"], "Ada", "{}: {claims}", database.backend);

        let bob_oid = "00000000-0000-0000-0000-000000000b0b";
        microsoft.sign_in_as(microsoft_person(FABRIKAM, bob_oid, "+4791234567", "Bob"));
        let browser = crate::presets::browser(&plane);
        signed_in(
            &browser,
            &browser.sign_in(&start_url(&plane, &common)).await,
        );

        // The subject is tenant and object id, not the pairwise `sub`; a phone number is no
        // email address.
        let users = users(&stack).await;
        let ada = users
            .iter()
            .find(|user| user["name"] == "Ada")
            .expect("Ada");
        let bob = users
            .iter()
            .find(|user| user["name"] == "Bob")
            .expect("Bob");
        let ada_identities = identities(&stack, ada["id"].as_str().unwrap()).await;
        assert_eq!(ada_identities[0]["authority"], "microsoft");
        assert_eq!(ada_identities[0]["subject"], format!("{CONTOSO}:{ada_oid}"));
        assert_eq!(ada["email"], "ada@contoso.com");
        assert_eq!(bob["email"], Value::Null);

        // A token of Contoso claiming Fabrikam's issuer is refused.
        let mut forged = microsoft_person(CONTOSO, ada_oid, "ada@contoso.com", "Ada");
        let fabrikam_issuer = format!("{}/{FABRIKAM}/v2.0", microsoft.base);
        forged.claims.insert("iss".into(), fabrikam_issuer.into());
        microsoft.sign_in_as(forged);
        let browser = crate::presets::browser(&plane);
        refused(&browser.sign_in(&start_url(&plane, &common)).await);
        assert!(browser.cookie(&app_host(), ACCESS_COOKIE).is_none());

        // `organizations` takes work accounts and refuses personal ones.
        let organizations = add_provider(
            &stack,
            &plane,
            json!({ "kind": "microsoft", "clientId": "ms-app", "clientSecret": "ms-secret",
                    "tenant": "organizations",
                    "issuer": microsoft.microsoft_issuer("organizations"), "autoCreate": true }),
        )
        .await;
        let personal_oid = "00000000-0000-0000-0000-0000000c0c0c";
        microsoft.sign_in_as(microsoft_person(
            MICROSOFT_CONSUMERS_TENANT,
            personal_oid,
            "carol@outlook.com",
            "Carol",
        ));
        let browser = crate::presets::browser(&plane);
        refused(&browser.sign_in(&start_url(&plane, &organizations)).await);
        microsoft.sign_in_as(microsoft_person(
            FABRIKAM,
            bob_oid,
            "bob@fabrikam.com",
            "Bob",
        ));
        signed_in(
            &browser,
            &browser.sign_in(&start_url(&plane, &organizations)).await,
        );

        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_single_tenant_refuses_accounts_of_other_tenants() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = shop(&stack).await;
        let microsoft = StandIn::start(Provider::Microsoft, stack.clock.clone()).await;
        microsoft.register(
            "ms-app",
            Client {
                secret: Some("ms-secret".into()),
                ..Client::default()
            },
        );
        let contoso_only = add_provider(
            &stack,
            &plane,
            json!({ "kind": "microsoft", "clientId": "ms-app", "clientSecret": "ms-secret",
                    "tenant": CONTOSO, "issuer": microsoft.microsoft_issuer(CONTOSO),
                    "autoCreate": true }),
        )
        .await;

        let oid = "00000000-0000-0000-0000-00000000ada1";
        microsoft.sign_in_as(microsoft_person(CONTOSO, oid, "ada@contoso.com", "Ada"));
        let browser = browser(&plane);
        signed_in(
            &browser,
            &browser.sign_in(&start_url(&plane, &contoso_only)).await,
        );

        // A Fabrikam account, with a token whose signature and issuer are Fabrikam's own.
        let other = "00000000-0000-0000-0000-000000000b0b";
        microsoft.sign_in_as(microsoft_person(FABRIKAM, other, "bob@fabrikam.com", "Bob"));
        let browser = crate::presets::browser(&plane);
        refused(&browser.sign_in(&start_url(&plane, &contoso_only)).await);
        let names: Vec<Value> = users(&stack)
            .await
            .iter()
            .map(|user| user["name"].clone())
            .collect();
        assert_eq!(names, vec![json!("Ada")], "{}", database.backend);

        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apple_posts_back_takes_a_minted_secret_and_gives_the_name_once() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = shop(&stack).await;
        let apple = StandIn::start(Provider::Apple, stack.clock.clone()).await;
        let (key, pem) = AppleKey::generate("TEAM123456", "KEY1234567");
        apple.register(
            "com.example.shop",
            Client {
                apple_key: Some(key),
                ..Client::default()
            },
        );
        let provider = add_provider(
            &stack,
            &plane,
            json!({ "kind": "apple", "clientId": "com.example.shop", "teamId": "TEAM123456",
                    "keyId": "KEY1234567", "privateKey": pem, "issuer": apple.base,
                    "autoCreate": true }),
        )
        .await;

        let person = Person {
            subject: "001234.5f0d3b2a9c8e7b6a.1234".into(),
            name: Some("Ada Lovelace".into()),
            email: Some("ada@privaterelay.appleid.com".into()),
            email_verified: true,
            ..Person::default()
        };
        apple.sign_in_as(person);
        let browser = browser(&plane);
        let landing = browser.sign_in(&start_url(&plane, &provider)).await;
        assert!(landing.posted, "Apple's answer must arrive as a form POST");
        let claims = signed_in(&browser, &landing);
        assert_eq!(
            claims["name"], "Ada Lovelace",
            "{}: {claims}",
            database.backend
        );
        assert_eq!(claims["email"], "ada@privaterelay.appleid.com");

        // The authorization asked for the form POST, and the token endpoint got a client secret
        // that verified against the key: our team, our Services ID, Apple's audience.
        let seen = apple.seen();
        assert_eq!(seen.authorizations[0]["response_mode"], "form_post");
        assert_eq!(seen.apple_user_fields, 1);
        assert_eq!(seen.apple_client_secrets.len(), 1);
        let secret = &seen.apple_client_secrets[0];
        assert_eq!(secret["iss"], "TEAM123456");
        assert_eq!(secret["sub"], "com.example.shop");
        assert_eq!(secret["aud"], apple.base.as_str());

        // The second sign-in carries no name; the user keeps the first one. The client secret
        // minted the first time is presented again.
        browser.clear_cookies();
        let landing = browser.sign_in(&start_url(&plane, &provider)).await;
        let claims = signed_in(&browser, &landing);
        assert_eq!(claims["name"], "Ada Lovelace");
        let seen = apple.seen();
        assert_eq!(seen.apple_user_fields, 1, "Apple sends the name only once");
        assert_eq!(seen.apple_client_secrets[1], seen.apple_client_secrets[0]);
        let users = users(&stack).await;
        assert_eq!(users.len(), 1);
        assert_eq!(users[0]["name"], "Ada Lovelace");

        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_reads_graph_me_with_appsecret_proof_and_refuses_a_wrong_app_secret() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = shop(&stack).await;
        let facebook = StandIn::start(Provider::Facebook, stack.clock.clone()).await;
        facebook.register(
            "fb-app",
            Client {
                secret: Some("fb-app-secret".into()),
                ..Client::default()
            },
        );
        let provider = add_provider(
            &stack,
            &plane,
            json!({ "kind": "facebook", "clientId": "fb-app", "clientSecret": "fb-app-secret",
                    "endpoints": facebook.facebook_endpoints(), "autoCreate": true }),
        )
        .await;

        facebook.sign_in_as(Person {
            subject: "10158000000000001".into(),
            name: Some("Ada Lovelace".into()),
            email: Some("ada@example.com".into()),
            email_verified: true,
            ..Person::default()
        });
        let browser = browser(&plane);
        let claims = signed_in(
            &browser,
            &browser.sign_in(&start_url(&plane, &provider)).await,
        );
        assert_eq!(
            claims["name"], "Ada Lovelace",
            "{}: {claims}",
            database.backend
        );
        assert_eq!(claims["email"], "ada@example.com");

        // `/me` was asked for exactly the fields a sign-in reads, with a valid proof (the
        // stand-in answers only then).
        let seen = facebook.seen();
        assert_eq!(seen.me_requests.len(), 1);
        assert_eq!(seen.me_requests[0]["fields"], "id,name,email");
        assert_eq!(seen.me_requests[0]["appsecret_proof"].len(), 64);
        let users = users(&stack).await;
        let identities = identities(&stack, users[0]["id"].as_str().unwrap()).await;
        assert_eq!(identities[0]["subject"], "10158000000000001");

        // With a wrong app secret Facebook refuses the code; no profile is read.
        let (status, body) = stack
            .admin_request(
                Method::PATCH,
                &format!("/v1/apis/{API}/providers/{provider}"),
                Some(json!({ "clientSecret": "not-the-app-secret" })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        stack.wait_for_push(&plane).await;
        let browser = crate::presets::browser(&plane);
        let landing = browser.sign_in(&start_url(&plane, &provider)).await;
        refused(&landing);
        assert_eq!(facebook.seen().me_requests.len(), 1);

        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vipps_takes_name_and_email_from_userinfo() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = shop(&stack).await;
        let vipps = StandIn::start(Provider::Vipps, stack.clock.clone()).await;
        vipps.register(
            "vipps-client",
            Client {
                secret: Some("vipps-secret".into()),
                ..Client::default()
            },
        );
        let provider = add_provider(
            &stack,
            &plane,
            json!({ "kind": "vipps", "clientId": "vipps-client", "clientSecret": "vipps-secret",
                    "issuer": vipps.vipps_issuer(), "autoCreate": true }),
        )
        .await;

        vipps.sign_in_as(Person {
            subject: "c06c4afe-d9e1-4c5d-939a-177d752a0944".into(),
            name: Some("Kari Nordmann".into()),
            email: Some("kari@example.no".into()),
            email_verified: true,
            ..Person::default()
        });
        let browser = browser(&plane);
        let claims = signed_in(
            &browser,
            &browser.sign_in(&start_url(&plane, &provider)).await,
        );
        assert_eq!(
            claims["name"], "Kari Nordmann",
            "{}: {claims}",
            database.backend
        );
        assert_eq!(claims["email"], "kari@example.no");

        // Vipps' scopes were asked for (it has no `profile`), and userinfo was read once.
        let seen = vipps.seen();
        let scopes: Vec<&str> = seen.authorizations[0]["scope"].split(' ').collect();
        assert!(
            scopes.contains(&"name") && scopes.contains(&"email"),
            "{scopes:?}"
        );
        assert!(!scopes.contains(&"profile"), "{scopes:?}");
        assert_eq!(seen.userinfo_requests, 1);

        database.drop_database().await;
    }
}
