//! The regional data plane: serves each API's token endpoints from memory.
//!
//! A data plane knows its region, its node credential and the control plane's URL. It takes
//! a snapshot of its region's configuration, follows the change feed ([`sync`]) and answers
//! every platform endpoint from the configuration in memory ([`config`]). The only calls it
//! makes while answering requests are refresh-token redemptions.
//!
//! The request path lives in [`http`]: resolve the host to an API ([`routing`]), find the
//! platform endpoint, answer it ([`grants`] for tokens, [`bearer`] for bearer checks).

pub mod access;
pub mod bearer;
pub mod config;
pub mod cookies;
pub mod grants;
mod http;
pub mod metrics;
pub mod node_client;
mod openapi;
pub mod routing;
pub mod settings;
pub mod sync;
#[cfg(test)]
mod test_support;
pub mod tls;
mod user_tokens;

use std::future::Future;
use std::sync::Arc;

use axum::body::Bytes;
use restapi_shared::Clock;
use restapi_shared::push::{RegionSnapshot, Revision};
use tokio::net::TcpListener;

use crate::bearer::BearerVerifier;
use crate::config::{ConfigStore, RegionState};
use crate::http::{AppState, UPSTREAM_TIMEOUT, UpstreamClient};
use crate::metrics::Metrics;
use crate::node_client::NodeClient;
pub use crate::openapi::openapi;
pub use crate::settings::Settings;

/// Why a data plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    /// The HTTP client for the control plane or the upstreams could not be built.
    #[error("cannot build an HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    /// [`DataPlane::start`] was called outside a tokio runtime, so the sync task cannot run.
    #[error("the data plane must start inside a tokio runtime")]
    NoRuntime,
}

/// A running data plane: its configuration, its sync task and its router.
#[derive(Debug)]
pub struct DataPlane {
    state: Arc<AppState>,
}

