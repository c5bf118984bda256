//! Who may sign in at the hosted login, and how it refuses bad input, through both planes on
//! every backend under test. The provider is a local stand-in of Vipps (OpenID Connect with a
//! userinfo endpoint), added twice: once creating users, once only letting registered ones in.
//!
//! Each refusal must be a readable page (or a 401 on `_refresh`) that creates nothing and
//! sets no session.

use reqwest::header::{COOKIE, LOCATION, ORIGIN};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::db::test_databases;
use crate::support::hosted::{
    ACCESS_COOKIE, API, LOGIN_COOKIE, REFRESH_COOKIE, Setup, find_cookie, location, person,
    refused, set_cookie, set_cookies, signed_in,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_users_are_linked_new_ones_created_where_allowed_and_disabled_ones_refused() {
    for database in test_databases().await {
        let setup = Setup::start(&database).await;
        let backend = database.backend;

        // An operator registers Ada with the role `writer` before she ever signs in.
        let ada = setup
            .stack
            .create(
                &format!("/v1/apis/{API}/users"),
                json!({ "name": "Ada Lovelace", "email": "ada@example.com",
                        "roles": ["writer"], "attributes": { "plan": "pro", "sub": "forged" } }),
            )
            .await;
        let ada_id = ada["id"].as_str().expect("user id");

        // Her first sign-in, with the same verified address, links her; her roles and
        // attributes are in the token (never over a registered claim), and no user is created.
        setup
            .vipps
            .sign_in_as(person("vipps-ada", "Ada", "ada@example.com"));
        let browser = setup.browser();
        let landing = browser.sign_in(&setup.start_url(&setup.invited)).await;
        let claims = signed_in(&browser, &landing);
        assert_eq!(claims["sub"], ada_id, "{backend}: {claims}");
        assert_eq!(claims["plan"], "pro", "{claims}");
        let roles = claims["roles"].as_array().expect("roles");
        assert!(roles.contains(&json!("writer")), "{claims}");
        assert!(!roles.contains(&json!("reader")), "{claims}");
        assert_eq!(setup.users().await.len(), 1);
        let path = format!("/v1/apis/{API}/users/{ada_id}/identities");
        let (status, identities) = setup.stack.admin_request(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{identities}");
        let identities = identities
            .as_array()
            .or_else(|| identities["items"].as_array())
            .expect("identities");
        assert_eq!(identities.len(), 1, "{identities:?}");
        assert_eq!(identities[0]["authority"], "vipps");
        assert_eq!(identities[0]["subject"], "vipps-ada");

        // Bob is not registered: the members-only provider refuses him and creates nobody.
        setup
            .vipps
            .sign_in_as(person("vipps-bob", "Bob", "bob@example.com"));
        let browser = setup.browser();
        let landing = browser.sign_in(&setup.start_url(&setup.invited)).await;
        refused(
            &browser,
            &landing,
            StatusCode::FORBIDDEN,
            "not registered for shop",
        );
        assert_eq!(setup.users().await.len(), 1);

        // The open provider creates him, with the API's default roles.
        let landing = browser.sign_in(&setup.start_url(&setup.open)).await;
        let claims = signed_in(&browser, &landing);
        assert_eq!(claims["name"], "Bob");
        let roles = claims["roles"].as_array().expect("roles");
        assert!(roles.contains(&json!("reader")), "{claims}");
        assert!(!roles.contains(&json!("writer")), "{claims}");
        assert_eq!(setup.users().await.len(), 2);

        // A disabled user cannot sign in, at either provider.
        let (status, body) = setup
            .stack
            .admin_request(
                Method::PATCH,
                &format!("/v1/apis/{API}/users/{ada_id}"),
                Some(json!({ "disabled": true })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for provider in [&setup.invited, &setup.open] {
            setup
                .vipps
                .sign_in_as(person("vipps-ada", "Ada", "ada@example.com"));
            let browser = setup.browser();
            let landing = browser.sign_in(&setup.start_url(provider)).await;
            refused(&browser, &landing, StatusCode::FORBIDDEN, "disabled");
        }
        assert_eq!(setup.users().await.len(), 2);

        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sign_ins_are_readable_pages_that_create_nothing() {
    for database in test_databases().await {
        let setup = Setup::start(&database).await;
        let http = setup.http();
        let backend = database.backend;

        // An unknown provider.
        let answer = http
            .get(setup.start_url("idp_nope"))
            .send()
            .await
            .expect("start");
        assert_eq!(answer.status(), StatusCode::NOT_FOUND, "{backend}");
        assert!(answer.text().await.unwrap().contains("does not exist"));

        // A redirect to a foreign site, on the page and at the start; never followed.
        let foreign = [
            "https%3A%2F%2Fevil.example%2F",
            "%2F%2Fevil.example%2F",
            "http%3A%2F%2Fshop.apps.test.evil.example%2F",
        ];
        for redirect in foreign {
            for url in [
                setup.app(&format!("/login?redirect={redirect}")),
                format!("{}?redirect={redirect}", setup.start_url(&setup.open)),
            ] {
                let answer = http.get(&url).send().await.expect("login");
                assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{url}");
                assert!(answer.headers().get(LOCATION).is_none(), "{url}");
                assert!(set_cookies(&answer).is_empty(), "{url}");
                assert!(answer.text().await.unwrap().contains("does not allow"));
            }
        }

        // An error from the provider: the page names its code, not its text.
        setup
            .vipps
            .sign_in_as(person("vipps-bob", "Bob", "bob@example.com"));
        let (login_cookie, callback) = setup.until_callback(&setup.open).await;
        let state = reqwest::Url::parse(&callback)
            .expect("callback URL")
            .query_pairs()
            .find(|(name, _)| name == "state")
            .map(|(_, value)| value.into_owned())
            .expect("state");
        let denied = setup.app(&format!(
            "/login/callback/{}?error=access_denied&error_description=%3Cb%3Eno%3C%2Fb%3E\
             &state={state}",
            setup.open
        ));
        let (status, page, cookies) = setup.callback(&denied, &login_cookie).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("access_denied"), "{page}");
        assert!(!page.contains("<b>no"), "{page}");
        assert!(find_cookie(&cookies, ACCESS_COOKIE, "/").is_none());

        // A tampered login cookie.
        let (login_cookie, callback) = setup.until_callback(&setup.open).await;
        let mut tampered = login_cookie.into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        let (status, page, _) = setup.callback(&callback, &tampered).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("not started here"), "{page}");

        // A login cookie older than ten minutes.
        let (login_cookie, callback) = setup.until_callback(&setup.open).await;
        setup.stack.clock.advance(601);
        let (status, page, _) = setup.callback(&callback, &login_cookie).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("took too long"), "{page}");

        // An ID token with another nonce than the one sent.
        let mut forged = person("vipps-eve", "Eve", "eve@example.com");
        forged.claims.insert("nonce".into(), "not-the-nonce".into());
        setup.vipps.sign_in_as(forged);
        let browser = setup.browser();
        let landing = browser.sign_in(&setup.start_url(&setup.open)).await;
        refused(
            &browser,
            &landing,
            StatusCode::BAD_REQUEST,
            "could not be verified",
        );
        assert!(setup.users().await.is_empty(), "{backend}");

        // A callback replayed with its login cookie: the provider refuses the used code.
        setup
            .vipps
            .sign_in_as(person("vipps-bob", "Bob", "bob@example.com"));
        let (login_cookie, callback) = setup.until_callback(&setup.open).await;
        let (status, page, _) = setup.callback(&callback, &login_cookie).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        let (status, page, cookies) = setup.callback(&callback, &login_cookie).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains("could not be verified"), "{page}");
        assert!(find_cookie(&cookies, ACCESS_COOKIE, "/").is_none());
        assert_eq!(setup.users().await.len(), 1, "{backend}");

        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_honours_a_lost_answer_and_ends_the_session_on_replay_or_logout() {
    for database in test_databases().await {
        let setup = Setup::start(&database).await;
        let backend = database.backend;
        setup
            .vipps
            .sign_in_as(person("vipps-bob", "Bob", "bob@example.com"));

        // Signing in sets the refresh cookie for `_refresh` and a copy for `_logout`.
        let (login_cookie, callback) = setup.until_callback(&setup.open).await;
        let (status, page, cookies) = setup.callback(&callback, &login_cookie).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{backend}: {page}");
        let first = find_cookie(&cookies, REFRESH_COOKIE, "/api/_refresh").expect("refresh");
        assert!(find_cookie(&cookies, REFRESH_COOKIE, "/api/_logout").is_some());
        assert!(find_cookie(&cookies, ACCESS_COOKIE, "/").is_some());

        // A refresh from another site is refused.
        let cross_site = setup
            .http()
            .post(setup.app("/api/_refresh"))
            .header(ORIGIN, "https://evil.example")
            .header(COOKIE, format!("{REFRESH_COOKIE}={first}"))
            .send()
            .await
            .expect("refresh");
        assert_eq!(cross_site.status(), StatusCode::FORBIDDEN);

        // The refresh rotates; the same cookie again within the grace window (its answer was
        // lost) is honoured; after the window it is theft and ends the whole session.
        let refreshed = setup
            .post("/api/_refresh", &[(REFRESH_COOKIE, &first)])
            .await;
        assert_eq!(refreshed.status(), StatusCode::NO_CONTENT);
        let second = set_cookie(&refreshed, REFRESH_COOKIE, "/api/_refresh").expect("rotated");
        assert_ne!(second, first);
        let access = set_cookie(&refreshed, ACCESS_COOKIE, "/").expect("access cookie");
        let me = |access: String| {
            let request = setup
                .http()
                .get(setup.app("/api/_userinfo"))
                .header(COOKIE, format!("{ACCESS_COOKIE}={access}"));
            async move { request.send().await.expect("userinfo").status() }
        };
        assert_eq!(me(access.clone()).await, StatusCode::OK);
        setup.stack.clock.advance(10);
        let retried = setup
            .post("/api/_refresh", &[(REFRESH_COOKIE, &first)])
            .await;
        assert_eq!(retried.status(), StatusCode::NO_CONTENT);
        setup.stack.clock.advance(30);
        let replayed = setup
            .post("/api/_refresh", &[(REFRESH_COOKIE, &first)])
            .await;
        assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
        let removed = set_cookies(&replayed);
        assert!(
            removed
                .iter()
                .any(|cookie| cookie.name == ACCESS_COOKIE && cookie.removed),
            "{removed:?}"
        );
        let successor = setup
            .post("/api/_refresh", &[(REFRESH_COOKIE, &second)])
            .await;
        assert_eq!(successor.status(), StatusCode::UNAUTHORIZED, "{backend}");
        // The session's access token dies with it, as soon as the data plane hears of it.
        setup.stack.wait_for_push(&setup.plane).await;
        assert_eq!(me(access).await, StatusCode::UNAUTHORIZED, "{backend}");

        // Signing out an hour later, when the browser has dropped the access cookie: the
        // copy for `_logout` names the session, which ends.
        let (login_cookie, callback) = setup.until_callback(&setup.open).await;
        let (_, _, cookies) = setup.callback(&callback, &login_cookie).await;
        let refresh = find_cookie(&cookies, REFRESH_COOKIE, "/api/_refresh").expect("refresh");
        let for_logout = find_cookie(&cookies, REFRESH_COOKIE, "/api/_logout").expect("copy");
        setup.stack.clock.advance(3_700);
        let logout = setup
            .post("/api/_logout", &[(REFRESH_COOKIE, &for_logout)])
            .await;
        assert_eq!(logout.status(), StatusCode::NO_CONTENT);
        let cleared = set_cookies(&logout);
        for (name, path) in [
            (ACCESS_COOKIE, "/"),
            (REFRESH_COOKIE, "/api/_refresh"),
            (REFRESH_COOKIE, "/api/_logout"),
        ] {
            assert!(
                cleared
                    .iter()
                    .any(|cookie| cookie.name == name && cookie.path == path && cookie.removed),
                "{name} {path} cleared: {cleared:?}"
            );
        }
        let after = setup
            .post("/api/_refresh", &[(REFRESH_COOKIE, &refresh)])
            .await;
        assert_eq!(after.status(), StatusCode::UNAUTHORIZED, "{backend}");

        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_regional_host_serves_the_login_with_cookies_scoped_to_the_api() {
    for database in test_databases().await {
        let setup = Setup::start(&database).await;
        setup
            .vipps
            .sign_in_as(person("vipps-bob", "Bob", "bob@example.com"));
        let regional = setup.plane.regional_base(API);

        let page = setup
            .http()
            .get(format!("{regional}/login"))
            .send()
            .await
            .expect("login page");
        assert_eq!(page.status(), StatusCode::OK, "{}", database.backend);
        let page = page.text().await.unwrap();
        assert!(
            page.contains(&format!("/{API}/login/start/{}", setup.open)),
            "{page}"
        );

        let start_url = format!("{regional}/login/start/{}", setup.open);
        let (login_cookie, callback) = setup.until_callback_at(&start_url, "/shop").await;
        assert!(
            callback.starts_with(&format!("{regional}/login/callback/")),
            "{callback}"
        );
        let response = setup
            .http()
            .get(&callback)
            .header(COOKIE, format!("{LOGIN_COOKIE}={login_cookie}"))
            .send()
            .await
            .expect("callback");
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "/shop/");
        let cookies = set_cookies(&response);
        let access = find_cookie(&cookies, ACCESS_COOKIE, "/shop").expect("access cookie");
        assert!(find_cookie(&cookies, REFRESH_COOKIE, "/shop/_refresh").is_some());
        assert!(find_cookie(&cookies, REFRESH_COOKIE, "/shop/_logout").is_some());

        let me = setup
            .http()
            .get(format!("{regional}/_userinfo"))
            .header(COOKIE, format!("{ACCESS_COOKIE}={access}"))
            .send()
            .await
            .expect("userinfo");
        assert_eq!(me.status(), StatusCode::OK);
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["name"], "Bob");

        database.drop_database().await;
    }
}
