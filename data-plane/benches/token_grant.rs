//! Client credentials grants per second: our `/_token` next to a minimal handler.
//!
//! The baseline is the least any server can do for a grant: parse the JSON body, check a
//! SHA-256 secret digest and sign an ES256 JWT with ring, in a bare axum handler. Our data
//! plane does that plus everything a real endpoint needs (host routing, client lookup, key
//! selection, a sealed refresh token, RFC 6749 headers, tracing). Both run in this process on
//! loopback and are loaded by `wrk` in alternating rounds, so both see the same machine.
//!
//! Run with `tests/bench` (installs wrk when missing). `BENCH_ROUNDS` (default 3) and
//! `BENCH_SECONDS` (default 5) tune the run.

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark reports on stdout and stops at its first failure"
)]

mod common;

use common::{env_number, median};
use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;

use axum::Json;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use restapi_shared::Clock;
use restapi_shared::push::{
    ApiConfig, ClientSecretConfig, RegionConfig, RegionSnapshot, ServiceAccountConfig,
    SigningKeyConfig,
};
use restapi_shared::secret::{SecretBytes, SecretDigest};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

const CLIENT_ID: &str = "cid_bench";
const CLIENT_SECRET: &str = "rcs_bench-secret-with-enough-entropy-for-a-benchmark";
const CONNECTIONS: &str = "64";

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rounds = env_number("BENCH_ROUNDS", 3);
    let seconds = env_number("BENCH_SECONDS", 5);
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: run tests/bench, which installs it");
        std::process::exit(2);
    }

    // The data plane pays for its logging as in production; the baseline has none.
    restapi_shared::telemetry::init(restapi_shared::telemetry::LogFormat::Text);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (ours, baseline) =
        runtime.block_on(async { (start_data_plane().await, start_baseline().await) });
    let script = write_wrk_script();

    println!("client_credentials grants/s, {CONNECTIONS} connections, {seconds} s per round");
    let mut ours_rates = Vec::new();
    let mut baseline_rates = Vec::new();
    for round in 1..=rounds {
        let base = run_wrk(&script, &format!("http://{baseline}/token"), seconds);
        let data_plane = run_wrk(&script, &format!("http://{ours}/shop/_token"), seconds);
        report(&format!("round {round}:"), base, data_plane);
        baseline_rates.push(base);
        ours_rates.push(data_plane);
    }
    let (ours_median, baseline_median) = (median(&mut ours_rates), median(&mut baseline_rates));
    report("median:", baseline_median, ours_median);
}

fn report(label: &str, baseline: f64, data_plane: f64) {
    let ratio = data_plane / baseline;
    println!(
        "{label:<8} baseline {baseline:>9.0}/s   data plane {data_plane:>9.0}/s   ratio {ratio:.2}"
    );
}

/// Our data plane, serving one API from a snapshot, as it would after a sync.
async fn start_data_plane() -> SocketAddr {
    let key = restapi_shared::token::generate_key().unwrap();
    let snapshot = RegionSnapshot {
        revision: 1,
        region: RegionConfig {
            id: "reg_bench".into(),
            name: "eu".into(),
            host: "127.0.0.1".into(),
        },
        apis: vec![ApiConfig {
            id: "api_bench".into(),
            name: "shop".into(),
            roles: vec!["reader".into()],
            default_roles: vec![],
            signing_keys: vec![SigningKeyConfig {
                kid: "key_bench".into(),
                private_key: key.private_pkcs8,
                public_key: key.public,
                sign_from: 0,
                retire_at: None,
            }],
            service_accounts: vec![ServiceAccountConfig {
                id: "sa_bench".into(),
                client_id: CLIENT_ID.into(),
                name: "bench".into(),
                roles: vec!["reader".into()],
                enabled: true,
                secrets: vec![ClientSecretConfig {
                    id: "sec_bench".into(),
                    digest: SecretDigest::of(CLIENT_SECRET),
                    enabled: true,
                    expires_at: i64::MAX,
                }],
            }],
            claims: serde_json::Map::new(),
            refresh_token_key: SecretBytes::new(vec![9; 32]),
            web: Default::default(),
            providers: vec![],
            clients: vec![],
            revoked_sessions: vec![],
            domains: vec![],
        }],
    };
    let settings = serde_json::from_value(json!({
        "data_plane_listen": "127.0.0.1:0",
        "control_plane_url": "http://127.0.0.1:9",
        "region": "eu",
        "node_token": "rnt_unused",
        "app_domain": "apps.bench",
        "public_scheme": "http",
    }))
    .unwrap();
    let plane =
        restapi_data_plane::DataPlane::from_snapshot(settings, Clock::System, snapshot).unwrap();
    serve(plane.router()).await
}

#[derive(Deserialize)]
struct GrantRequest {
    grant_type: String,
    client_id: String,
    client_secret: String,
}

/// The minimal handler: parse, check the digest, sign.
async fn start_baseline() -> SocketAddr {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = std::sync::Arc::new(
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap(),
    );
    let digest = SecretDigest::of(CLIENT_SECRET);
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","typ":"JWT","kid":"k"}"#);
    let handler = move |Json(request): Json<GrantRequest>| {
        let (pair, digest, header) = (pair.clone(), digest.clone(), header.clone());
        async move {
            if request.grant_type != "client_credentials"
                || request.client_id != CLIENT_ID
                || !digest.matches(&request.client_secret)
            {
                return Err(axum::http::StatusCode::UNAUTHORIZED);
            }
            let claims = json!({ "sub": request.client_id, "exp": 4_000_000_000u64 });
            let mut token = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
            let signature = pair.sign(&SystemRandom::new(), token.as_bytes()).unwrap();
            token.push('.');
            token.push_str(&URL_SAFE_NO_PAD.encode(signature.as_ref()));
            Ok(Json(
                json!({ "access_token": token, "token_type": "Bearer", "expires_in": 3600 }),
            ))
        }
    };
    serve(axum::Router::new().route("/token", post(handler))).await
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn write_wrk_script() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("restapi-bench-{}.lua", std::process::id()));
    let body = json!({ "grant_type": "client_credentials", "client_id": CLIENT_ID,
                       "client_secret": CLIENT_SECRET });
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(file, "wrk.method = \"POST\"").unwrap();
    writeln!(file, "wrk.headers[\"Content-Type\"] = \"application/json\"").unwrap();
    writeln!(file, "wrk.body = '{body}'").unwrap();
    path
}

/// Runs wrk once and returns requests per second; exits if any answer was not 2xx, since a
/// fast error is not a grant.
fn run_wrk(script: &std::path::Path, url: &str, seconds: u64) -> f64 {
    let output = Command::new("wrk")
        .args(["-t2", "-c", CONNECTIONS, "-d", &format!("{seconds}s"), "-s"])
        .arg(script)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    if text.contains("Non-2xx") {
        eprintln!("{url} answered errors under load:\n{text}");
        std::process::exit(1);
    }
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|rate| rate.trim().parse().ok())
        .unwrap_or_else(|| {
            eprintln!("cannot read wrk's output:\n{text}");
            std::process::exit(1);
        })
}
