//! The authorization code flow with PKCE of public clients, and each way of getting it wrong,
//! through both planes on every backend under test: the hosted login as the authorization
//! endpoint (a Vipps stand-in signs the person in) and `_token`, driven with raw requests so
//! that every parameter can be bent. The happy path with an independent library runs in a
//! real browser (`browser.rs`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{COOKIE, LOCATION};
use reqwest::{StatusCode, Url};
use ring::digest::{SHA256, digest};
use serde_json::{Value, json};

use crate::support::db::test_databases;
use crate::support::hosted::{API, LOGIN_COOKIE, Setup, location, person};

/// RFC 7636 Appendix B's verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// The app's loopback redirect URI as registered (no port) and as it asks (with one).
const REGISTERED: &str = "http://127.0.0.1/callback";
const REDIRECT_URI: &str = "http://127.0.0.1:53682/callback";

/// Registers a public client of `api` and answers its `clientId`.
async fn public_client(setup: &Setup, api: &str) -> String {
    let client = setup
        .stack
        .create(
            &format!("/v1/apis/{api}/clients"),
            json!({ "name": "Shop app", "redirectUris": [REGISTERED] }),
        )
        .await;
    setup.stack.wait_for_push(&setup.plane).await;
    client["clientId"].as_str().expect("clientId").to_owned()
}

/// The query of an authorization request of `client_id`, with `changes` over the defaults.
fn authorization_query(client_id: &str, changes: &[(&str, Option<&str>)]) -> String {
    let mut params = vec![
        ("response_type", Some("code")),
        ("client_id", Some(client_id)),
        ("redirect_uri", Some(REDIRECT_URI)),
        ("scope", Some("openid profile")),
        ("state", Some("app-state-1")),
        ("nonce", Some("app-nonce-1")),
        ("code_challenge", Some(CHALLENGE)),
        ("code_challenge_method", Some("S256")),
    ];
    for (name, value) in changes {
        match params.iter_mut().find(|(known, _)| known == name) {
            Some(param) => param.1 = *value,
            None => params.push((name, *value)),
        }
    }
    let present: Vec<(&str, &str)> = params
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| (name, value)))
        .collect();
    serde_urlencoded::to_string(present).expect("query")
}

