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
        let dns_server = dns_server.map(|server| server.to_string());
        Self::start_with_settings(database, json!({ "dns_server": dns_server })).await
    }

    /// Starts a control plane on `database` with the test settings and `extra` ones, with a
    /// manual clock set to the real time.
    pub async fn start_with_settings(database: &TestDatabase, extra: Value) -> Self {
        install_crypto_provider();
        // Both planes' logs, for a person debugging a test: `RUST_LOG=info cargo test ...`.
        if std::env::var_os("RUST_LOG").is_some() {
            restapi_shared::telemetry::init(restapi_shared::telemetry::LogFormat::Text);
        }
        let clock = Clock::manual(Clock::System.now());
        let data_dir = TempDir::new("stack");
        let mut settings = json!({
            "control_plane_listen": "127.0.0.1:0",
            "database_url": database.url,
            "data_dir": data_dir.path,
            "admin_token": ADMIN_TOKEN,
            "master_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            "signing_key_publish_delay_seconds": 300,
            "app_domain": APP_DOMAIN,
            "public_scheme": "http",
        });
        for (key, value) in extra.as_object().expect("extra settings") {
            settings[key] = value.clone();
        }
        let settings: restapi_control_plane::config::Settings =
            serde_json::from_value(settings).expect("control plane settings");
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
        let token = self.region_with_credential(name).await;
        let (plane, _) = self.start_data_plane(name, &token, json!({})).await;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind data plane");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(restapi_data_plane::serve(
            listener,
            plane.router(),
            std::future::pending(),
        ));
        self.ready(plane, addr, name).await
    }

    /// Creates a region and starts a data plane for it that serves HTTPS as in production:
    /// the platform certificate from `tls`, custom domains' own certificates by SNI, and a
    /// plain listener that answers ACME challenges and redirects the rest to HTTPS. Its
    /// public scheme is `https`.
    /// `plain` is bound by the caller, so that a test CA can be told its port first.
    pub async fn region_with_https_data_plane(
        &self,
        name: &str,
        tls: &PlatformCertificate,
        plain: TcpListener,
    ) -> HttpsDataPlane {
        let token = self.region_with_credential(name).await;
        let extra = json!({
            "public_scheme": "https",
            "tls_certificate_file": tls.chain_file,
            "tls_key_file": tls.key_file,
        });
        let (plane, settings) = self.start_data_plane(name, &token, extra).await;
        let tls = plane.tls_config(&settings).expect("TLS configuration");
        let secure = TcpListener::bind("127.0.0.1:0").await.expect("bind HTTPS");
        let (addr, https) = (
            plain.local_addr().expect("local addr"),
            secure.local_addr().expect("local addr"),
        );
        tokio::spawn(restapi_data_plane::serve(
            plain,
            plane.https_redirect(https.port()),
            std::future::pending(),
        ));
        tokio::spawn(restapi_data_plane::tls::serve_tls(
            secure,
            tls.config,
            plane.router(),
            std::future::pending(),
        ));
        HttpsDataPlane {
            plain: self.ready(plane, addr, name).await,
            https,
        }
    }

    /// Creates region `name` (host `<name>.test`) and a node credential; returns its token.
    async fn region_with_credential(&self, name: &str) -> String {
        self.create(
            "/v1/regions",
            json!({ "name": name, "host": format!("{name}.test") }),
        )
        .await;
        let credential = self
            .create(
                "/v1/node-credentials",
                json!({ "region": name, "name": format!("{name}-1") }),
            )
            .await;
        credential["token"].as_str().expect("node token").to_owned()
    }

    /// Starts a data plane of region `name` with the test settings and `extra` ones.
    async fn start_data_plane(
        &self,
        name: &str,
        token: &str,
        extra: Value,
    ) -> (
        restapi_data_plane::DataPlane,
        restapi_data_plane::settings::Settings,
    ) {
        let mut settings = json!({
            "data_plane_listen": "127.0.0.1:0",
            "control_plane_url": self.control_url,
            "region": name,
            "node_token": token,
            "app_domain": APP_DOMAIN,
            "public_scheme": "http",
        });
        for (key, value) in extra.as_object().expect("extra settings") {
            settings[key] = value.clone();
        }
        let settings: restapi_data_plane::settings::Settings =
            serde_json::from_value(settings).expect("data plane settings");
        let plane = restapi_data_plane::DataPlane::start(settings.clone(), self.clock.clone())
            .expect("data plane starts");
        (plane, settings)
    }

    async fn ready(
        &self,
        plane: restapi_data_plane::DataPlane,
        addr: SocketAddr,
        name: &str,
    ) -> DataPlaneHandle {
        let handle = DataPlaneHandle {
            addr,
            plane,
            region_host: format!("{name}.test"),
        };
        wait_until("data plane ready", Duration::from_secs(10), || async {
            handle.plane.is_ready()
        })
        .await;
        handle
    }
}

/// A data plane serving HTTPS: `plain` is its plain listener (ACME challenges, redirects).
pub struct HttpsDataPlane {
    pub plain: DataPlaneHandle,
    /// Its HTTPS listener.
    pub https: SocketAddr,
}

/// The platform's certificate for `*.apps.test` and the regions' hosts, from a private CA,
/// written to files as an operator would.
pub struct PlatformCertificate {
    pub chain_file: std::path::PathBuf,
    pub key_file: std::path::PathBuf,
    /// The CA's certificate, as PEM, for clients to trust.
    pub ca_pem: String,
    _dir: TempDir,
}

impl PlatformCertificate {
    pub fn generate() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("CA");
        let names = vec![format!("*.{APP_DOMAIN}"), "eu.test".to_owned()];
        let key = KeyPair::generate().expect("key");
        let leaf = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &ca)
            .expect("certificate");
        let dir = TempDir::new("platform-tls");
        let chain_file = dir.path.join("chain.pem");
        let key_file = dir.path.join("key.pem");
        std::fs::write(&chain_file, leaf.pem()).expect("write chain");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        Self {
            chain_file,
            key_file,
            ca_pem: ca.as_ref().pem(),
            _dir: dir,
        }
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
