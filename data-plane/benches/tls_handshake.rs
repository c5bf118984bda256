//! Full TLS handshakes per second on the data plane's HTTPS listener with 10,000 custom
//! domains loaded, next to the same listener with one.
//!
//! Each domain has its own ECDSA P-256 certificate, pushed as PEM like a real one; the
//! 10,000 are spread over 1,000 APIs. Clients connect with TLS 1.3, no session resumption,
//! each handshake asking by SNI for a different domain of those loaded, and hang up once the
//! handshake is done. Both listeners run in this process on loopback and are measured in
//! alternating rounds, so both see the same machine; the ratio is the cost of the 10,000.
//!
//! Run with `tests/bench`. `BENCH_ROUNDS` (default 3), `BENCH_SECONDS` (default 3) and
//! `BENCH_DOMAINS` (default 10000) tune the run.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark reports on stdout and stops at its first failure"
)]

mod common;

use common::{env_number, median};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use restapi_shared::Clock;
use restapi_shared::push::{
    ApiConfig, CertificateConfig, DomainConfig, RegionConfig, RegionSnapshot, SigningKeyConfig,
};
use restapi_shared::secret::{SecretBytes, SecretString};
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

/// Domains per API in the large configuration.
const DOMAINS_PER_API: usize = 10;
/// Clients handshaking at once.
const CLIENTS: usize = 16;

