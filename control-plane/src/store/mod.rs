//! The control plane's storage: sqlx over SQLite or PostgreSQL, one module per resource.
//!
//! Every configuration write goes through `ConfigWrite`: it bumps the one global revision
//! and records which region's objects changed, in the same transaction as the write itself,
//! so the change log can never disagree with the data.

mod apis;
mod certificates;
mod clients;
mod data_planes;
mod domains;
mod feed;
mod identities;
mod node_credentials;
mod operator_tokens;
mod passkeys;
mod providers;
mod refresh_tokens;
mod regions;
mod rows;
mod service_accounts;
mod signing_keys;
mod users;
mod web;

use std::sync::Arc;
use std::time::Duration;

use restapi_shared::clock::UnixTime;
use restapi_shared::push::Revision;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, Transaction};
use tokio::sync::watch;

use crate::master_key::MasterKey;

pub use apis::{Api, ApiChanges, Claims, NewApi};
pub use certificates::{CertificateOrder, IssuedCertificate};
pub use clients::{NewPublicClient, PublicClient, PublicClientChanges};
pub use data_planes::{CONNECTED_WITHIN_SECONDS, DataPlane, NodeReport};
pub use domains::{CHALLENGE_LABEL, DnsRecord, Domain, DomainCheck, DomainStatus, NewDomain};
pub use identities::{Identity, NewIdentity};
pub use node_credentials::{
    CreatedNodeCredential, NewNodeCredential, NodeCredential, NodeIdentity,
};
pub use operator_tokens::{CreatedOperatorToken, NewOperatorToken, OperatorToken};
pub use passkeys::{MAX_PASSKEYS_PER_USER, Passkey};
pub use providers::{EndpointsInput, LoginUrls, NewProvider, Provider, ProviderChanges};
pub use regions::{NewRegion, Region, RegionChanges};
pub use service_accounts::{
    ClientSecret, CreatedSecret, CreatedServiceAccount, NewServiceAccount, SecretChanges,
    ServiceAccount, ServiceAccountChanges,
};
pub use signing_keys::{SigningKey, SigningKeyState};
pub use users::{NewUser, User, UserChanges, UserListQuery, UserPage};
pub use web::{AccessRuleInput, BrandingInput};

/// PostgreSQL channel on which a committed revision is announced to other replicas.
pub const NOTIFY_CHANNEL: &str = "restapi_config";

/// Which database engine a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend of a database URL.
    pub fn of_url(url: &str) -> Result<Self, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else if url.contains(":memory:") || url.contains("mode=memory") {
            // Every pooled connection would open its own empty database.
            Err("an in-memory SQLite database cannot be shared by the pool; use a file".to_owned())
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else {
            Err("must start with postgres://, postgresql:// or sqlite:".to_owned())
        }
    }
}

/// Why a store operation failed. Each variant has one meaning that the HTTP layer maps.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The write conflicts with existing state (a taken name, a role still in use, ...).
    #[error("{0}")]
    Conflict(String),
    /// A name is not acceptable (syntax, reserved, or clashes with another kind of name).
    #[error("{0}")]
    InvalidName(String),
    /// Another field is not acceptable.
    #[error("{0}")]
    InvalidField(String),
    /// The change log no longer reaches back to the requested revision.
    #[error("revision {0} is no longer in the change log")]
    RevisionGone(Revision),
    /// The API is not in the node's region.
    #[error("API is not in this region")]
    WrongRegion,
    /// Stored key material could not be decrypted: the master key is wrong or data is corrupt.
    #[error("stored key material cannot be decrypted with the master key")]
    Undecryptable,
    /// A stored value cannot be read back (a malformed JSON column).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: AnyPool,
    backend: Backend,
    master_key: MasterKey,
    head: watch::Sender<Revision>,
}

impl Store {
    /// Connects (creating a SQLite file when missing), runs the migrations and reads the head.
    pub async fn connect(url: &str, master_key: MasterKey) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = Backend::of_url(url).map_err(StoreError::InvalidField)?;
        let pool = match backend {
            Backend::Sqlite => {
                let url = with_create_mode(url);
                AnyPoolOptions::new()
                    .max_connections(8)
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?
            }
        };

        match backend {
            Backend::Sqlite => {
                // WAL lets readers (snapshots, long polls) run while a write commits; the
                // setting is stored in the file, so once is enough.
                sqlx::query("PRAGMA journal_mode = WAL")
                    .execute(&pool)
                    .await?;
                sqlx::migrate!("../migrations/sqlite")
                    .run(&pool)
                    .await
                    .map_err(migrate_error)?;
            }
            Backend::Postgres => {
                sqlx::migrate!("../migrations/postgres")
                    .run(&pool)
                    .await
                    .map_err(migrate_error)?;
            }
        }

