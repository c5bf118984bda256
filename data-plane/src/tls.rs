//! The HTTPS listener: TLS 1.2 and 1.3 with rustls, HTTP/2 or HTTP/1.1 by ALPN, the
//! certificate picked by the name the client asks for (SNI) from memory.
//!
//! The platform's own names (the regional host, and every API's app host under the app
//! domain) share one certificate read from files at start, typically a wildcard; a custom
//! domain has its own, pushed with the domain. A name the data plane does not serve, or one
//! whose certificate is not issued yet, gets none, so the handshake fails before any request.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::response::IntoResponse;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
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

/// The platform certificate: its chain (leaf first) and key, from PEM files.
pub fn load_certified_key(chain: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain_pem = std::fs::read_to_string(chain)
        .map_err(|_| TlsError::Certificate(chain.display().to_string()))?;
    let key_pem =
        std::fs::read_to_string(key).map_err(|_| TlsError::Key(key.display().to_string()))?;
    certified_key_from_pem(&chain_pem, &key_pem).map_err(|error| match error {
        TlsError::Certificate(_) => TlsError::Certificate(chain.display().to_string()),
        TlsError::Key(_) => TlsError::Key(key.display().to_string()),
        TlsError::Unusable(error) => TlsError::Unusable(error),
    })
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

/// Picks the certificate of the name a client asks for.
#[derive(Debug)]
pub struct CertificateResolver {
    store: Arc<ConfigStore>,
    app_domain: String,
    platform: Arc<CertifiedKey>,
}

impl CertificateResolver {
    /// Resolves the region's host and the app hosts under `app_domain` to `platform`.
    pub fn new(store: Arc<ConfigStore>, app_domain: &str, platform: Arc<CertifiedKey>) -> Self {
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
            return Some(Arc::clone(&self.platform));
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
        let config = fixture.data_plane.tls_config(&settings).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(serve_tls(
            listener,
            config,
            fixture.router.clone(),
            std::future::pending(),
        ));

        let app_host = format!("shop.{APP_DOMAIN}");
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
            .resolve(&app_host, address)
            .resolve(REGIONAL, address)
            .resolve("unknown.example", address)
            .build()
            .unwrap();
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
        let config = fixture.data_plane.tls_config(&settings).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(serve_tls(
            listener,
            config,
            fixture.router.clone(),
            std::future::pending(),
        ));
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
