//! A real DNS server for tests: Debian's `pebble-challtestsrv` (package `pebble`), whose
//! records a test sets over its management API. Every name resolves to 127.0.0.1.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::stack::{TempDir, install_crypto_provider};

/// The DNS test server; `tests/run` installs it (`apt-get install pebble`) when missing.
const CHALLTESTSRV: &str = "/usr/bin/pebble-challtestsrv";

/// A running `pebble-challtestsrv` answering DNS on loopback; stopped when dropped.
pub struct DnsServer {
    /// Where it answers DNS over UDP.
    pub address: SocketAddr,
    /// Its management API, `http://127.0.0.1:<port>`.
    management: String,
    client: reqwest::Client,
    child: Child,
    _log_dir: TempDir,
}

impl DnsServer {
    /// Starts the server with port 0 for DNS and its management API, and reads back the ports
    /// the kernel gave it from `/proc`. Fails the test, saying how to install it, when it
    /// cannot start: a skipped DNS test would claim coverage it does not have.
    pub async fn start() -> Self {
        install_crypto_provider();
        let log_dir = TempDir::new("challtestsrv");
        let log_path = log_dir.path.join("challtestsrv.log");
        let log = std::fs::File::create(&log_path).expect("challtestsrv log file");
        let mut child = Command::new(CHALLTESTSRV)
            .args(["-dns01", "127.0.0.1:0", "-management", "127.0.0.1:0"])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            // Every name is 127.0.0.1, where the test's data planes listen; none is IPv6.
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start {CHALLTESTSRV} ({error}); the domain tests need a real DNS \
                     server: install it with `apt-get install -y pebble` (tests/run does)"
                )
            });

        // Its DNS server listens on UDP and TCP, its management API on TCP: one UDP socket and
        // two listening TCP sockets, all on ports the kernel picked.
        let started = Instant::now();
        let (udp, tcp) = loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("{CHALLTESTSRV} exited at start ({status}):\n{log}");
            }
            let (udp, tcp) = bound_ports(child.id());
            if udp.len() == 1 && tcp.len() == 2 {
                break (udp[0], tcp);
            }
            if started.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("{CHALLTESTSRV} did not listen within 10 s:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };

        // Which TCP port is the management API: the one that answers HTTP (the DNS one waits
        // for the rest of what it reads as a DNS message).
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("management client");
        let mut management = None;
        for port in tcp {
            let url = format!("http://127.0.0.1:{port}");
            let answer = client
                .post(format!("{url}/clear-txt"))
                .json(&json!({ "host": "probe.invalid." }))
                .send()
                .await;
            if answer.is_ok_and(|answer| answer.status().is_success()) {
                management = Some(url);
            }
        }
        let Some(management) = management else {
            let _ = child.kill();
            panic!("{CHALLTESTSRV}: none of its TCP ports answers its management API");
        };
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], udp)),
            management,
            client,
            child,
            _log_dir: log_dir,
        }
    }

    /// Makes `value` the only TXT record at `host`: a test sets a wrong value, then the right
    /// one.
    pub async fn set_txt(&self, host: &str, value: &str) {
        self.post("/clear-txt", json!({ "host": format!("{host}.") }))
            .await;
        self.post(
            "/set-txt",
            json!({ "host": format!("{host}."), "value": value }),
        )
        .await;
    }

    /// Makes `host` resolve to `address` alone, instead of 127.0.0.1.
    pub async fn set_a(&self, host: &str, address: &str) {
        self.post(
            "/add-a",
            json!({ "host": format!("{host}."), "addresses": [address] }),
        )
        .await;
    }

    /// Makes `host` resolve to 127.0.0.1 again.
    pub async fn clear_a(&self, host: &str) {
        self.post("/clear-a", json!({ "host": format!("{host}.") }))
            .await;
    }

    async fn post(&self, path: &str, body: Value) {
        let answer = self
            .client
            .post(format!("{}{path}", self.management))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|error| panic!("challtestsrv {path}: {error}"));
        assert!(
            answer.status().is_success(),
            "challtestsrv {path}: {}",
            answer.status()
        );
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The loopback UDP ports and listening TCP ports of process `pid`'s sockets, read from
/// `/proc` (the kernel's own record of what it bound).
pub fn bound_ports(pid: u32) -> (Vec<u16>, Vec<u16>) {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (vec![], vec![]);
    };
    let inodes: Vec<String> = fds
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let ports = |table: &str, state: &str| -> Vec<u16> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let (local, socket_state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
                if *socket_state != state || !inodes.iter().any(|own| own == inode) {
                    return None;
                }
                u16::from_str_radix(local.rsplit(':').next()?, 16).ok()
            })
            .collect()
    };
    // 07 is an unconnected UDP socket, 0A a listening TCP socket (include/net/tcp_states.h).
    (ports("udp", "07"), ports("tcp", "0A"))
}
