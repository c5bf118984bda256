//! Both planes running for real: the control plane on a test database, one data plane per
//! region following it through the node API, each on its own port 0 listener.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use restapi_shared::Clock;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use super::db::TestDatabase;

/// The operator token every test stack is provisioned with.
pub const ADMIN_TOKEN: &str = "rot_test-operator-token-with-enough-entropy-000000";
/// The app domain of every test data plane.
pub const APP_DOMAIN: &str = "apps.test";

/// A control plane and its admin client.
pub struct Stack {
    pub control: restapi_control_plane::ControlPlane,
    pub clock: Clock,
    pub control_url: String,
    pub admin: reqwest::Client,
    _data_dir: TempDir,
}

/// A data plane serving one region, with a client that resolves its hosts to it.
pub struct DataPlaneHandle {
    pub addr: SocketAddr,
    pub plane: restapi_data_plane::DataPlane,
    pub region_host: String,
}

impl Stack {
    /// Starts a control plane on `database`, with a manual clock set to the real time.
    pub async fn start(database: &TestDatabase) -> Self {
        Self::start_with_dns_server(database, None).await
    }

    /// Starts a control plane on `database` that looks custom domains up at `dns_server` (the
    /// system's resolver when `None`), with a manual clock set to the real time.
    pub async fn start_with_dns_server(
        database: &TestDatabase,
        dns_server: Option<SocketAddr>,
    ) -> Self {
        install_crypto_provider();
        // Both planes' logs, for a person debugging a test: `RUST_LOG=info cargo test ...`.
        if std::env::var_os("RUST_LOG").is_some() {
            restapi_shared::telemetry::init(restapi_shared::telemetry::LogFormat::Text);
        }
        let clock = Clock::manual(Clock::System.now());
        let data_dir = TempDir::new("stack");
        let settings: restapi_control_plane::config::Settings = serde_json::from_value(json!({
            "control_plane_listen": "127.0.0.1:0",
            "database_url": database.url,
            "data_dir": data_dir.path,
            "admin_token": ADMIN_TOKEN,
            "master_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "signing_key_publish_delay_seconds": 300,
            "app_domain": APP_DOMAIN,
            "public_scheme": "http",
            "dns_server": dns_server.map(|server| server.to_string()),
        }))
        .expect("control plane settings");
        let control = restapi_control_plane::ControlPlane::start(&settings, clock.clone())
            .await
            .expect("control plane starts");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind control plane");
        let control_url = format!("http://{}", listener.local_addr().expect("local addr"));
        let router = control.router();
        tokio::spawn(restapi_control_plane::serve(
            listener,
            router,
            std::future::pending(),
        ));

        let admin = reqwest::Client::builder()
            .default_headers(
                [(
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {ADMIN_TOKEN}").parse().expect("header"),
                )]
                .into_iter()
                .collect(),
            )
            .build()
            .expect("admin client");
        Self {
            control,
            clock,
            control_url,
            admin,
            _data_dir: data_dir,
        }
    }

    /// `POST /v1/...` as the operator; panics unless the answer is 201.
    pub async fn create(&self, path: &str, body: Value) -> Value {
        let response = self
            .admin_request(reqwest::Method::POST, path, Some(body))
            .await;
        assert_eq!(
            response.0,
            StatusCode::CREATED,
            "POST {path}: {}",
            response.1
        );
        response.1
    }

    /// Any admin call; returns status and JSON body (`Null` for an empty body).
    pub async fn admin_request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .admin
            .request(method, format!("{}{path}", self.control_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin request");
        let status = response.status();
        let text = response.text().await.expect("admin body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Waits until `plane` serves every configuration written so far, and returns how long
    /// that took; panics after a second, the push's promise.
    pub async fn wait_for_push(&self, plane: &DataPlaneHandle) -> Duration {
        let head = self
            .control
            .store()
            .refresh_head()
            .await
            .expect("head revision");
        wait_until("configuration pushed", Duration::from_secs(1), || async {
            plane.plane.revision().is_some_and(|served| served >= head)
        })
        .await
    }

    /// Creates a region with a node credential and starts a data plane for it.
    pub async fn region_with_data_plane(&self, name: &str) -> DataPlaneHandle {
        let region_host = format!("{name}.test");
        self.create("/v1/regions", json!({ "name": name, "host": region_host }))
            .await;
        let credential = self
            .create(
                "/v1/node-credentials",
                json!({ "region": name, "name": format!("{name}-1") }),
            )
            .await;
        let token = credential["token"].as_str().expect("node token").to_owned();

        let settings: restapi_data_plane::settings::Settings = serde_json::from_value(json!({
            "data_plane_listen": "127.0.0.1:0",
            "control_plane_url": self.control_url,
            "region": name,
            "node_token": token,
            "app_domain": APP_DOMAIN,
            "public_scheme": "http",
        }))
        .expect("data plane settings");
        let plane = restapi_data_plane::DataPlane::start(settings, self.clock.clone())
            .expect("data plane starts");
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind data plane");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(restapi_data_plane::serve(
            listener,
            plane.router(),
            std::future::pending(),
        ));

        let handle = DataPlaneHandle {
            addr,
            plane,
            region_host,
        };
        wait_until("data plane ready", Duration::from_secs(10), || async {
            handle.plane.is_ready()
        })
        .await;
        handle
    }
}

impl DataPlaneHandle {
    /// A client that sends `hosts` to this data plane, as DNS would in production.
    pub fn client(&self, hosts: &[&str]) -> reqwest::Client {
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        for host in hosts {
            builder = builder.resolve(host, self.addr);
        }
        builder.build().expect("data plane client")
    }

    /// `http://<region host>:<port>/<api>`, the API's base on the regional host.
    pub fn regional_base(&self, api: &str) -> String {
        format!("http://{}:{}/{api}", self.region_host, self.addr.port())
    }

    /// `http://<api>.<app domain>:<port>/api`, the API's base on its app host.
    pub fn app_base(&self, api: &str) -> String {
        format!("http://{api}.{APP_DOMAIN}:{}/api", self.addr.port())
    }

    /// Both host names of `api` in this region, for [`DataPlaneHandle::client`].
    pub fn hosts(&self, api: &str) -> [String; 2] {
        [self.region_host.clone(), format!("{api}.{APP_DOMAIN}")]
    }
}

/// Polls `condition` until it holds; panics naming `what` after `limit`.
pub async fn wait_until<F, Fut>(what: &str, limit: Duration, mut condition: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if condition().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Installs ring as the process-wide rustls provider, as both binaries do.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A directory removed when dropped.
pub struct TempDir {
    pub path: std::path::PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "restapi-{label}-{}",
            restapi_shared::ids::new_id("t")
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
