//! Let's Encrypt's test CA, Pebble (Debian package `pebble`), run locally: a real ACME server
//! that validates HTTP-01 challenges by fetching them from the test's data plane, and issues
//! certificates from a root it makes at each start.
//!
//! Debian's Pebble ships no certificate for its own HTTPS listener: one is made here, from a
//! CA whose certificate the control plane is told to trust (`acme_roots_file`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::dns::bound_ports;
use super::stack::{TempDir, install_crypto_provider};

/// The CA; `tests/run` installs it (`apt-get install pebble`) when missing.
const PEBBLE: &str = "/usr/bin/pebble";

/// A running Pebble; stopped when dropped.
pub struct Pebble {
    /// The ACME directory URL.
    pub directory: String,
    /// The PEM file of the CA behind Pebble's own HTTPS certificate.
    pub roots_file: PathBuf,
    /// Its management API, where the issuing root is published.
    management: String,
    config_file: PathBuf,
    log_file: PathBuf,
    dns: SocketAddr,
    client: reqwest::Client,
    child: Option<Child>,
    _dir: TempDir,
}

impl Pebble {
    /// Starts Pebble resolving names at `dns` and validating HTTP-01 challenges on
    /// `http_port`, its ACME and management listeners on ports the kernel picks. Fails the
    /// test, saying how to install it, when it cannot start.
    pub async fn start(dns: SocketAddr, http_port: u16) -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        install_crypto_provider();
        let dir = TempDir::new("pebble");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("CA");
        let key = KeyPair::generate().expect("key");
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let certificate = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &ca)
            .expect("certificate");
        let roots_file = dir.path.join("ca.pem");
        std::fs::write(&roots_file, ca.as_ref().pem()).expect("write CA");
        let certificate_file = dir.path.join("cert.pem");
        let key_file = dir.path.join("key.pem");
        std::fs::write(&certificate_file, certificate.pem()).expect("write certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        let config_file = dir.path.join("pebble.json");
        let config = |listen: &str, management: &str| {
            json!({ "pebble": {
                "listenAddress": listen,
                "managementListenAddress": management,
                "certificate": certificate_file,
                "privateKey": key_file,
                "httpPort": http_port,
                "tlsPort": 0,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false,
            }})
        };
        std::fs::write(
            &config_file,
            config("127.0.0.1:0", "127.0.0.1:0").to_string(),
        )
        .expect("write config");

        let ca_certificate =
            reqwest::Certificate::from_pem(ca.as_ref().pem().as_bytes()).expect("CA certificate");
        let client = reqwest::Client::builder()
            .tls_certs_only([ca_certificate])
            .timeout(Duration::from_secs(2))
            .build()
            .expect("Pebble client");
        let mut pebble = Self {
            directory: String::new(),
            roots_file,
            management: String::new(),
            log_file: dir.path.join("pebble.log"),
            config_file,
            dns,
            client,
            child: None,
            _dir: dir,
        };
        let ports = pebble.launch().await;

        // Which port is the ACME one: the one whose `/dir` answers a directory.
        let mut directory = None;
        let mut management = None;
        for port in ports {
            let url = format!("https://127.0.0.1:{port}");
            let answer = pebble.client.get(format!("{url}/dir")).send().await;
            let is_directory = match answer {
                Ok(answer) if answer.status().is_success() => answer
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|body| body["newNonce"].is_string()),
                _ => false,
            };
            if is_directory {
                directory = Some(format!("{url}/dir"));
            } else {
                management = Some(url);
            }
        }
        let (Some(directory), Some(management)) = (directory, management) else {
            panic!(
                "{PEBBLE}: no ACME directory on its ports:\n{}",
                pebble.log()
            );
        };
        // Restarts keep the ports, so the control plane's directory URL stays valid.
        let port = |url: &str| url.rsplit(':').next().unwrap_or_default().to_owned();
        let listen = format!("127.0.0.1:{}", port(directory.trim_end_matches("/dir")));
        let management_listen = format!("127.0.0.1:{}", port(&management));
        std::fs::write(
            &pebble.config_file,
            config(&listen, &management_listen).to_string(),
        )
        .expect("write config");
        pebble.directory = directory;
        pebble.management = management;
        pebble
    }

    /// The root Pebble issues from (it makes a new one at each start), as PEM.
    pub async fn issuing_root(&self) -> String {
        let answer = self
            .client
            .get(format!("{}/roots/0", self.management))
            .send()
            .await
            .expect("Pebble's roots");
        assert!(answer.status().is_success(), "roots: {}", answer.status());
        answer.text().await.expect("root PEM")
    }

    /// Stops Pebble: the CA is down.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts Pebble again on the same ports, with a new root and no memory of accounts.
    pub async fn restart(&mut self) {
        self.stop();
        self.launch().await;
        let started = Instant::now();
        while self.client.get(&self.directory).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{PEBBLE} did not come back:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Spawns the process and returns its two listening TCP ports once bound.
    async fn launch(&mut self) -> Vec<u16> {
        let log = std::fs::File::create(&self.log_file).expect("Pebble log file");
        let mut child = Command::new(PEBBLE)
            .arg("-config")
            .arg(&self.config_file)
            .args(["-dnsserver", &self.dns.to_string()])
            // No random pauses before validating, no nonces refused for practice, and a fresh
            // authorisation for every order, so each renewal validates HTTP-01 again.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start {PEBBLE} ({error}); the certificate tests need Let's \
                     Encrypt's test CA: install it with `apt-get install -y pebble` (tests/run \
                     does)"
                )
            });
        let started = Instant::now();
        let ports = loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{PEBBLE} exited at start ({status}):\n{}", self.log());
            }
            let (_, tcp) = bound_ports(child.id());
            if tcp.len() == 2 {
                break tcp;
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                panic!("{PEBBLE} did not listen within 10 s:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        self.child = Some(child);
        ports
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
    }
}
