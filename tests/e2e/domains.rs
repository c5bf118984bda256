//! Custom domains through the admin API against a real DNS server: Debian's
//! `pebble-challtestsrv` (package `pebble`), whose TXT records the test sets over its
//! management API. A domain stays pending until its TXT record holds the token, then reaches
//! the region's data planes within a second; bad names and a domain another API has are
//! refused, and nothing is stored for them.

use reqwest::{Method, StatusCode};
use restapi_shared::push::DomainConfig;
use serde_json::{Value, json};

use crate::providers::pushed_api;
use crate::support::db::test_databases;
use crate::support::dns::DnsServer;
use crate::support::stack::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_are_verified_over_dns_and_pushed_to_their_region() {
    for database in test_databases().await {
        let dns = DnsServer::start().await;
        let stack = Stack::start_with_dns_server(&database, Some(dns.address)).await;
        let plane = stack.region_with_data_plane("eu").await;
        api_in(&stack, "shop", "eu").await;
        api_in(&stack, "other", "eu").await;

        // Added: pending, with the two records to create; nothing is pushed for it.
        let head = stack.control.store().refresh_head().await.unwrap();
        let created = stack
            .create(
                "/v1/apis/shop/domains",
                json!({ "domain": "Login.Example.COM" }),
            )
            .await;
        assert_eq!(created["domain"], "login.example.com");
        assert_eq!(created["status"], "pendingDns");
        assert_eq!(created["statusMessage"], Value::Null);
        assert_eq!(created["verifiedAt"], Value::Null);
        assert_eq!(created["certificateExpiresAt"], Value::Null);
        assert!(created["createdAt"].is_string());
        assert_eq!(created["updatedAt"], created["createdAt"]);
        let token = created["records"][1]["value"].as_str().unwrap().to_owned();
        assert_eq!(token.len(), 48, "{token}");
        assert_eq!(
            created["records"],
            json!([
                { "type": "CNAME", "name": "login.example.com", "value": "shop.apps.test" },
                { "type": "TXT", "name": "_restapi-challenge.login.example.com", "value": token },
            ])
        );
        let mut fields: Vec<&String> = created.as_object().unwrap().keys().collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "certificateExpiresAt",
                "createdAt",
                "domain",
                "records",
                "status",
                "statusMessage",
                "updatedAt",
                "verifiedAt"
            ]
        );
        assert_eq!(stack.control.store().refresh_head().await.unwrap(), head);
        let path = "/v1/apis/shop/domains/login.example.com";
        let (status, fetched) = stack.admin_request(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fetched, created);
        let (_, listed) = stack
            .admin_request(Method::GET, "/v1/apis/shop/domains", None)
            .await;
        assert_eq!(listed, json!([created]));

        // No TXT record, then a wrong one: still pending, saying what DNS showed.
        let pending = verify(&stack, "shop", "login.example.com").await;
        assert_eq!(pending["status"], "pendingDns");
        let message = pending["statusMessage"].as_str().unwrap();
        assert!(
            message.contains("no TXT record at _restapi-challenge.login.example.com"),
            "{message}"
        );
        assert!(message.contains("shop.apps.test"), "{message}");
        dns.set_txt("_restapi-challenge.login.example.com", "not-the-token")
            .await;
        let pending = verify(&stack, "shop", "login.example.com").await;
        assert_eq!(pending["status"], "pendingDns");
        let message = pending["statusMessage"].as_str().unwrap();
        assert!(
            message.contains("holds 'not-the-token', not the token"),
            "{message}"
        );
        assert!(pushed_domains(&stack, "shop").await.is_empty());

        // The token: active, and on the region's data plane within a second.
        dns.set_txt("_restapi-challenge.login.example.com", &token)
            .await;
        let active = verify(&stack, "shop", "login.example.com").await;
        assert_eq!(active["status"], "active", "{active}");
        assert!(active["verifiedAt"].is_string());
        let message = active["statusMessage"].as_str().unwrap();
        assert!(message.contains("holds the token"), "{message}");
        stack.wait_for_push(&plane).await;
        assert_eq!(
            pushed_domains(&stack, "shop").await,
            [domain_config("login.example.com")]
        );
        assert!(pushed_domains(&stack, "other").await.is_empty());
        // Verifying again changes nothing.
        let again = verify(&stack, "shop", "login.example.com").await;
        assert_eq!(again, active);

        // The login page is served there too: providers name its callback URL.
        let provider = stack
            .create(
                "/v1/apis/shop/providers",
                json!({ "kind": "google", "clientId": "g", "clientSecret": "g-secret" }),
            )
            .await;
        let id = provider["id"].as_str().unwrap();
        let callback = format!("http://login.example.com/login/callback/{id}");
        assert!(
            provider["redirectUris"]
                .as_array()
                .is_some_and(|uris| uris.contains(&json!(callback))),
            "{provider}"
        );

        // One API per domain across the platform, in any spelling.
        for (api, name) in [
            ("other", "login.example.com"),
            ("shop", "LOGIN.example.com."),
        ] {
            let (status, answer) = stack
                .admin_request(
                    Method::POST,
                    &format!("/v1/apis/{api}/domains"),
                    Some(json!({ "domain": name })),
                )
                .await;
            assert_eq!(status, StatusCode::CONFLICT, "{answer}");
            assert_eq!(answer["error"], "conflict");
            assert!(answer["message"].as_str().unwrap().contains("'shop'"));
        }

        // A pending domain is retried by the background check with backoff, on the clock.
        let idn = stack
            .create(
                "/v1/apis/other/domains",
                json!({ "domain": "bücher.example" }),
            )
            .await;
        assert_eq!(idn["domain"], "xn--bcher-kva.example");
        let idn_token = idn["records"][1]["value"].as_str().unwrap();
        let pending = verify(&stack, "other", "xn--bcher-kva.example").await;
        assert_eq!(pending["status"], "pendingDns");
        dns.set_txt("_restapi-challenge.xn--bcher-kva.example", idn_token)
            .await;
        stack.control.check_due_domains().await.unwrap();
        let (_, still) = stack
            .admin_request(Method::GET, "/v1/apis/other/domains/bücher.example", None)
            .await;
        assert_eq!(still["status"], "pendingDns", "retried before its time");
        stack.clock.advance(3600);
        stack.control.check_due_domains().await.unwrap();
        let (_, retried) = stack
            .admin_request(
                Method::GET,
                "/v1/apis/other/domains/xn--bcher-kva.example",
                None,
            )
            .await;
        assert_eq!(retried["status"], "active", "{retried}");
        stack.wait_for_push(&plane).await;
        assert_eq!(
            pushed_domains(&stack, "other").await,
            [domain_config("xn--bcher-kva.example")]
        );

        // Removed: gone from the admin API and from the push.
        let (status, body) = stack.admin_request(Method::DELETE, path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        for method in [Method::GET, Method::DELETE] {
            let (status, body) = stack.admin_request(method, path, None).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
            assert_eq!(body["error"], "not_found");
        }
        let (status, _) = stack
            .admin_request(
                Method::POST,
                "/v1/apis/shop/domains/login.example.com/verify",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        stack.wait_for_push(&plane).await;
        assert!(pushed_domains(&stack, "shop").await.is_empty());
        let (_, listed) = stack
            .admin_request(Method::GET, "/v1/apis/shop/domains", None)
            .await;
        assert_eq!(listed, json!([]));

        drop(stack);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_are_refused_naming_the_field_and_nothing_is_stored() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let _plane = stack.region_with_data_plane("eu").await;
        api_in(&stack, "shop", "eu").await;

        let too_long = format!("{0}.{0}.{0}.{1}", "a".repeat(63), "b".repeat(62));
        let long_label = format!("{}.example.com", "a".repeat(64));
        let cases = [
            ("*.example.com", "wildcard"),
            ("login.*.example.com", "wildcard"),
            ("192.0.2.10", "IP address"),
            ("[2001:db8::1]", "IP address"),
            ("localhost", "single label"),
            ("example", "single label"),
            ("exa mple.com", "not a host name"),
            ("https://login.example.com/", "not a host name"),
            ("login.example.com:443", "not a host name"),
            ("xn--zz.example", "not a host name"),
            (too_long.as_str(), "longer than 253"),
            (long_label.as_str(), "longer than 63"),
            ("apps.test", "platform"),
            ("shop.apps.test", "platform"),
            ("eu.test", "platform"),
            ("login.eu.test", "platform"),
            ("", "must not be empty"),
        ];
        for (name, why) in cases {
            let (status, answer) = stack
                .admin_request(
                    Method::POST,
                    "/v1/apis/shop/domains",
                    Some(json!({ "domain": name })),
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {answer}");
            assert_eq!(answer["error"], "invalid_field", "{name}: {answer}");
            let message = answer["message"].as_str().unwrap();
            assert!(message.starts_with("domain "), "{name}: {message}");
            assert!(message.contains(why), "{name}: {message}");
        }
        for body in [
            json!({}),
            json!({ "domain": 7 }),
            json!({ "domain": "a.example", "x": 1 }),
        ] {
            let (status, answer) = stack
                .admin_request(Method::POST, "/v1/apis/shop/domains", Some(body))
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
            assert_eq!(answer["error"], "invalid_body", "{answer}");
        }
        let (status, answer) = stack
            .admin_request(
                Method::POST,
                "/v1/apis/nope/domains",
                Some(json!({ "domain": "a.example" })),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");

        let (_, listed) = stack
            .admin_request(Method::GET, "/v1/apis/shop/domains", None)
            .await;
        assert_eq!(listed, json!([]));
        drop(stack);
        database.drop_database().await;
    }
}

async fn api_in(stack: &Stack, api: &str, region: &str) {
    stack
        .create(
            "/v1/apis",
            json!({ "name": api, "region": region, "roles": ["reader"] }),
        )
        .await;
}

/// `POST .../verify`; panics unless the answer is 200.
async fn verify(stack: &Stack, api: &str, domain: &str) -> Value {
    let (status, answer) = stack
        .admin_request(
            Method::POST,
            &format!("/v1/apis/{api}/domains/{domain}/verify"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn pushed_domains(stack: &Stack, api: &str) -> Vec<DomainConfig> {
    pushed_api(stack, "eu", api).await.domains
}

fn domain_config(name: &str) -> DomainConfig {
    DomainConfig {
        name: name.to_owned(),
        ..DomainConfig::default()
    }
}
