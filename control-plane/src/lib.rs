//! The control plane: owns all state, serves the admin API, keeps the keys, and pushes each
//! region's configuration to its data planes.
//!
//! [`ControlPlane::start`] connects to the database, migrates it, bootstraps the operator
//! token and starts the background tasks; [`ControlPlane::router`] is the whole HTTP surface
//! and [`serve`] runs it until shutdown.

pub mod acme;
pub mod background;
pub mod config;
pub mod domain_verification;
pub mod http;
pub mod master_key;
pub mod metrics;
pub mod names;
pub mod openapi;
pub mod push;
pub mod store;
pub mod timestamps;

use std::future::Future;

use restapi_shared::Clock;
use restapi_shared::secret::SecretString;
use tokio::task::JoinHandle;

pub use config::Settings;
pub use master_key::{DevMasterKeyError, MasterKey, load_or_create_dev_master_key};

use crate::acme::CertificateManager;
use crate::domain_verification::DomainVerifier;
use crate::http::AppState;
use crate::store::{NewNodeCredential, Store, StoreError};

/// Name of the region dev mode creates.
pub const DEV_REGION: &str = "eu";
/// Host of the region dev mode creates.
pub const DEV_REGION_HOST: &str = "eu.localhost";
/// Name of the node credential dev mode creates.
const DEV_CREDENTIAL: &str = "dev";

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No master key is configured.
    #[error(
        "master_key is not set: set RESTAPI_MASTER_KEY (or RESTAPI_MASTER_KEY_FILE) to the \
         base64 of 32 random bytes, e.g. `openssl rand -base64 32`"
    )]
    MissingMasterKey,
    /// A setting is unusable.
    #[error(transparent)]
    Settings(#[from] config::ConfigError),
    /// The stored keys do not open with the configured master key.
    #[error(
        "the configured master_key cannot decrypt the stored signing keys; it is not the key \
         this database was created with"
    )]
    WrongMasterKey,
    /// The database could not be reached or migrated.
    #[error("database: {0}")]
    Database(StoreError),
}

/// A started control plane.
///
/// Keep it alive while serving its router: dropping it stops the background tasks
/// (housekeeping and, on PostgreSQL, following other replicas' writes).
#[derive(Debug)]
pub struct ControlPlane {
    state: AppState,
    certificates: Option<CertificateManager>,
    generated_admin_token: Option<SecretString>,
    tasks: Vec<JoinHandle<()>>,
}

impl ControlPlane {
    /// Connects to the database (creating the default SQLite file), runs the migrations,
    /// bootstraps the operator token and starts the background tasks.
    pub async fn start(settings: &Settings, clock: Clock) -> Result<ControlPlane, StartError> {
        settings.validate()?;
        let master_key = settings
            .master_key
            .as_ref()
            .ok_or(StartError::MissingMasterKey)?;
        let master_key =
            MasterKey::parse(master_key).map_err(|reason| config::ConfigError::Field {
                field: "master_key",
                reason,
            })?;

        let database_url = settings.effective_database_url();
        let store = Store::connect(&database_url, master_key)
            .await
            .map_err(StartError::Database)?;
        store
            .verify_master_key()
            .await
            .map_err(|error| match error {
                StoreError::Undecryptable => StartError::WrongMasterKey,
                other => StartError::Database(other),
            })?;
        let generated_admin_token = store
            .bootstrap_operator_token(settings.admin_token.as_ref(), clock.now())
            .await
            .map_err(StartError::Database)?;

        let retention = i64::try_from(settings.change_log_retention_seconds).unwrap_or(i64::MAX);
        let certificates = match settings.acme_directory() {
            Some(directory) => Some(
                CertificateManager::new(
                    store.clone(),
                    clock.clone(),
                    directory,
                    settings.acme_roots_file.as_deref(),
                )
                .map_err(|reason| config::ConfigError::Field {
                    field: "acme_roots_file",
                    reason,
                })?,
            ),
            None => {
                tracing::info!(
                    "no acme_directory_url: custom domains are served without certificates of \
                     their own"
                );
                None
            }
        };
        let domains = DomainVerifier::new(
            store.clone(),
            settings.dns_server,
            settings.app_domain.clone(),
            certificates.is_some(),
        );
        let mut tasks = background::spawn(&store, &clock, retention, &database_url);
        tasks.push(background::spawn_domain_checks(&domains, &clock));
        if let Some(certificates) = &certificates {
            tasks.push(background::spawn_certificate_orders(certificates));
        }
        tracing::info!(backend = ?store.backend(), "control plane started");
        let state = AppState {
            store,
            clock,
            signing_key_publish_delay: i64::try_from(settings.signing_key_publish_delay_seconds)
                .unwrap_or(i64::MAX),
            metrics: metrics::Metrics::new(),
            login_urls: settings.login_urls(),
            domains,
        };
        Ok(ControlPlane {
            state,
            certificates,
            generated_admin_token,
            tasks,
        })
    }

    /// The whole HTTP surface: admin API, node API, probes, `/openapi.json` and `/docs`.
    pub fn router(&self) -> axum::Router {
        http::router(self.state.clone())
    }

    /// The operator token generated on this start, if one was (no `admin_token` configured and
    /// no operator token stored yet). Show it once.
    pub fn generated_admin_token(&self) -> Option<&SecretString> {
        self.generated_admin_token.as_ref()
    }

    /// The store, for tests and dev tooling.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Checks now the custom domains whose retry time has come by this control plane's clock,
    /// as the background loop does; returns how many were checked. For tests and tooling.
    pub async fn check_due_domains(&self) -> Result<usize, StoreError> {
        self.state.domains.check_due(self.state.clock.now()).await
    }

    /// Orders now the certificates whose time has come by this control plane's clock, as the
    /// background loop does; returns how many orders this replica ran (none without an ACME
    /// directory). For tests and tooling.
    pub async fn order_due_certificates(&self) -> Result<usize, StoreError> {
        match &self.certificates {
            Some(certificates) => certificates.order_due().await,
            None => Ok(0),
        }
    }

    /// For dev mode: makes sure region `eu` (host `eu.localhost`) exists and returns a new
    /// node credential token for it, deleting earlier dev credentials.
    pub async fn ensure_dev_region(&self) -> Result<SecretString, StoreError> {
        let store = &self.state.store;
        let now = self.state.clock.now();
        store
            .ensure_region(DEV_REGION, DEV_REGION_HOST, now)
            .await?;
        store
            .delete_node_credentials_named(DEV_REGION, DEV_CREDENTIAL)
            .await?;
        let new = NewNodeCredential {
            region: DEV_REGION.to_owned(),
            name: DEV_CREDENTIAL.to_owned(),
        };
        Ok(store.create_node_credential(&new, now).await?.token)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The OpenAPI 3.1 document of every endpoint, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    http::openapi()
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes the requests in
/// flight; open long polls answer at once instead of running out their wait.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (start_draining, draining) = push::Draining::channel();
    let router = router.layer(axum::Extension(draining));
    let shutdown = async move {
        shutdown.await;
        let _ = start_draining.send(true);
    };
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
