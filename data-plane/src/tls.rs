//! The HTTPS listener: TLS 1.2 and 1.3 with rustls, HTTP/2 or HTTP/1.1 by ALPN, the
//! certificate picked by the name the client asks for (SNI) from memory.
//!
//! The platform's own names (the regional host, and every API's app host under the app
//! domain) share one certificate read from files, typically a wildcard, and read again when
//! the files change, so the operator's renewal tooling needs no restart; a custom domain has
//! its own, pushed with the domain. A name the data plane does not serve, or one whose
//! certificate is not issued yet, gets none, so the handshake fails before any request.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use restapi_shared::x509::leaf_validity;
use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, version};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::ConfigStore;
use crate::metrics::Metrics;

/// How often the platform certificate's files are read again to find a renewal. Renewal
/// tools replace a certificate weeks before it expires; a minute costs nothing.
pub const PLATFORM_CERTIFICATE_RECHECK: Duration = Duration::from_secs(60);

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is missing, unreadable or holds no PEM certificate.
    #[error("cannot read the certificate chain from {0}")]
    Certificate(String),
    /// The key file is missing, unreadable or holds no PEM private key.
    #[error("cannot read the private key from {0}")]
    Key(String),
    /// The key is not one rustls can sign with, or does not match the certificate.
    #[error("the private key cannot be used with the certificate: {0}")]
    Unusable(rustls::Error),
}

/// A certificate chain (leaf first) and its key, from PEM text.
pub fn certified_key_from_pem(chain: &str, key: &str) -> Result<Arc<CertifiedKey>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .ok()
        .filter(|certificates| !certificates.is_empty())
        .ok_or_else(|| TlsError::Certificate("the PEM chain".to_owned()))?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|_| TlsError::Key("the PEM key".to_owned()))?;
    let certified = CertifiedKey::from_der(certificates, key, &default_provider())
        .map_err(TlsError::Unusable)?;
    Ok(Arc::new(certified))
}

/// The platform certificate: a chain (leaf first) and key from two PEM files, served until
/// the chain file changes and the pair read then is usable.
///
/// The chain file is the one compared: a renewal always brings a new certificate, and a tool
/// that writes the key second leaves for a moment a new chain with the old key, which rustls
/// refuses as a mismatch; the old certificate then keeps serving and the next look succeeds.
#[derive(Debug)]
pub struct PlatformCertificate {
    chain_file: PathBuf,
    key_file: PathBuf,
    served: ArcSwap<Served>,
}

#[derive(Debug)]
struct Served {
    /// The chain file's text when it was read, to tell a renewal from the same file.
    chain_pem: String,
    key: Arc<CertifiedKey>,
    /// When the leaf expires, in Unix seconds; 0 when it cannot be read.
    expires_at: i64,
}

impl PlatformCertificate {
    /// Reads the certificate from `chain_file` and `key_file`.
    pub fn load(chain_file: &Path, key_file: &Path) -> Result<Self, TlsError> {
        let served = read_pair(read_chain(chain_file)?, chain_file, key_file)?;
        Ok(Self {
            chain_file: chain_file.to_owned(),
            key_file: key_file.to_owned(),
            served: ArcSwap::from_pointee(served),
        })
    }

    /// The certificate to hand to a client.
    pub fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.served.load().key)
    }

    /// When the certificate served expires, in Unix seconds; 0 when it cannot be read.
    pub fn expires_at(&self) -> i64 {
        self.served.load().expires_at
    }

    /// Reads the files again and serves what they hold if the chain changed. Returns whether
    /// it did; on an error the certificate served stays.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let chain_pem = read_chain(&self.chain_file)?;
        if chain_pem == self.served.load().chain_pem {
            return Ok(false);
        }
        let served = read_pair(chain_pem, &self.chain_file, &self.key_file)?;
        self.served.store(Arc::new(served));
        Ok(true)
    }

    /// Looks at the files every `period` for as long as the process runs, serving a renewed
    /// certificate as soon as it is found and counting each outcome in `metrics`.
    pub async fn watch(self: Arc<Self>, period: Duration, metrics: Arc<Metrics>) {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            // Two small local files once a minute: read here rather than on a blocking thread.
            match self.reload() {
                Ok(false) => {}
                Ok(true) => {
                    tracing::info!(
                        file = %self.chain_file.display(),
                        expires_at = self.expires_at(),
                        "serving the renewed platform certificate"
                    );
                    metrics.platform_certificate_reloaded(true);
                }
                Err(error) => {
                    tracing::warn!(
                        %error,
                        "the platform certificate's files changed but cannot be used; \
                         the previous certificate keeps serving"
                    );
                    metrics.platform_certificate_reloaded(false);
                }
            }
        }
    }
}