/// Signs Bob in for `client_id` and answers the code the app receives.
async fn code_for(setup: &Setup, client_id: &str) -> String {
    setup
        .vipps
        .sign_in_as(person("vipps-bob", "Bob", "bob@example.com"));
    let start = format!(
        "{}?{}",
        setup.start_url(&setup.open),
        authorization_query(client_id, &[])
    );
    let (login_cookie, callback) = setup.until_callback_at(&start, "/").await;
    let answer = setup
        .http()
        .get(&callback)
        .header(COOKIE, format!("{LOGIN_COOKIE}={login_cookie}"))
        .send()
        .await
        .expect("callback");
    assert_eq!(answer.status(), StatusCode::FOUND);
    let back = Url::parse(&location(&answer)).expect("redirect to the app");
    assert!(back.as_str().starts_with(REDIRECT_URI), "{back}");
    let param = |name: &str| {
        back.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    assert_eq!(param("state").as_deref(), Some("app-state-1"));
    assert_eq!(param("iss"), Some(setup.app("/api")));
    param("code").expect("code")
}

/// `POST <api base>/_token` with a form.
async fn token(setup: &Setup, base: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = setup
        .http()
        .post(format!("{base}/_token"))
        .form(form)
        .send()
        .await
        .expect("token request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn exchange<'a>(client_id: &'a str, code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ]
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("claims")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_requests_are_checked_before_anyone_signs_in() {
    for database in test_databases().await {
        let setup = Setup::start(&database).await;
        let client_id = public_client(&setup, API).await;
        let http = setup.http();
        let login = setup.app("/login");

        // An unknown client or a redirect URI it did not register: a page, never a redirect.
        let page_cases = [
            authorization_query("app_unknown", &[]),
            authorization_query(
                &client_id,
                &[("redirect_uri", Some("https://evil.example/cb"))],
            ),
            authorization_query(&client_id, &[("redirect_uri", None)]),
            authorization_query(
                &client_id,
                &[("redirect_uri", Some("http://127.0.0.1:53682/other"))],
            ),
            format!("{}&state=again", authorization_query(&client_id, &[])),
        ];
        for query in page_cases {
            let answer = http.get(format!("{login}?{query}")).send().await.unwrap();
            assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{query}");
            assert!(answer.headers().get(LOCATION).is_none(), "{query}");
            let page = answer.text().await.unwrap();
            assert!(page.contains("<html"), "{query}: {page}");
        }

        // Everything else goes back to the app, with its state and the issuer.
        let long_nonce = "n".repeat(513);
        let redirect_cases = [
            (vec![("code_challenge", None)], "invalid_request"),
            (
                vec![("code_challenge_method", Some("plain"))],
                "invalid_request",
            ),
            (vec![("code_challenge_method", None)], "invalid_request"),
            (vec![("code_challenge", Some("short"))], "invalid_request"),
            (
                vec![("response_type", Some("token"))],
                "unsupported_response_type",
            ),
            (
                vec![("nonce", Some(long_nonce.as_str()))],
                "invalid_request",
            ),
        ];
        for (changes, error) in redirect_cases {
            let query = authorization_query(&client_id, &changes);
            for url in [
                format!("{login}?{query}"),
                format!("{}?{query}", setup.start_url(&setup.open)),
            ] {
                let answer = http.get(&url).send().await.unwrap();
                assert_eq!(answer.status(), StatusCode::FOUND, "{url}");
                let back = Url::parse(&location(&answer)).unwrap();
                assert!(back.as_str().starts_with(REDIRECT_URI), "{back}");
                let pairs: Vec<(String, String)> = back.query_pairs().into_owned().collect();
                assert!(
                    pairs.contains(&("error".into(), error.into())),
                    "{url}: {back}"
                );
                assert!(
                    pairs.contains(&("state".into(), "app-state-1".into())),
                    "{back}"
                );
            }
        }

        // A good request shows the login page, whose buttons carry the request on.
        let query = authorization_query(&client_id, &[]);
        let answer = http.get(format!("{login}?{query}")).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{}", database.backend);
        let page = answer.text().await.unwrap();
        assert!(page.contains("code_challenge_method=S256"), "{page}");
        assert!(setup.users().await.is_empty());

        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_is_exchanged_once_by_its_client_with_its_verifier_within_a_minute() {
    for database in test_databases().await {
        let setup = Setup::start(&database).await;
        let client_id = public_client(&setup, API).await;
        let other_client = public_client(&setup, API).await;
        let base = setup.app("/api");
        let backend = database.backend;

        // Each wrong exchange is invalid_grant and leaves the code usable.
        let code = code_for(&setup, &client_id).await;
        let wrong_verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl";
        let tampered = format!("{code}x");
        let wrong = [
            exchange(&client_id, &code, wrong_verifier),
            exchange(&client_id, &code, CHALLENGE),
            exchange(&other_client, &code, VERIFIER),
            exchange(&client_id, &tampered, VERIFIER),
            exchange(&client_id, &code, VERIFIER)
                .into_iter()
                .map(|(name, value)| match name {
                    "redirect_uri" => (name, "http://127.0.0.1:1/callback"),
                    _ => (name, value),
                })
                .collect(),
        ];
        for form in &wrong {
            let (status, answer) = token(&setup, &base, form).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{backend}: {form:?}");
            assert_eq!(answer["error"], "invalid_grant", "{form:?}: {answer}");
        }
        let without_verifier: Vec<_> = exchange(&client_id, &code, VERIFIER)
            .into_iter()
            .filter(|(name, _)| *name != "code_verifier")
            .collect();
        let (status, answer) = token(&setup, &base, &without_verifier).await;
        assert_eq!(
            (status, &answer["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_request"))
        );

        // The right exchange: tokens for Bob, an ID token for the app with its nonce.
        let (status, tokens) = token(&setup, &base, &exchange(&client_id, &code, VERIFIER)).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["scope"], "openid profile");
        let access = claims(tokens["access_token"].as_str().unwrap());
        assert_eq!(access["name"], "Bob");
        assert_eq!(access["client_id"], client_id.as_str());
        assert_eq!(access["aud"], API);
        let id_token = claims(tokens["id_token"].as_str().unwrap());
        assert_eq!(id_token["aud"], client_id.as_str());
        assert_eq!(id_token["nonce"], "app-nonce-1");
        assert_eq!(id_token["iss"], base.as_str());
        assert_eq!(id_token["sub"], access["sub"]);

        // Twice is an attack: refused, and what the first exchange issued is revoked.
        let (status, answer) = token(&setup, &base, &exchange(&client_id, &code, VERIFIER)).await;
        assert_eq!(
            (status, &answer["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let renew = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("refresh_token", refresh),
        ];
        let (status, answer) = token(&setup, &base, &renew).await;
        assert_eq!(
            (status, &answer["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );

        // A minute later a code is dead.
        let code = code_for(&setup, &client_id).await;
        setup.stack.clock.advance(61);
        let (status, answer) = token(&setup, &base, &exchange(&client_id, &code, VERIFIER)).await;
        assert_eq!(
            (status, &answer["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );

        // A fresh code: its refresh token rotates for its own client only, and once revoked
        // it refreshes no more.
        let code = code_for(&setup, &client_id).await;
        let (status, tokens) = token(&setup, &base, &exchange(&client_id, &code, VERIFIER)).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let foreign = [
            ("grant_type", "refresh_token"),
            ("client_id", other_client.as_str()),
            ("refresh_token", refresh.as_str()),
        ];
        let (status, answer) = token(&setup, &base, &foreign).await;
        assert_eq!(
            (status, &answer["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );
        let renew = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("refresh_token", refresh.as_str()),
        ];
        let (status, renewed) = token(&setup, &base, &renew).await;
        assert_eq!(status, StatusCode::OK, "{renewed}");
        let rotated = renewed["refresh_token"].as_str().unwrap().to_owned();
        let access = renewed["access_token"].as_str().unwrap().to_owned();
        let me = || {
            let request = setup
                .http()
                .get(format!("{base}/_userinfo"))
                .bearer_auth(&access);
            async move { request.send().await.unwrap().status() }
        };
        assert_eq!(me().await, StatusCode::OK);
        let revoke = setup
            .http()
            .post(format!("{base}/_revoke"))
            .form(&[
                ("client_id", client_id.as_str()),
                ("token", rotated.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(revoke.status(), StatusCode::OK);
        let renew = [
            ("grant_type", "refresh_token"),
            ("client_id", client_id.as_str()),
            ("refresh_token", rotated.as_str()),
        ];
        let (status, answer) = token(&setup, &base, &renew).await;
        assert_eq!(
            (status, &answer["error"]),
            (StatusCode::BAD_REQUEST, &json!("invalid_grant"))
        );

        // Its access token is refused at once too.
        assert_eq!(me().await, StatusCode::UNAUTHORIZED, "{backend}");

        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_and_tokens_of_one_api_are_refused_by_another() {
    for database in test_databases().await {
        let setup = Setup::start(&database).await;
        let client_id = public_client(&setup, API).await;
        setup
            .stack
            .create(
                "/v1/apis",
                json!({ "name": "other", "region": "eu", "description": "another API" }),
            )
            .await;
        let other_client = public_client(&setup, "other").await;
        let hosts = setup.plane.hosts("other");
        let http = setup.plane.client(&[&hosts[0], &hosts[1]]);
        let other_base = format!("{}/api", setup.app("").replace("shop.", "other."));

        let code = code_for(&setup, &client_id).await;
        for form in [
            exchange(&client_id, &code, VERIFIER),
            exchange(&other_client, &code, VERIFIER),
        ] {
            let response = http
                .post(format!("{other_base}/_token"))
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = response.status();
            let answer: Value = response.json().await.unwrap();
            assert!(
                matches!(
                    answer["error"].as_str(),
                    Some("invalid_grant" | "invalid_client")
                ),
                "{}: {status} {answer}",
                database.backend
            );
        }

        // The code is still good at its own API, and its access token is refused elsewhere.
        let base = setup.app("/api");
        let (status, tokens) = token(&setup, &base, &exchange(&client_id, &code, VERIFIER)).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap();
        let userinfo = http
            .get(format!("{other_base}/_userinfo"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap();
        assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let renew = [
            ("grant_type", "refresh_token"),
            ("client_id", other_client.as_str()),
            ("refresh_token", refresh),
        ];
        let response = http
            .post(format!("{other_base}/_token"))
            .form(&renew)
            .send()
            .await
            .unwrap();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], "invalid_grant", "{answer}");

        database.drop_database().await;
    }
}

#[test]
fn the_test_challenge_is_the_verifiers() {
    let computed = URL_SAFE_NO_PAD.encode(digest(&SHA256, VERIFIER.as_bytes()));
    assert_eq!(computed, CHALLENGE);
}
