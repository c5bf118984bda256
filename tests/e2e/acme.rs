//! Certificates of custom domains from a real ACME CA: Let's Encrypt's Pebble, validating
//! HTTP-01 on the data plane's plain listener, names resolved by `pebble-challtestsrv`. A
//! domain is verified, its certificate issued and served by SNI, a person signs in over HTTPS
//! on it; the certificate is renewed early, a renewal with the CA down keeps the old one
//! serving and is retried; a name the CA cannot validate fails with the CA's words.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use restapi_shared::push::DomainConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::providers::pushed_api;
use crate::support::db::{TestDatabase, test_databases};
use crate::support::dns::DnsServer;
use crate::support::hosted::person;
use crate::support::pebble::Pebble;
use crate::support::presets::{Browser, Client, Provider, StandIn};
use crate::support::stack::{HttpsDataPlane, PlatformCertificate, Stack};

const DOMAIN: &str = "login.example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_issued_served_by_sni_renewed_and_survive_the_ca_being_down() {
    for database in test_databases().await {
        let Setup {
            dns,
            mut pebble,
            stack,
            platform,
            plane,
        } = Setup::start(&database).await;
        let vipps = StandIn::start(Provider::Vipps, stack.clock.clone()).await;
        let secret = Client {
            secret: Some("vipps-secret".into()),
            ..Client::default()
        };
        vipps.register("vipps-client", secret);
        vipps.sign_in_as(person("ada", "Ada", "ada@example.com"));
        let provider = stack
            .create(
                "/v1/apis/shop/providers",
                json!({ "kind": "vipps", "clientId": "vipps-client",
                        "clientSecret": "vipps-secret", "issuer": vipps.vipps_issuer(),
                        "autoCreate": true }),
            )
            .await;
        let provider = provider["id"].as_str().unwrap().to_owned();

        // Ownership proven: pushed at once, so the data plane can answer the CA, but no
        // certificate yet, so a TLS client asking for the name gets none.
        let added = stack
            .create("/v1/apis/shop/domains", json!({ "domain": DOMAIN }))
            .await;
        assert_eq!(added["certificateExpiresAt"], Value::Null);
        let token = added["records"][1]["value"].as_str().unwrap();
        dns.set_txt(&format!("_restapi-challenge.{DOMAIN}"), token)
            .await;
        let verified = verify(&stack, DOMAIN).await;
        assert_eq!(verified["status"], "verifying", "{verified}");
        let message = verified["statusMessage"].as_str().unwrap();
        assert!(message.ends_with("; ordering its certificate"), "{message}");
        stack.wait_for_push(&plane.plain).await;
        assert_eq!(
            pushed_domain(&stack, DOMAIN).await,
            DomainConfig {
                name: DOMAIN.to_owned(),
                ..DomainConfig::default()
            }
        );
        let platform_root = platform.ca_pem.clone();
        assert!(
            served_certificate(plane.https, DOMAIN, &platform_root)
                .await
                .is_none(),
            "no certificate before one is issued"
        );

        // Issued: active with its expiry, pushed with its key, served by SNI.
        let active = order_until(&stack, DOMAIN, |domain| domain["status"] == "active").await;
        let first_expiry = expiry(&active);
        let message = active["statusMessage"].as_str().unwrap();
        assert!(
            message.starts_with("certificate issued, valid until"),
            "{message}"
        );
        stack.wait_for_push(&plane.plain).await;
        let pushed = pushed_domain(&stack, DOMAIN).await;
        assert!(pushed.challenges.is_empty(), "challenge withdrawn");
        let pushed_certificate = pushed.certificate.expect("certificate pushed");
        assert_eq!(pushed_certificate.expires_at, first_expiry);
        assert!(pushed_certificate.key_pem.expose().contains("PRIVATE KEY"));
        let root = pebble.issuing_root().await;
        let first = served_certificate(plane.https, DOMAIN, &root)
            .await
            .expect("the issued certificate, valid for the name under Pebble's root");
        assert_eq!(
            first,
            first_certificate(&pushed_certificate.chain_pem),
            "the pushed leaf is what SNI serves"
        );
        // The platform's names keep the platform certificate.
        assert!(
            served_certificate(plane.https, "shop.apps.test", &platform_root)
                .await
                .is_some()
        );

        // The domain behaves like the app host over HTTPS: discovery names it, a person signs
        // in through /login there and calls the API with the cookies.
        let https_port = plane.https.port();
        let origin = format!("https://{DOMAIN}:{https_port}");
        let browser = Browser::new(https_client(plane.https, &[&root]));
        let discovery = browser
            .send(
                Method::GET,
                &format!("{origin}/api/.well-known/openid-configuration"),
                None,
            )
            .await;
        assert_eq!(discovery.status(), StatusCode::OK);
        assert_eq!(discovery.version(), reqwest::Version::HTTP_2);
        let discovery: Value = discovery.json().await.unwrap();
        assert_eq!(discovery["issuer"], format!("{origin}/api"));
        let landing = browser
            .sign_in(&format!("{origin}/login/start/{provider}"))
            .await;
        assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
        let me = browser
            .send(Method::GET, &format!("{origin}/api/_userinfo"), None)
            .await;
        assert_eq!(me.status(), StatusCode::OK);
        let me: Value = me.json().await.unwrap();
        assert_eq!(me["email"], "ada@example.com", "{me}");

        // The plain listener sends the browser to HTTPS.
        let plain_client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(DOMAIN, plane.plain.addr)
            .build()
            .unwrap();
        let redirect = plain_client
            .get(format!("http://{DOMAIN}:{}/login", plane.plain.addr.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            redirect.headers()["location"],
            format!("{origin}/login").as_str()
        );

        // Renewal, forced early by moving the clock past two thirds of the lifetime: a new
        // certificate, served without a restart.
        let now = stack.clock.now();
        stack.clock.advance((first_expiry - now) * 3 / 4);
        let renewed = order_until(&stack, DOMAIN, |domain| expiry(domain) != first_expiry).await;
        assert_eq!(renewed["status"], "active");
        let second_expiry = expiry(&renewed);
        assert!(second_expiry > first_expiry);
        stack.wait_for_push(&plane.plain).await;
        let second = served_certificate(plane.https, DOMAIN, &root)
            .await
            .expect("the renewed certificate");
        assert_ne!(second, first);

        // The CA down at the next renewal: still active, the old certificate keeps serving,
        // the operator reads why and when it is retried.
        pebble.stop();
        let now = stack.clock.now();
        stack.clock.advance((second_expiry - now) * 3 / 4);
        let failing = order_until(&stack, DOMAIN, |domain| {
            domain["statusMessage"]
                .as_str()
                .is_some_and(|message| message.starts_with("renewal failed"))
        })
        .await;
        assert_eq!(failing["status"], "active");
        assert_eq!(expiry(&failing), second_expiry);
        let message = failing["statusMessage"].as_str().unwrap();
        assert!(
            message.contains("could not be reached") && message.contains("keeps serving"),
            "{message}"
        );
        assert_eq!(
            served_certificate(plane.https, DOMAIN, &root).await,
            Some(second.clone())
        );
        // Not retried before its backoff.
        assert_eq!(stack.control.order_due_certificates().await.unwrap(), 0);

        // Back up (with a new root and no memory of the platform's account): the retry after
        // the backoff gets a new certificate.
        pebble.restart().await;
        stack.clock.advance(301);
        let recovered = order_until(&stack, DOMAIN, |domain| expiry(domain) != second_expiry).await;
        assert_eq!(recovered["status"], "active");
        let message = recovered["statusMessage"].as_str().unwrap();
        assert!(message.starts_with("certificate issued"), "{message}");
        stack.wait_for_push(&plane.plain).await;
        let new_root = pebble.issuing_root().await;
        let third = served_certificate(plane.https, DOMAIN, &new_root)
            .await
            .expect("the certificate from the restarted CA");
        assert_ne!(third, second);

        drop(stack);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_the_ca_cannot_validate_fails_with_its_words_and_is_retried() {
    for database in test_databases().await {
        let Setup {
            dns,
            stack,
            plane,
            pebble: _pebble,
            ..
        } = Setup::start(&database).await;

        // The name points somewhere no data plane listens: the CA cannot fetch the challenge.
        let name = "elsewhere.example.com";
        dns.set_a(name, "127.0.0.2").await;
        let added = stack
            .create("/v1/apis/shop/domains", json!({ "domain": name }))
            .await;
        let token = added["records"][1]["value"].as_str().unwrap();
        dns.set_txt(&format!("_restapi-challenge.{name}"), token)
            .await;
        assert_eq!(verify(&stack, name).await["status"], "verifying");
        let failed = order_until(&stack, name, |domain| domain["status"] == "failed").await;
        let message = failed["statusMessage"].as_str().unwrap();
        assert!(
            message.starts_with("the certificate authority refused:"),
            "{message}"
        );
        assert!(message.contains("urn:ietf:params:acme:error:"), "{message}");
        assert!(message.contains("retrying at"), "{message}");
        assert_eq!(failed["certificateExpiresAt"], Value::Null);
        stack.wait_for_push(&plane.plain).await;
        let pushed = pushed_domain(&stack, name).await;
        assert!(pushed.challenges.is_empty() && pushed.certificate.is_none());
        assert_eq!(stack.control.order_due_certificates().await.unwrap(), 0);

        // Fixed: the retry after the backoff gets the certificate.
        dns.clear_a(name).await;
        stack.clock.advance(301);
        let active = order_until(&stack, name, |domain| domain["status"] == "active").await;
        assert!(active["certificateExpiresAt"].is_string());

        drop(stack);
        database.drop_database().await;
    }
}

/// Pebble, validating on the plain listener of region `eu`'s data plane, and API `shop` in
/// that region (new users get `reader`).
struct Setup {
    dns: DnsServer,
    pebble: Pebble,
    stack: Stack,
    platform: PlatformCertificate,
    plane: HttpsDataPlane,
}

impl Setup {
    async fn start(database: &TestDatabase) -> Self {
        let dns = DnsServer::start().await;
        // Bound first: Pebble must know where to fetch HTTP-01 challenges before it starts,
        // and the control plane where Pebble is.
        let plain = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let pebble = Pebble::start(dns.address, plain.local_addr().unwrap().port()).await;
        let stack = Stack::start_with_settings(
            database,
            json!({
                "dns_server": dns.address.to_string(),
                "acme_directory_url": pebble.directory,
                "acme_roots_file": pebble.roots_file,
            }),
        )
        .await;
        let platform = PlatformCertificate::generate();
        let plane = stack
            .region_with_https_data_plane("eu", &platform, plain)
            .await;
        stack
            .create(
                "/v1/apis",
                json!({ "name": "shop", "region": "eu", "roles": ["reader"],
                        "defaultRoles": ["reader"] }),
            )
            .await;
        Self {
            dns,
            pebble,
            stack,
            platform,
            plane,
        }
    }
}

/// `POST .../verify` of `domain` of API `shop`; panics unless the answer is 200.
async fn verify(stack: &Stack, domain: &str) -> Value {
    let (status, answer) = stack
        .admin_request(
            Method::POST,
            &format!("/v1/apis/shop/domains/{domain}/verify"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

/// Runs the due orders (the background loop may have started one already) until `done`
/// holds for the domain as the admin API shows it; returns it.
async fn order_until(stack: &Stack, domain: &str, done: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/v1/apis/shop/domains/{domain}");
    let mut seen = Value::Null;
    let reached = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            stack.control.order_due_certificates().await.unwrap();
            let (status, answer) = stack.admin_request(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            if done(&answer) {
                return answer;
            }
            seen = answer;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    reached.unwrap_or_else(|_| panic!("domain {domain} never got there; last seen: {seen}"))
}

fn expiry(domain: &Value) -> i64 {
    let text = domain["certificateExpiresAt"]
        .as_str()
        .unwrap_or_else(|| panic!("no certificate expiry: {domain}"));
    restapi_control_plane::timestamps::parse_rfc3339(text).unwrap()
}

async fn pushed_domain(stack: &Stack, name: &str) -> DomainConfig {
    pushed_api(stack, "eu", "shop")
        .await
        .domains
        .into_iter()
        .find(|domain| domain.name == name)
        .unwrap_or_else(|| panic!("domain {name} not pushed"))
}

/// The leaf certificate the HTTPS listener at `address` serves for `name`, verified against
/// `root_pem`; `None` when the handshake fails (no certificate for the name).
async fn served_certificate(address: SocketAddr, name: &str, root_pem: &str) -> Option<Vec<u8>> {
    let mut roots = rustls::RootCertStore::empty();
    for root in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
        roots.add(root.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let stream = TcpStream::connect(address).await.unwrap();
    let server_name = ServerName::try_from(name.to_owned()).unwrap();
    let stream = connector.connect(server_name, stream).await.ok()?;
    let (_, connection) = stream.get_ref();
    Some(connection.peer_certificates()?.first()?.to_vec())
}

fn first_certificate(chain_pem: &str) -> Vec<u8> {
    CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

/// A client that reaches `DOMAIN` at `address` over HTTPS trusting `roots`, and follows no
/// redirect.
fn https_client(address: SocketAddr, roots: &[&str]) -> reqwest::Client {
    let roots = roots
        .iter()
        .map(|pem| reqwest::Certificate::from_pem(pem.as_bytes()).unwrap());
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only(roots)
        .resolve(DOMAIN, address)
        .build()
        .unwrap()
}