type Issuer = CertifiedIssuer<'static, KeyPair>;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rounds = env_number("BENCH_ROUNDS", 3);
    let seconds = env_number("BENCH_SECONDS", 3);
    let domains = usize::try_from(env_number("BENCH_DOMAINS", 10_000)).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let ca = certificate_authority();
    let dir = std::env::temp_dir().join(format!("restapi-tls-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    write_platform_certificate(&ca, &dir);

    let started = Instant::now();
    let many_names = domain_names(domains);
    let many = snapshot(&ca, &many_names);
    let one_name = domain_names(1);
    let one = snapshot(&ca, &one_name);
    println!(
        "{} certificates made in {:.1} s",
        domains + 1,
        started.elapsed().as_secs_f64()
    );

    let (one_addr, many_addr) = runtime.block_on(async {
        let one = start_listener(one, &dir).await;
        let started = Instant::now();
        let many = start_listener(many, &dir).await;
        println!(
            "{domains} domains loaded by the data plane in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        (one, many)
    });
    let client = Arc::new(client_config(&ca));

    println!(
        "full TLS 1.3 handshakes/s, {CLIENTS} clients, {seconds} s per round, SNI a different \
         loaded domain each time"
    );
    let mut one_rates = Vec::new();
    let mut many_rates = Vec::new();
    for round in 1..=rounds {
        let (one_names, many_names) = (Arc::new(one_name.clone()), Arc::new(many_names.clone()));
        let one_rate = runtime.block_on(measure(one_addr, &client, one_names, seconds));
        let many_rate = runtime.block_on(measure(many_addr, &client, many_names, seconds));
        report(&format!("round {round}:"), one_rate, many_rate, domains);
        one_rates.push(one_rate);
        many_rates.push(many_rate);
    }
    report(
        "median:",
        median(&mut one_rates),
        median(&mut many_rates),
        domains,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn report(label: &str, one: f64, many: f64, domains: usize) {
    let ratio = many / one;
    println!(
        "{label:<8} 1 domain {one:>8.0}/s   {domains} domains {many:>8.0}/s   ratio {ratio:.2}"
    );
}

/// Handshakes per second against `address`, clients cycling through `names`.
async fn measure(
    address: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
    names: Arc<Vec<String>>,
    seconds: u64,
) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (config, names, done) = (Arc::clone(config), Arc::clone(&names), Arc::clone(&done));
        clients.push(tokio::spawn(async move {
            let connector = tokio_rustls::TlsConnector::from(config);
            let mut next = client * 7919;
            while Instant::now() < deadline {
                let name = &names[next % names.len()];
                next += CLIENTS;
                let stream = TcpStream::connect(address).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let server_name = ServerName::try_from(name.clone()).unwrap();
                let tls = connector.connect(server_name, stream).await;
                assert!(tls.is_ok(), "handshake for {name} failed: {tls:?}");
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    for client in clients {
        client.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// A data plane serving `snapshot` over TLS on a loopback port.
async fn start_listener(snapshot: RegionSnapshot, dir: &Path) -> SocketAddr {
    let settings: restapi_data_plane::Settings = serde_json::from_value(json!({
        "data_plane_listen": "127.0.0.1:0",
        "control_plane_url": "http://127.0.0.1:9",
        "region": "eu",
        "node_token": "rnt_unused",
        "app_domain": "apps.bench",
        "public_scheme": "https",
        "tls_certificate_file": dir.join("platform.pem"),
        "tls_key_file": dir.join("platform.key"),
    }))
    .unwrap();
    let plane =
        restapi_data_plane::DataPlane::from_snapshot(settings.clone(), Clock::System, snapshot)
            .unwrap();
    let tls = plane.tls_config(&settings).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(restapi_data_plane::tls::serve_tls(
        listener,
        tls.config,
        plane.router(),
        std::future::pending(),
    ));
    address
}

/// `count` custom domain names, as customers would have them.
fn domain_names(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("login.customer-{index}.example"))
        .collect()
}

/// A region whose APIs hold `names`, ten per API, each with its own certificate.
fn snapshot(ca: &Issuer, names: &[String]) -> RegionSnapshot {
    let key = restapi_shared::token::generate_key().unwrap();
    let apis = names
        .chunks(DOMAINS_PER_API)
        .enumerate()
        .map(|(index, names)| ApiConfig {
            id: format!("api_{index}"),
            name: format!("api{index}"),
            roles: vec![],
            default_roles: vec![],
            signing_keys: vec![SigningKeyConfig {
                kid: format!("key_{index}"),
                private_key: SecretBytes::new(key.private_pkcs8.expose().to_vec()),
                public_key: key.public.clone(),
                sign_from: 0,
                retire_at: None,
            }],
            service_accounts: vec![],
            claims: serde_json::Map::new(),
            refresh_token_key: SecretBytes::new(vec![9; 32]),
            web: Default::default(),
            providers: vec![],
            clients: vec![],
            revoked_sessions: vec![],
            domains: names
                .iter()
                .map(|name| DomainConfig {
                    name: name.clone(),
                    challenges: vec![],
                    certificate: Some(issue(ca, name)),
                })
                .collect(),
        })
        .collect();
    RegionSnapshot {
        revision: 1,
        region: RegionConfig {
            id: "reg_bench".into(),
            name: "eu".into(),
            host: "eu.bench".into(),
        },
        apis,
    }
}

fn certificate_authority() -> Issuer {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A certificate for `name` from `ca`, with its own key, as the control plane pushes it.
fn issue(ca: &Issuer, name: &str) -> CertificateConfig {
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .signed_by(&key, ca)
        .unwrap();
    CertificateConfig {
        chain_pem: leaf.pem(),
        key_pem: SecretString::new(key.serialize_pem()),
        expires_at: i64::MAX,
    }
}

fn write_platform_certificate(ca: &Issuer, dir: &Path) {
    let platform = issue(ca, "*.apps.bench");
    std::fs::write(dir.join("platform.pem"), platform.chain_pem).unwrap();
    std::fs::write(dir.join("platform.key"), platform.key_pem.expose()).unwrap();
}

fn client_config(ca: &Issuer) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.as_ref().der().clone()).unwrap();
    let mut config =
        rustls::ClientConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
            .with_root_certificates(roots)
            .with_no_client_auth();
    // Every handshake a full one, as for a new visitor.
    config.resumption = Resumption::disabled();
    config
}