impl DataPlane {
    /// Starts a data plane that follows the control plane: spawns the sync task on the
    /// current tokio runtime. The data plane is not ready until the first snapshot is applied.
    ///
    /// The sync task runs as long as the runtime does; dropping the `DataPlane` does not stop
    /// it (the router may outlive this value).
    pub fn start(settings: Settings, clock: Clock) -> Result<DataPlane, StartError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let connection = settings.connection()?;
        let store = Arc::new(ConfigStore::default());
        let metrics = Arc::new(Metrics::new(clock.clone()));
        let control_plane = NodeClient::new(&connection, Arc::clone(&store))?;
        let follower = sync::run(
            control_plane.clone(),
            Arc::clone(&store),
            Arc::clone(&metrics),
        );
        runtime.spawn(follower);
        Self::assemble(&settings, clock, store, metrics, Some(control_plane))
    }

    /// A data plane serving a fixed snapshot, without a sync task: for tests and the bench.
    ///
    /// Refresh tokens are redeemed at `control_plane_url` when the settings name one (with
    /// `region` and `node_token`); otherwise the refresh grant answers `temporarily_unavailable`.
    pub fn from_snapshot(
        settings: Settings,
        clock: Clock,
        snapshot: RegionSnapshot,
    ) -> Result<DataPlane, StartError> {
        settings.validate()?;
        let store = Arc::new(ConfigStore::default());
        let metrics = Arc::new(Metrics::new(clock.clone()));
        store.replace(RegionState::from_snapshot(snapshot));
        metrics.snapshot_applied();
        let control_plane = match settings.connection() {
            Ok(connection) => Some(NodeClient::new(&connection, Arc::clone(&store))?),
            Err(_) => None,
        };
        Self::assemble(&settings, clock, store, metrics, control_plane)
    }

    fn assemble(
        settings: &Settings,
        clock: Clock,
        store: Arc<ConfigStore>,
        metrics: Arc<Metrics>,
        control_plane: Option<NodeClient>,
    ) -> Result<Self, StartError> {
        // The document is the same for the process's life: serialise it once.
        let openapi_json = openapi().to_json().map(Bytes::from).unwrap_or_default();
        let state = AppState {
            store,
            clock,
            app_domain: settings.app_domain.clone(),
            public_scheme: settings.public_scheme,
            bearer: BearerVerifier::new(Arc::clone(&metrics)),
            metrics,
            control_plane,
            openapi_json,
            upstream: UpstreamClient::new(UPSTREAM_TIMEOUT)?,
            providers: http::ProviderDirectory::new()?,
        };
        Ok(Self {
            state: Arc::new(state),
        })
    }

    /// The HTTPS listener's TLS configuration: the platform certificate from the files the
    /// settings name, picked by SNI for the names this data plane serves.
    pub fn tls_config(&self, settings: &Settings) -> Result<tls::TlsSetup, tls::TlsError> {
        let (Some(chain), Some(key)) = (&settings.tls_certificate_file, &settings.tls_key_file)
        else {
            return Err(tls::TlsError::Certificate("(not configured)".to_owned()));
        };
        let platform = Arc::new(tls::PlatformCertificate::load(chain, key)?);
        self.state
            .metrics
            .report_platform_certificate(Arc::clone(&platform));
        let resolver = tls::CertificateResolver::new(
            Arc::clone(&self.state.store),
            &self.state.app_domain,
            Arc::clone(&platform),
        );
        Ok(tls::TlsSetup {
            config: tls::server_config(resolver)?,
            platform,
        })
    }

    /// Keeps `platform` current: its files are read again every `period` and a renewed
    /// certificate served at once. Runs until dropped.
    pub fn watch_platform_certificate(
        &self,
        platform: Arc<tls::PlatformCertificate>,
        period: std::time::Duration,
    ) -> impl Future<Output = ()> + Send + 'static {
        platform.watch(period, Arc::clone(&self.state.metrics))
    }

    /// The plain listener's router once HTTPS is served on `https_port`: custom domains' ACME
    /// challenges answered, everything else redirected to HTTPS.
    pub fn https_redirect(&self, https_port: u16) -> axum::Router {
        tls::redirect_to_https(Arc::clone(&self.state.store), https_port)
    }

    /// Every endpoint of the data plane, with request ids and one span per request.
    pub fn router(&self) -> axum::Router {
        http::router(Arc::clone(&self.state))
    }

    /// The configuration revision being served, once a snapshot is applied.
    pub fn revision(&self) -> Option<Revision> {
        self.state.store.revision()
    }

    /// Whether a configuration snapshot has been applied.
    pub fn is_ready(&self) -> bool {
        self.revision().is_some()
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes the requests in
/// flight.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address goes to upstreams in `X-Forwarded-For` and `Forwarded`.
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves `data_plane` until `shutdown` completes: on `plain` alone, or, when the settings
/// name an HTTPS listener, over TLS there with `plain` sending browsers to it.
pub async fn serve_all(
    data_plane: &DataPlane,
    settings: &Settings,
    plain: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let failed = |error: std::io::Error| format!("server failed: {error}");
    let Some(https_listen) = settings.data_plane_https_listen else {
        return serve(plain, data_plane.router(), shutdown)
            .await
            .map_err(failed);
    };
    let tls = data_plane
        .tls_config(settings)
        .map_err(|error| error.to_string())?;
    tokio::spawn(
        data_plane.watch_platform_certificate(tls.platform, tls::PLATFORM_CERTIFICATE_RECHECK),
    );
    let secure = TcpListener::bind(https_listen)
        .await
        .map_err(|error| format!("cannot listen on {https_listen}: {error}"))?;
    tracing::info!(address = %https_listen, "data plane listening for HTTPS");

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop.send(true);
    });
    let redirect = data_plane.https_redirect(https_listen.port());
    let (plain, secure) = tokio::join!(
        serve(plain, redirect, until(stopped.clone())),
        tls::serve_tls(secure, tls.config, data_plane.router(), until(stopped)),
    );
    plain.and(secure).map_err(failed)
}

/// Completes on Ctrl-C or SIGTERM, so requests in flight can finish.
pub async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down; finishing requests in flight");
}

/// Marks a 413 answer `Connection: close`.
///
/// A body over the limit is refused before it is read, and its unread rest makes the
/// connection unusable; without this header a client would send its next request on it and
/// see the connection drop (RFC 9112 §9.6). Both planes' routers apply it as a response map.
pub async fn close_after_payload_too_large(
    mut response: axum::response::Response,
) -> axum::response::Response {
    if response.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    response
}