fn read_chain(chain_file: &Path) -> Result<String, TlsError> {
    std::fs::read_to_string(chain_file)
        .map_err(|_| TlsError::Certificate(chain_file.display().to_string()))
}

/// The certificate of `chain_pem`, read from `chain_file`, with the key in `key_file`;
/// errors name the file at fault.
fn read_pair(chain_pem: String, chain_file: &Path, key_file: &Path) -> Result<Served, TlsError> {
    let key_pem = std::fs::read_to_string(key_file)
        .map_err(|_| TlsError::Key(key_file.display().to_string()))?;
    let key = certified_key_from_pem(&chain_pem, &key_pem).map_err(|error| match error {
        TlsError::Certificate(_) => TlsError::Certificate(chain_file.display().to_string()),
        TlsError::Key(_) => TlsError::Key(key_file.display().to_string()),
        TlsError::Unusable(error) => TlsError::Unusable(error),
    })?;
    let expires_at = leaf_validity(&chain_pem).map_or(0, |(_, not_after)| not_after);
    Ok(Served {
        chain_pem,
        key,
        expires_at,
    })
}

/// What the HTTPS listener is started with.
#[derive(Debug)]
pub struct TlsSetup {
    /// The TLS configuration to accept connections with.
    pub config: Arc<ServerConfig>,
    /// The platform certificate in it, to watch for renewals.
    pub platform: Arc<PlatformCertificate>,
}

/// Picks the certificate of the name a client asks for.
#[derive(Debug)]
pub struct CertificateResolver {
    store: Arc<ConfigStore>,
    app_domain: String,
    platform: Arc<PlatformCertificate>,
}

impl CertificateResolver {
    /// Resolves the region's host and the app hosts under `app_domain` to `platform`.
    pub fn new(
        store: Arc<ConfigStore>,
        app_domain: &str,
        platform: Arc<PlatformCertificate>,
    ) -> Self {
        Self {
            store,
            app_domain: app_domain.to_ascii_lowercase(),
            platform,
        }
    }

    fn is_platform_name(&self, name: &str) -> bool {
        let app_host = name
            .strip_suffix(self.app_domain.as_str())
            .and_then(|label| label.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'));
        let region = self.store.current();
        let regional = region
            .as_deref()
            .is_some_and(|region| region.region.host.eq_ignore_ascii_case(name));
        app_host || regional
    }
}

impl ResolvesServerCert for CertificateResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        // rustls hands over the name lowercase and without a trailing dot.
        let name = client_hello.server_name()?;
        if self.is_platform_name(name) {
            return Some(self.platform.current());
        }
        let certificate = self.store.current()?.certificate_for(name);
        if certificate.is_none() {
            tracing::debug!(name, "TLS handshake for a name without a certificate");
        }
        certificate
    }
}

/// A TLS server configuration with modern versions only, HTTP/2 preferred.
pub fn server_config(resolver: CertificateResolver) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_protocol_versions(&[&version::TLS13, &version::TLS12])
        .map_err(TlsError::Unusable)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The plain listener's answer once the data plane serves HTTPS: the ACME HTTP-01