        let (head, _) = watch::channel(0);
        let store = Self {
            inner: Arc::new(Inner {
                pool,
                backend,
                master_key,
                head,
            }),
        };
        store.refresh_head().await?;
        Ok(store)
    }

    /// The database engine in use.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// The connection pool, for tests and for the PostgreSQL listener.
    pub fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Whether the database answers within two seconds (probes give up sooner than the pool).
    pub async fn ping(&self) -> bool {
        let query = sqlx::query("SELECT 1").execute(&self.inner.pool);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), query).await,
            Ok(Ok(_))
        )
    }

    /// A receiver that sees every new head revision committed by this process, or announced
    /// by another replica.
    pub fn subscribe_head(&self) -> watch::Receiver<Revision> {
        self.inner.head.subscribe()
    }

    /// Reads the head revision from the database and wakes waiters if it moved.
    pub async fn refresh_head(&self) -> Result<Revision, StoreError> {
        let revision: i64 = sqlx::query_scalar("SELECT revision FROM config_revision WHERE id = 1")
            .fetch_one(&self.inner.pool)
            .await?;
        self.advance_head(revision);
        Ok(revision)
    }

    /// Checks that stored key material opens with the configured master key, so a wrong key
    /// stops the start instead of failing every snapshot later.
    pub async fn verify_master_key(&self) -> Result<(), StoreError> {
        let row: Option<(String, Vec<u8>)> =
            sqlx::query_as("SELECT kid, private_key FROM signing_keys LIMIT 1")
                .fetch_optional(&self.inner.pool)
                .await?;
        if let Some((kid, sealed)) = row {
            self.open_secret(&signing_keys::context(&kid), &sealed)?;
        }
        Ok(())
    }

    fn advance_head(&self, revision: Revision) {
        self.inner.head.send_if_modified(|head| {
            let moved = revision > *head;
            if moved {
                *head = revision;
            }
            moved
        });
    }

    fn seal_secret(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        self.inner.master_key.seal(context, plaintext)
    }

    fn open_secret(
        &self,
        context: &str,
        sealed: &[u8],
    ) -> Result<restapi_shared::secret::SecretBytes, StoreError> {
        self.inner
            .master_key
            .open(context, sealed)
            .map_err(|_| StoreError::Undecryptable)
    }

    /// Starts a configuration write: takes the next revision first, which also takes the
    /// write lock (SQLite) or the revision row's lock (PostgreSQL), so concurrent writers, even
    /// on other replicas, run one after the other and revisions commit in order.
    async fn begin_config_write(&self, now: UnixTime) -> Result<ConfigWrite, StoreError> {
        let mut transaction = self.inner.pool.begin().await?;
        let revision: i64 = sqlx::query_scalar(
            "UPDATE config_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision",
        )
        .fetch_one(&mut *transaction)
        .await?;
        Ok(ConfigWrite {
            transaction,
            revision,
            now,
        })
    }

    /// Starts a write that is not configuration (users, identities): no revision, nothing
    /// pushed. On SQLite the write lock is taken at once (`BEGIN IMMEDIATE`), so a transaction
    /// that reads before it writes cannot fail because another writer committed in between.
    async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.inner.backend {
            Backend::Sqlite => self.inner.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.inner.pool.begin().await?,
        })
    }

    /// Starts a read that sees one consistent state across several queries.
    async fn begin_consistent_read(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let mut transaction = self.inner.pool.begin().await?;
        if self.inner.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *transaction)
                .await?;
        }
        Ok(transaction)
    }
}

/// A configuration write in progress: the transaction and the revision it will commit as.
struct ConfigWrite {
    transaction: Transaction<'static, Any>,
    revision: Revision,
    now: UnixTime,
}

/// The kind of object a change log entry refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChangeKind {
    Api,
    Region,
    /// A revoked refresh family: `<api id>:<family>`.
    Session,
}

impl ChangeKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Region => "region",
            Self::Session => "session",
        }
    }
}

impl ConfigWrite {
    /// Records that `entity_id` changed in the region `region_id` at this revision.
    async fn record(
        &mut self,
        region_id: &str,
        kind: ChangeKind,
        entity_id: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO config_changes (revision, region_id, kind, entity_id, changed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(self.revision)
        .bind(region_id)
        .bind(kind.as_str())
        .bind(entity_id)
        .bind(self.now)
        .execute(&mut *self.transaction)
        .await?;
        Ok(())
    }

    /// Records that `api` changed in its region and commits: the ending of most writes.
    async fn commit_api_change(
        mut self,
        store: &Store,
        api: &apis::ApiRow,
    ) -> Result<Revision, StoreError> {
        self.record(&api.region_id, ChangeKind::Api, &api.id)
            .await?;
        self.commit(store).await
    }

    /// Commits, announces the revision to other replicas (PostgreSQL) and wakes long polls.
    async fn commit(mut self, store: &Store) -> Result<Revision, StoreError> {
        if store.inner.backend == Backend::Postgres {
            // Delivered only if the transaction commits, and in commit order.
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(NOTIFY_CHANNEL)
                .bind(self.revision.to_string())
                .execute(&mut *self.transaction)
                .await?;
        }
        self.transaction.commit().await?;
        store.advance_head(self.revision);
        Ok(self.revision)
    }
}

/// Whether a database error is a violated unique constraint.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|error| error.is_unique_violation())
}

fn with_create_mode(url: &str) -> String {
    // SQLite refuses to create a missing file unless asked; the default database must appear
    // on first start, together with its directory.
    let path = url
        .strip_prefix("sqlite://")
        .and_then(|rest| rest.split('?').next());
    if let Some(parent) = path.and_then(|path| std::path::Path::new(path).parent()) {
        let _ = std::fs::create_dir_all(parent);
    }
    if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

fn migrate_error(error: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Database(sqlx::Error::Migrate(Box::new(error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_are_recognised_by_scheme() {
        assert_eq!(Backend::of_url("postgres://u@h/db"), Ok(Backend::Postgres));
        assert_eq!(
            Backend::of_url("postgresql://u@h/db"),
            Ok(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("sqlite://data/x.db"), Ok(Backend::Sqlite));
        assert!(Backend::of_url("mysql://h/db").is_err());
        assert!(Backend::of_url("sqlite::memory:").is_err());
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = std::env::temp_dir().join(restapi_shared::ids::new_id("cp-test"));
        let url = format!("sqlite://{}/x.db", dir.display());
        assert_eq!(with_create_mode(&url), format!("{url}?mode=rwc"));
        assert!(dir.exists());
        std::fs::remove_dir_all(dir).unwrap();
        assert_eq!(
            with_create_mode("sqlite::memory:?mode=memory"),
            "sqlite::memory:?mode=memory"
        );
    }
}
