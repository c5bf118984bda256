//! Passkeys on the hosted login, through both planes on every backend under test, with
//! webauthn-rs' software authenticator playing the person's device (`support::passkeys`).
//!
//! Every refusal must be a stable JSON error that stores nothing and sets no session.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webauthn_rs::prelude::Url;

use crate::support::db::test_databases;
use crate::support::hosted::{ACCESS_COOKIE, API, REFRESH_COOKIE, Setup, person, signed_in};
use crate::support::passkeys::{Device, OTHER_API, PASSKEY_COOKIE, PasskeyStack, Tab};
use crate::support::stack::APP_DOMAIN;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_up_signs_in_and_removes_passkeys_on_the_page_and_through_the_admin_api() {
    for database in test_databases().await {
        let setup = PasskeyStack::start(&database).await;
        let backend = database.backend;
        let mut device = Device::new();

        // The login page offers the button, the autofill field and the sign-up form.
        let mut tab = setup.tab();
        let page = tab.send(Method::GET, "", None, "").await;
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .expect("CSP")
            .to_owned();
        let html = page.text().await.expect("page");
        assert!(html.contains("Sign in with a passkey"), "{html}");
        assert!(
            html.contains("autocomplete=\"username webauthn\""),
            "{html}"
        );
        assert!(html.contains("Create an account with a passkey"), "{html}");
        assert!(csp.contains("script-src 'nonce-"), "{csp}");

        // Sign-up: a user with the API's default roles, signed in with the usual cookies.
        let (status, answer) = tab
            .sign_up(&mut device, "Ada Lovelace", "ada@example.com")
            .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {answer}");
        assert_eq!(answer["redirect"], "/");
        assert!(tab.cookie(REFRESH_COOKIE).is_some());
        assert!(
            tab.cookie(PASSKEY_COOKIE).is_none(),
            "the ceremony cookie is spent"
        );
        let claims = tab.claims();
        assert_eq!(claims["name"], "Ada Lovelace");
        assert_eq!(claims["email"], "ada@example.com");
        assert_eq!(claims["roles"], json!(["reader"]));
        let user_id = claims["sub"].as_str().expect("sub").to_owned();
        assert_eq!(setup.users(API).await.len(), 1);
        assert_eq!(setup.users(OTHER_API).await.len(), 0);

        // Sign-in in a fresh browser, without a user name: the same user.
        let credential_id = device.last_credential();
        let mut later = setup.tab();
        let (status, answer) = later.sign_in(&mut device, &credential_id).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {answer}");
        assert_eq!(later.claims()["sub"], user_id.as_str());
        assert_eq!(setup.users(API).await.len(), 1, "a sign-in creates nobody");

        // The operator sees the passkey, its use and flags, never its key.
        let listed = setup.passkeys(&user_id).await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(listed[0]["lastUsedAt"].is_string(), "{listed:?}");
        assert!(listed[0].get("credential").is_none(), "{listed:?}");
        let passkey_id = listed[0]["id"].as_str().expect("id").to_owned();
        let identities_path = format!("/v1/apis/{API}/users/{user_id}/identities");
        let (_, identities) = setup
            .stack
            .admin_request(Method::GET, &identities_path, None)
            .await;
        assert_eq!(identities[0]["authority"], "passkey", "{identities}");

        // The person sees it on the hosted page.
        let (status, html) = later.passkeys_page().await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains(&passkey_id), "{html}");

        // It is her only way in: the page keeps it rather than lock her out.
        let response = later
            .send(
                Method::POST,
                "/passkeys/remove",
                Some(format!("passkey={passkey_id}")),
                "application/x-www-form-urlencoded",
            )
            .await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        let html = response.text().await.expect("page");
        assert!(html.contains("your only way to sign in"), "{html}");
        assert_eq!(setup.passkeys(&user_id).await.len(), 1);

        // The operator removes it: it signs in no more, and no session is set.
        let path = format!("/v1/apis/{API}/users/{user_id}/passkeys/{passkey_id}");
        let (status, body) = setup.stack.admin_request(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let (status, body) = setup.stack.admin_request(Method::DELETE, &path, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
        let mut removed = setup.tab();
        let (status, answer) = removed.sign_in(&mut device, &credential_id).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unknown_passkey")),
            "{answer}"
        );
        assert!(removed.cookie(ACCESS_COOKIE).is_none());
        assert!(setup.passkeys(&user_id).await.is_empty());

        // On the regional host the relying party is that host, and the session the API's
        // cookies under `/<api>`.
        let mut regional = Tab::regional(&setup.plane, API);
        let (status, options) = regional
            .post("/passkey/sign-up/options", &json!({ "name": "Lin" }))
            .await;
        assert_eq!(status, StatusCode::OK, "{options}");
        assert_eq!(
            options["publicKey"]["rp"]["id"],
            setup.plane.region_host.as_str()
        );
        let credential = device.create(&regional.origin, &options);
        let (status, answer) = regional.post("/passkey/sign-up", &credential).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["redirect"], format!("/{API}/"));
        assert_eq!(regional.claims()["name"], "Lin");
        assert_eq!(setup.users(API).await.len(), 2);

        // Unknown users and APIs are the admin API's usual JSON errors.
        let path = format!("/v1/apis/{API}/users/usr_nobody/passkeys");
        let (status, body) = setup.stack.admin_request(Method::GET, &path, None).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_user_adds_a_passkey_after_a_recent_sign_in_and_removes_it_on_the_page() {
    for database in test_databases().await {
        let setup = Setup::start(&database).await;
        let backend = database.backend;
        let providers = format!("/v1/apis/{API}/providers");
        setup
            .stack
            .create(
                &providers,
                json!({ "kind": "passkey", "autoCreate": false }),
            )
            .await;
        setup.stack.wait_for_push(&setup.plane).await;

        // Ada signs in with Vipps: an existing account, no passkey yet.
        setup
            .vipps
            .sign_in_as(person("vipps-ada", "Ada", "ada@example.com"));
        let browser = setup.browser();
        let landing = browser.sign_in(&setup.start_url(&setup.open)).await;
        let user_id = signed_in(&browser, &landing)["sub"]
            .as_str()
            .expect("sub")
            .to_owned();
        let host = format!("{API}.{APP_DOMAIN}");
        let mut tab = Tab::new(&setup.plane, API);
        for name in [ACCESS_COOKIE, REFRESH_COOKIE] {
            let value = browser.cookie(&host, name).expect("session cookie");
            tab.cookies.insert(name.to_owned(), value);
        }

        // The provider creates no users: no sign-up form, and the endpoint refuses.
        let html = tab
            .send(Method::GET, "", None, "")
            .await
            .text()
            .await
            .expect("page");
        assert!(html.contains("Sign in with a passkey"), "{html}");
        assert!(!html.contains("Create an account with a passkey"), "{html}");

        // Within minutes of the sign-in she adds a passkey on her page.
        let (status, html) = tab.passkeys_page().await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("id=\"passkey-add\""), "{html}");
        let mut device = Device::new();
        let (status, options) = tab.post("/passkeys/add/options", &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {options}");
        let credential = device.create(&tab.origin, &options);
        let (status, added) = tab.post("/passkeys/add", &credential).await;
        assert_eq!(status, StatusCode::OK, "{backend}: {added}");
        let passkey_id = added["id"].as_str().expect("passkey id").to_owned();

        // It signs her in, to her own account, and the API takes the cookies.
        let credential_id = device.last_credential();
        let mut later = Tab::new(&setup.plane, API);
        let (status, answer) = later.sign_in(&mut device, &credential_id).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(later.claims()["sub"], user_id.as_str());
        assert_ne!(later.call_api("/_userinfo").await, StatusCode::UNAUTHORIZED);
        assert_eq!(setup.users().await.len(), 1);

        // Minutes later, even with a refreshed cookie, adding another needs a new sign-in.
        setup.stack.clock.advance(301);
        let refreshed = tab
            .http
            .post(format!("{}/api/_refresh", tab.origin))
            .header(ORIGIN, &tab.origin)
            .header(COOKIE, tab.cookie_header())
            .send()
            .await
            .expect("refresh");
        assert_eq!(refreshed.status(), StatusCode::NO_CONTENT);
        for value in refreshed.headers().get_all(SET_COOKIE) {
            let text = value.to_str().expect("cookie");
            let (pair, _) = text.split_once(';').expect("attributes");
            let (name, value) = pair.split_once('=').expect("pair");
            if name == ACCESS_COOKIE {
                tab.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let (status, answer) = tab.post("/passkeys/add/options", &json!({})).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("reauthentication_required")),
            "{answer}"
        );
        let (_, html) = tab.passkeys_page().await;
        assert!(html.contains("passkey-reauthenticate"), "{html}");

        // She removes the passkey on her page; it signs in no more.
        let response = tab
            .send(
                Method::POST,
                "/passkeys/remove",
                Some(format!("passkey={passkey_id}")),
                "application/x-www-form-urlencoded",
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let (_, html) = tab.passkeys_page().await;
        assert!(html.contains("You have no passkey yet"), "{html}");
        let mut after = Tab::new(&setup.plane, API);
        let (status, answer) = after.sign_in(&mut device, &credential_id).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unknown_passkey"))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_passkey_input_is_refused_with_a_clear_error_and_stores_nothing() {
    for database in test_databases().await {
        let setup = PasskeyStack::start(&database).await;
        let backend = database.backend;
        let mut device = Device::new();
        let mut tab = setup.tab();
        let (status, answer) = tab.sign_up(&mut device, "Bob", "bob@example.com").await;
        assert_eq!(status, StatusCode::OK, "{backend}: {answer}");
        let user_id = tab.claims()["sub"].as_str().expect("sub").to_owned();
        let credential_id = device.last_credential();
        let refused = |tab: &Tab, answer: &Value, status: StatusCode, code: &str| {
            assert_eq!(answer["error"].as_str(), Some(code), "{backend}: {answer}");
            assert_eq!(
                answer["message"].as_str().map(str::is_empty),
                Some(false),
                "a readable message: {answer}"
            );
            let _ = status;
            assert!(
                tab.cookie(ACCESS_COOKIE).is_none(),
                "no session after {code}"
            );
        };

        // A replayed assertion, with its cookie: the challenge is spent.
        let mut first = setup.tab();
        let (_, options) = first.post("/passkey/sign-in/options", &json!({})).await;
        let ceremony = first
            .cookie(PASSKEY_COOKIE)
            .expect("ceremony cookie")
            .clone();
        let assertion = device.get(&first.origin, &options, &credential_id);
        let (status, _) = first.post("/passkey/sign-in", &assertion).await;
        assert_eq!(status, StatusCode::OK);
        let mut replay = setup.tab();
        replay.cookies.insert(PASSKEY_COOKIE.to_owned(), ceremony);
        let (status, answer) = replay.post("/passkey/sign-in", &assertion).await;
        // This authenticator counts its signatures, so the counter refuses the replay before
        // the control plane sees it; for one that does not (synced passkeys send 0), the spent
        // challenge does (the store test covers that record).
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        refused(&replay, &answer, status, "passkey_refused");
        // The same assertion against a fresh challenge does not answer it.
        let mut fresh = setup.tab();
        fresh.post("/passkey/sign-in/options", &json!({})).await;
        let (status, answer) = fresh.post("/passkey/sign-in", &assertion).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        refused(&fresh, &answer, status, "challenge_invalid");

        // A wrong origin: the browser ran another site's page.
        let mut wrong_origin = setup.tab();
        let (_, options) = wrong_origin
            .post("/passkey/sign-in/options", &json!({}))
            .await;
        let port = setup.plane.addr.port();
        let evil = format!("http://evil.{APP_DOMAIN}:{port}");
        let assertion = device.get(&evil, &options, &credential_id);
        let (status, answer) = wrong_origin.post("/passkey/sign-in", &assertion).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        refused(&wrong_origin, &answer, status, "origin_mismatch");

        // A wrong relying party id: signed for the parent domain.
        let mut wrong_rp = setup.tab();
        let (_, mut options) = wrong_rp.post("/passkey/sign-in/options", &json!({})).await;
        options["publicKey"]["rpId"] = json!(APP_DOMAIN);
        let assertion = device.get(&wrong_rp.origin, &options, &credential_id);
        let (status, answer) = wrong_rp.post("/passkey/sign-in", &assertion).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        refused(&wrong_rp, &answer, status, "relying_party_mismatch");

        // A ceremony started on the app host does not finish on the regional host: the
        // relying party is the host, and the regional one is another.
        let mut app = setup.tab();
        let (_, options) = app.post("/passkey/sign-in/options", &json!({})).await;
        let ceremony = app.cookie(PASSKEY_COOKIE).expect("ceremony cookie").clone();
        let assertion = device.get(&app.origin, &options, &credential_id);
        let region_host = &setup.plane.region_host;
        let regional = format!("http://{region_host}:{port}");
        let response = setup
            .plane
            .client(&[region_host])
            .post(format!("{regional}/{API}/login/passkey/sign-in"))
            .header(ORIGIN, &regional)
            .header(COOKIE, format!("{PASSKEY_COOKIE}={ceremony}"))
            .header(CONTENT_TYPE, "application/json")
            .body(assertion.to_string())
            .send()
            .await
            .expect("regional sign-in");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let answer: Value = response.json().await.expect("JSON error");
        assert_eq!(answer["error"], "relying_party_mismatch", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|message| message.contains(region_host.as_str())),
            "{answer}"
        );

        // A stale challenge cookie, a missing one and a forged one.
        let mut stale = setup.tab();
        let (_, options) = stale.post("/passkey/sign-in/options", &json!({})).await;
        let assertion = device.get(&stale.origin, &options, &credential_id);
        setup.stack.clock.advance(301);
        let (status, answer) = stale.post("/passkey/sign-in", &assertion).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        refused(&stale, &answer, status, "challenge_expired");
        let mut missing = setup.tab();
        let (status, answer) = missing.post("/passkey/sign-in", &assertion).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        refused(&missing, &answer, status, "challenge_missing");
        missing
            .cookies
            .insert(PASSKEY_COOKIE.to_owned(), "forged".to_owned());
        let (status, answer) = missing.post("/passkey/sign-in", &assertion).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        refused(&missing, &answer, status, "challenge_invalid");

        // A credential of another API: `mall` knows nothing of `shop`'s passkeys.
        let mut mall = Tab::new(&setup.plane, OTHER_API);
        let (status, answer) = mall.sign_in(&mut device, &credential_id).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        refused(&mall, &answer, status, "unknown_passkey");
        assert!(setup.users(OTHER_API).await.is_empty());

        // Malformed bodies and a cross-site request.
        let mut garbage = setup.tab();
        garbage.post("/passkey/sign-in/options", &json!({})).await;
        let (status, answer) = garbage.post("/passkey/sign-in", &json!({ "id": 1 })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        refused(&garbage, &answer, status, "invalid_request");
        let (status, answer) = garbage
            .post("/passkey/sign-up/options", &json!({ "name": "" }))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        refused(&garbage, &answer, status, "invalid_request");
        let response = setup
            .tab()
            .http
            .post(format!(
                "http://{API}.{APP_DOMAIN}:{port}/login/passkey/sign-in/options"
            ))
            .header(ORIGIN, "https://evil.example")
            .send()
            .await
            .expect("cross-site");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        // Adding a passkey without a session.
        let mut anonymous = setup.tab();
        let (status, answer) = anonymous.post("/passkeys/add/options", &json!({})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        refused(&anonymous, &answer, status, "unauthorized");

        // A disabled user: the verified passkey does not sign in.
        let path = format!("/v1/apis/{API}/users/{user_id}");
        let (status, body) = setup
            .stack
            .admin_request(Method::PATCH, &path, Some(json!({ "disabled": true })))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut disabled = setup.tab();
        let (status, answer) = disabled.sign_in(&mut device, &credential_id).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        refused(&disabled, &answer, status, "user_disabled");

        // Sign-up where the provider creates no users.
        let providers = format!("/v1/apis/{OTHER_API}/providers");
        let (_, list) = setup
            .stack
            .admin_request(Method::GET, &providers, None)
            .await;
        let provider = list
            .as_array()
            .or_else(|| list["items"].as_array())
            .and_then(|items| items.first())
            .expect("mall's provider")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let (status, body) = setup
            .stack
            .admin_request(
                Method::PATCH,
                &format!("{providers}/{provider}"),
                Some(json!({ "autoCreate": false })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        setup.stack.wait_for_push(&setup.plane).await;
        let mut closed = Tab::new(&setup.plane, OTHER_API);
        let (status, answer) = closed
            .post("/passkey/sign-up/options", &json!({ "name": "Eve" }))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        refused(&closed, &answer, status, "not_registered");

        // Nothing was stored by any of it.
        assert_eq!(setup.users(API).await.len(), 1);
        assert!(setup.users(OTHER_API).await.is_empty());
        assert_eq!(setup.passkeys(&user_id).await.len(), 1);

        // A provider of kind passkey takes no client settings.
        let (status, body) = setup
            .stack
            .admin_request(
                Method::POST,
                &format!("/v1/apis/{API}/providers"),
                Some(json!({ "kind": "passkey", "clientId": "x" })),
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_field")),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_authorization_request_is_answered_with_a_code_after_a_passkey_sign_in() {
    // RFC 7636 Appendix B's verifier and its S256 challenge.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const REDIRECT_URI: &str = "http://127.0.0.1:53682/callback";
    for database in test_databases().await {
        let setup = PasskeyStack::start(&database).await;
        let backend = database.backend;
        let client = setup
            .stack
            .create(
                &format!("/v1/apis/{API}/clients"),
                json!({ "name": "Shop app", "redirectUris": ["http://127.0.0.1/callback"] }),
            )
            .await;
        setup.stack.wait_for_push(&setup.plane).await;
        let client_id = client["clientId"].as_str().expect("clientId");
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("state", "app-state-1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ])
        .expect("query");

        // The login page, as the app's authorization endpoint, offers passkeys with the request.
        let mut tab = setup.tab();
        let page = tab.send(Method::GET, &format!("?{query}"), None, "").await;
        let html = page.text().await.expect("page");
        assert!(html.contains("Sign in with a passkey"), "{html}");
        assert!(
            html.contains(client_id),
            "the page passes the request on: {html}"
        );

        // A person signs up there: the app gets a code at its redirect URI, the browser no
        // session.
        let mut device = Device::new();
        let (status, options) = tab
            .post(
                &format!("/passkey/sign-up/options?{query}"),
                &json!({ "name": "Grace", "email": "grace@example.com" }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {options}");
        let credential = device.create(&tab.origin, &options);
        let (status, answer) = tab
            .post(&format!("/passkey/sign-up?{query}"), &credential)
            .await;
        assert_eq!(status, StatusCode::OK, "{backend}: {answer}");
        assert!(
            tab.cookie(ACCESS_COOKIE).is_none(),
            "an app's sign-in sets no session"
        );
        let redirect = Url::parse(answer["redirect"].as_str().expect("redirect")).expect("URL");
        assert_eq!(
            redirect.as_str().split('?').next(),
            Some(REDIRECT_URI),
            "{redirect}"
        );
        let params: HashMap<String, String> = redirect.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "app-state-1");

        // The app redeems the code with its verifier: the new user's tokens.
        let token = tab
            .http
            .post(format!("{}/api/_token", tab.origin))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", params["code"].as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("client_id", client_id),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .expect("token");
        assert_eq!(token.status(), StatusCode::OK);
        let tokens: Value = token.json().await.expect("tokens");
        let access = tokens["access_token"].as_str().expect("access token");
        let payload = access.split('.').nth(1).expect("JWT");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
                .expect("claims");
        let users = setup.users(API).await;
        assert_eq!(users.len(), 1);
        assert_eq!(claims["sub"], users[0]["id"], "{claims}");
        assert_eq!(claims["name"], "Grace");

        // Signing in again with the passkey answers the app too.
        let mut again = setup.tab();
        let (_, options) = again
            .post(&format!("/passkey/sign-in/options?{query}"), &json!({}))
            .await;
        let assertion = device.get(&again.origin, &options, &device.last_credential());
        let (status, answer) = again
            .post(&format!("/passkey/sign-in?{query}"), &assertion)
            .await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert!(
            answer["redirect"]
                .as_str()
                .is_some_and(|redirect| redirect.starts_with(REDIRECT_URI)),
            "{answer}"
        );
        assert!(again.cookie(ACCESS_COOKIE).is_none());

        // A forged request (another redirect URI) is refused before any ceremony.
        let forged = query.replace("53682%2Fcallback", "53682%2Fother");
        let (status, answer) = again
            .post(&format!("/passkey/sign-in/options?{forged}"), &json!({}))
            .await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{answer}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_passkey_calls_answer_only_a_node_of_the_apis_region() {
    use restapi_shared::node::{
        INSTANCE_HEADER, PASSKEY_LIST_PATH, PASSKEY_LOOKUP_PATH, PASSKEY_REGISTER_PATH,
        PASSKEY_REMOVE_PATH, PASSKEY_SIGN_IN_PATH, REGION_HEADER,
    };

    for database in test_databases().await {
        let setup = PasskeyStack::start(&database).await;
        let stack = &setup.stack;
        stack
            .create("/v1/regions", json!({ "name": "no", "host": "no.test" }))
            .await;
        let (_, api) = stack
            .admin_request(Method::GET, &format!("/v1/apis/{API}"), None)
            .await;
        let api_id = api["id"].as_str().expect("api id");
        let token = |region: &str| {
            let region = region.to_owned();
            async move {
                let credential = stack
                    .create(
                        "/v1/node-credentials",
                        json!({ "region": region, "name": format!("{region}-passkeys") }),
                    )
                    .await;
                credential["token"].as_str().expect("token").to_owned()
            }
        };
        let (eu, no) = (token("eu").await, token("no").await);
        let call =
            |path: &'static str, region: &'static str, token: Option<String>, body: Value| {
                let url = format!("{}{path}", stack.control_url);
                async move {
                    let mut request = reqwest::Client::new()
                        .post(url)
                        .header(REGION_HEADER, region)
                        .header(INSTANCE_HEADER, "dp_passkey_test")
                        .json(&body);
                    if let Some(token) = token {
                        request = request.bearer_auth(token);
                    }
                    let response = request.send().await.expect("node call");
                    let status = response.status();
                    (
                        status,
                        response.json::<Value>().await.unwrap_or(Value::Null),
                    )
                }
            };
        let register = json!({
            "apiId": api_id,
            "owner": { "kind": "signUp", "name": "Ada", "autoCreate": true },
            "userHandle": "aGFuZGxl", "credentialId": "Y3JlZA", "credential": {},
            "name": "Passkey", "signCount": 0, "backupEligible": false, "backupState": false,
        });
        let bodies = [
            (PASSKEY_REGISTER_PATH, register.clone()),
            (
                PASSKEY_LOOKUP_PATH,
                json!({ "apiId": api_id, "credentialId": "Y3JlZA" }),
            ),
            (
                PASSKEY_SIGN_IN_PATH,
                json!({ "apiId": api_id, "passkeyId": "pk_x", "challengeId": "pkc_x",
                        "challengeExpiresAt": 0, "credential": {}, "signCount": 1,
                        "backupState": false }),
            ),
            (
                PASSKEY_LIST_PATH,
                json!({ "apiId": api_id, "userId": "usr_x" }),
            ),
            (
                PASSKEY_REMOVE_PATH,
                json!({ "apiId": api_id, "userId": "usr_x", "passkeyId": "pk_x" }),
            ),
        ];
        for (path, body) in &bodies {
            let (status, answer) = call(path, "eu", None, body.clone()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {answer}");
            let (status, answer) = call(path, "no", Some(no.clone()), body.clone()).await;
            assert_eq!(
                (status, answer["error"].as_str()),
                (StatusCode::FORBIDDEN, Some("wrong_region")),
                "{path}: {answer}"
            );
            let (status, answer) = call(path, "eu", Some(eu.clone()), json!({ "x": 1 })).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
        }
        assert!(setup.users(API).await.is_empty(), "nothing was registered");

        // A credential id that is not base64url is a field error; a good call registers.
        let mut bad = register.clone();
        bad["credentialId"] = json!("not base64url!");
        let (status, answer) = call(PASSKEY_REGISTER_PATH, "eu", Some(eu.clone()), bad).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_field")),
            "{answer}"
        );
        let (status, answer) = call(PASSKEY_REGISTER_PATH, "eu", Some(eu.clone()), register).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["outcome"], "registered", "{answer}");
        let lookup = json!({ "apiId": api_id, "credentialId": "Y3JlZA" });
        let (_, found) = call(PASSKEY_LOOKUP_PATH, "eu", Some(eu.clone()), lookup).await;
        assert_eq!(found["passkey"]["userId"], answer["user"]["id"], "{found}");
        database.drop_database().await;
    }
}