/// challenges of custom domains, and a permanent redirect of everything else to the same host
/// and path over HTTPS on `https_port` (308, so a POST stays a POST).
pub fn redirect_to_https(store: Arc<ConfigStore>, https_port: u16) -> Router {
    Router::new().fallback(move |request: axum::extract::Request| async move {
        let host = request
            .headers()
            .get(axum::http::header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        if let Some(answer) = acme_challenge_answer(&store, host, request.uri().path()) {
            return answer;
        }
        let hostname = host.rsplit_once(':').map_or(host, |(name, _)| name);
        let path = request
            .uri()
            .path_and_query()
            .map_or("/", |path| path.as_str());
        let port = if https_port == 443 {
            String::new()
        } else {
            format!(":{https_port}")
        };
        let location = format!("https://{hostname}{port}{path}");
        match axum::http::HeaderValue::from_str(&location) {
            Ok(location) if !hostname.is_empty() => (
                axum::http::StatusCode::PERMANENT_REDIRECT,
                [(axum::http::header::LOCATION, location)],
            )
                .into_response(),
            _ => axum::http::StatusCode::BAD_REQUEST.into_response(),
        }
    })
}

/// The answer to an ACME HTTP-01 challenge (RFC 8555 §8.3) for `path` on custom domain
/// `host` (as sent, port allowed), when one is pending; `None` for every other request.
pub fn acme_challenge_answer(
    store: &ConfigStore,
    host: &str,
    path: &str,
) -> Option<axum::response::Response> {
    let token = path.strip_prefix("/.well-known/acme-challenge/")?;
    let hostname = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let region = store.current()?;
    let key_authorization = region.acme_challenge(&hostname.to_ascii_lowercase(), token)?;
    Some(
        (
            [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
            key_authorization.to_owned(),
        )
            .into_response(),
    )
}

/// Serves `router` over TLS on `listener` until `shutdown` completes, then waits for the
/// connections in flight.
pub async fn serve_tls(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(config);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: the next accept may work.
                    tracing::warn!(%error, "cannot accept a TLS connection");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let acceptor = acceptor.clone();
        // The peer's address goes to upstreams, as on the plain listener.
        let service = router
            .clone()
            .layer(axum::Extension(axum::extract::ConnectInfo(peer)))
            .map_request(|request: hyper::Request<hyper::body::Incoming>| {
                request.map(axum::body::Body::new)
            });
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream = match acceptor.accept(stream).await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::debug!(%peer, %error, "TLS handshake failed");
                    return;
                }
            };
            let builder = Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            if let Err(error) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%peer, %error, "TLS connection ended with an error");
            }
        });
    }
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, KeyUsagePurpose,
    };
    use reqwest::{StatusCode, Version};

    use super::*;
    use crate::Settings;
    use crate::test_support::{APP_DOMAIN, Fixture, REGIONAL, settings};

    /// A private CA.
    fn certificate_authority() -> CertifiedIssuer<'static, KeyPair> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap()
    }

    /// A certificate `ca` issued for `names`, and its key, as PEM.
    fn issue(ca: &CertifiedIssuer<'static, KeyPair>, names: Vec<String>) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, ca)
            .unwrap();
        (leaf.pem(), key.serialize_pem())
    }

    /// Serves `fixture` over TLS with `settings`' platform certificate on a port of its own;
    /// returns the address and the platform certificate.
    async fn serve_https(
        fixture: &Fixture,
        settings: &Settings,
    ) -> (std::net::SocketAddr, Arc<PlatformCertificate>) {
        let tls = fixture.data_plane.tls_config(settings).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(serve_tls(
            listener,
            tls.config,
            fixture.router.clone(),
            std::future::pending(),
        ));
        (address, tls.platform)
    }

    /// A client that sends the platform's names and `unknown.example` to `address` and trusts
    /// only `ca_pem`, with no connection kept from an earlier call.
    fn client_trusting(ca_pem: &str, address: std::net::SocketAddr) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
            .resolve(&format!("shop.{APP_DOMAIN}"), address)
            .resolve(REGIONAL, address)
            .resolve("unknown.example", address)
            .build()
            .unwrap()
    }

    /// Whether `condition` holds within a hundred looks, `period` apart.
    async fn eventually<F, Fut>(period: Duration, mut condition: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        for _ in 0..100 {
            if condition().await {
                return true;
            }
            tokio::time::sleep(period).await;
        }
        false
    }

    /// A private CA (as PEM) and, in `dir`, a certificate it issued for the platform's names.
    fn platform_certificate(dir: &Path) -> (String, Settings) {
        let ca = certificate_authority();
        let (chain_pem, key_pem) = issue(&ca, vec![format!("*.{APP_DOMAIN}"), REGIONAL.into()]);
        let chain = dir.join("chain.pem");
        let key_file = dir.join("key.pem");
        std::fs::write(&chain, chain_pem).unwrap();
        std::fs::write(&key_file, key_pem).unwrap();
        let mut settings = settings(None);
        settings.tls_certificate_file = Some(chain);
        settings.tls_key_file = Some(key_file);
        (ca.pem(), settings)
    }

    #[tokio::test]
    async fn platform_names_get_the_certificate_over_http2_and_other_names_none() {
        let _ = default_provider().install_default();
        let dir = std::env::temp_dir().join(restapi_shared::ids::new_id("tls-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca_pem, settings) = platform_certificate(&dir);
        let fixture = Fixture::new();
        let (address, _) = serve_https(&fixture, &settings).await;

        let app_host = format!("shop.{APP_DOMAIN}");
        let client = client_trusting(&ca_pem, address);
        let port = address.port();
        for url in [
            format!("https://{app_host}:{port}/api/.well-known/jwks.json"),
            format!("https://{REGIONAL}:{port}/shop/.well-known/jwks.json"),
        ] {
            let answer = client.get(&url).send().await.unwrap();
            assert_eq!(answer.status(), StatusCode::OK, "{url}");
            assert_eq!(answer.version(), Version::HTTP_2, "{url}");
        }
        // No certificate for a name the data plane does not serve: the handshake fails.
        let unknown = format!("https://unknown.example:{port}/api/.well-known/jwks.json");
        assert!(client.get(&unknown).send().await.is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_renewed_platform_certificate_is_served_without_a_restart_and_a_broken_one_is_not() {
        let _ = default_provider().install_default();
        let dir = std::env::temp_dir().join(restapi_shared::ids::new_id("tls-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let (first_ca, settings) = platform_certificate(&dir);
        let fixture = Fixture::new();
        let (address, platform) = serve_https(&fixture, &settings).await;
        let period = Duration::from_millis(50);
        tokio::spawn(
            fixture
                .data_plane
                .watch_platform_certificate(Arc::clone(&platform), period),
        );
        let url = format!(
            "https://{REGIONAL}:{}/shop/.well-known/jwks.json",
            address.port()
        );
        let served_by = |ca_pem: String| {
            let url = url.clone();
            async move {
                client_trusting(&ca_pem, address)
                    .get(&url)
                    .send()
                    .await
                    .is_ok()
            }
        };
        let metric = |name: &str| -> i64 {
            let text = fixture.data_plane.state.metrics.render(None);
            let line = text
                .lines()
                .find(|line| line.starts_with(&format!("{name} ")));
            line.and_then(|line| line[name.len() + 1..].parse().ok())
                .unwrap_or_else(|| panic!("no {name} in {text}"))
        };
        assert!(served_by(first_ca.clone()).await);

        // The operator's tooling renews: another CA, a known expiry, the key written last.
        let renewing_ca = certificate_authority();
        let key = KeyPair::generate().unwrap();
        let mut renewal = CertificateParams::new(vec![REGIONAL.to_owned()]).unwrap();
        renewal.not_after = rcgen::date_time_ymd(2027, 3, 4);
        let renewal = renewal.signed_by(&key, &renewing_ca).unwrap();
        std::fs::write(dir.join("chain.pem"), renewal.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
        let renewed_ca = renewing_ca.pem();
        let renewed = eventually(period, || served_by(renewed_ca.clone())).await;
        assert!(renewed, "the renewed certificate is served");
        assert!(!served_by(first_ca).await, "the old certificate is gone");
        assert_eq!(platform.expires_at(), 1_804_118_400);
        assert_eq!(
            metric("restapi_tls_platform_certificate_expiry_timestamp_seconds"),
            1_804_118_400
        );

        // A chain whose key is not in the key file: refused, the renewed one keeps serving.
        let (stray_chain, _) = issue(&certificate_authority(), vec![REGIONAL.to_owned()]);
        std::fs::write(dir.join("chain.pem"), stray_chain).unwrap();
        let failures = "restapi_tls_platform_certificate_reload_failures_total";
        let refused = eventually(period, || std::future::ready(metric(failures) > 0)).await;
        assert!(refused, "the broken pair is refused");
        assert!(served_by(renewed_ca).await);
        assert_eq!(metric("restapi_tls_platform_certificate_reloads_total"), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn custom_domains_get_their_own_certificate_once_pushed_and_answer_acme_challenges() {
        let _ = default_provider().install_default();
        let dir = std::env::temp_dir().join(restapi_shared::ids::new_id("tls-test"));
        std::fs::create_dir_all(&dir).unwrap();
        let (_, settings) = platform_certificate(&dir);
        let ca = certificate_authority();
        let (chain_pem, key_pem) = issue(&ca, vec!["login.example.com".into()]);
        let mut snapshot = crate::test_support::snapshot();
        snapshot.apis[0].domains = vec![
            restapi_shared::push::DomainConfig {
                name: "login.example.com".into(),
                challenges: vec![restapi_shared::push::AcmeChallenge {
                    token: "tok-1".into(),
                    key_authorization: "tok-1.thumbprint".into(),
                }],
                certificate: Some(restapi_shared::push::CertificateConfig {
                    chain_pem,
                    key_pem: restapi_shared::secret::SecretString::new(key_pem),
                    expires_at: i64::MAX,
                }),
            },
            restapi_shared::push::DomainConfig {
                name: "pending.example.com".into(),
                ..Default::default()
            },
        ];
        let fixture = Fixture::with(crate::test_support::settings(None), snapshot);
        let (address, _) = serve_https(&fixture, &settings).await;
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap())
            .resolve("login.example.com", address)
            .resolve("pending.example.com", address)
            .build()
            .unwrap();
        let port = address.port();
        let answer = client
            .get(format!(
                "https://login.example.com:{port}/api/.well-known/jwks.json"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        // Verified but without a certificate yet: no handshake.
        let pending = format!("https://pending.example.com:{port}/api/.well-known/jwks.json");
        assert!(client.get(&pending).send().await.is_err());

        // The challenge is answered on the plain listener, whether it redirects or serves.
        let store = Arc::clone(&fixture.data_plane.state.store);
        for router in [redirect_to_https(store, 8443), fixture.router.clone()] {
            let request = axum::http::Request::get("/.well-known/acme-challenge/tok-1")
                .header("host", "login.example.com")
                .body(axum::body::Body::empty())
                .unwrap();
            let answer = router.oneshot(request).await.unwrap();
            assert_eq!(answer.status(), axum::http::StatusCode::OK);
            let body = axum::body::to_bytes(answer.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(&body[..], b"tok-1.thumbprint");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn the_plain_listener_sends_browsers_to_https_keeping_host_path_and_method() {
        let store = Arc::clone(&Fixture::new().data_plane.state.store);
        let router = redirect_to_https(Arc::clone(&store), 8443);
        let request = axum::http::Request::post("/api/_token?x=1")
            .header("host", "shop.restapi.localhost:8080")
            .body(axum::body::Body::empty())
            .unwrap();
        let answer = router.oneshot(request).await.unwrap();
        assert_eq!(answer.status(), axum::http::StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            answer.headers()["location"],
            "https://shop.restapi.localhost:8443/api/_token?x=1"
        );
        let answer = redirect_to_https(store, 443)
            .oneshot(
                axum::http::Request::get("/")
                    .header("host", "eu.restapi.com")
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(answer.headers()["location"], "https://eu.restapi.com/");
    }
}
