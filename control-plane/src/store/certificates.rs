//! Certificates of custom domains: what ordering one needs, the lease that keeps replicas from
//! ordering the same one twice, and the outcome of each step.
//!
//! A domain whose ownership is proven is pushed at once, so that its data planes can answer
//! the CA's HTTP-01 challenge; its certificate follows. Every step that changes what data
//! planes serve (a challenge to answer, a certificate, a challenge withdrawn) is a
//! configuration write; the others (the lease, progress messages) are plain updates.
//!
//! The certificate's private key and the platform's ACME account key are sealed under the
//! master key; the chain is public.

use restapi_shared::clock::UnixTime;
use restapi_shared::push::{AcmeChallenge, CertificateConfig, DomainConfig, Revision};
use restapi_shared::secret::{SecretBytes, SecretString};
use sqlx::AnyConnection;

use super::domains::{DomainStatus, api_of_domain};
use super::{ConfigWrite, Store, StoreError};

/// A domain whose certificate is due to be ordered (first issue, renewal or retry).
#[derive(Clone, Debug)]
pub struct CertificateOrder {
    /// Internal identifier of the domain.
    pub id: String,
    /// The host name to certify.
    pub name: String,
    /// The API it serves.
    pub api_name: String,
    /// The region whose data planes answer the challenge.
    pub region_id: String,
    /// Orders failed in a row, for the backoff.
    pub failed_orders: i64,
    /// When the certificate being served expires; `None` before the first one.
    pub current_expires_at: Option<UnixTime>,
}

/// A certificate as the CA issued it.
#[derive(Debug)]
pub struct IssuedCertificate {
    /// The chain, leaf first, as PEM.
    pub chain_pem: String,
    /// The private key, as PEM.
    pub key_pem: SecretString,
    /// When the leaf expires.
    pub expires_at: UnixTime,
    /// When to order its successor.
    pub renew_at: UnixTime,
}

type OrderRow = (String, String, String, String, i64, Option<UnixTime>);

const SELECT_ORDER: &str = "SELECT d.id, d.name, a.name, a.region_id, d.failed_orders, \
     d.certificate_expires_at FROM domains d JOIN apis a ON a.id = d.api_id";

type ConfigRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
    Option<UnixTime>,
);

impl Store {
    /// Domains whose certificate order is due at `now` and that no replica holds a lease on,
    /// the most overdue first; domains verified while no CA was configured come too, since
    /// they have never had a certificate.
    pub async fn due_certificate_orders(
        &self,
        now: UnixTime,
        limit: i64,
    ) -> Result<Vec<CertificateOrder>, StoreError> {
        let rows: Vec<OrderRow> = sqlx::query_as(&format!(
            "{SELECT_ORDER} WHERE d.status <> $1 \
             AND (d.next_order_at <= $2 \
                  OR (d.next_order_at IS NULL AND d.certificate_chain IS NULL)) \
             AND (d.order_lease_until IS NULL OR d.order_lease_until < $2) \
             ORDER BY d.next_order_at LIMIT $3"
        ))
        .bind(DomainStatus::PendingDns.as_str())
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(order_from_row).collect())
    }

    /// Takes the lease on ordering domain `domain_id`'s certificate for replica `owner` until
    /// `until`. Returns whether this replica has it: false when another holds an unexpired
    /// lease, or the domain is gone. One statement, so two replicas cannot both win.
    pub async fn take_order_lease(
        &self,
        domain_id: &str,
        owner: &str,
        now: UnixTime,
        until: UnixTime,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(
            "UPDATE domains SET order_lease_owner = $1, order_lease_until = $2 \
             WHERE id = $3 AND status <> $4 \
             AND (order_lease_until IS NULL OR order_lease_until < $5 OR order_lease_owner = $1)",
        )
        .bind(owner)
        .bind(until)
        .bind(domain_id)
        .bind(DomainStatus::PendingDns.as_str())
        .bind(now)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    /// Publishes the HTTP-01 challenge of an order to the domain's data planes and returns the
    /// revision that carries it. `None` when the lease was lost or the domain removed.
    pub async fn record_order_challenge(
        &self,
        order: &CertificateOrder,
        owner: &str,
        challenge: &AcmeChallenge,
        message: &str,
        now: UnixTime,
    ) -> Result<Option<Revision>, StoreError> {
        let mut write = self.begin_config_write(now).await?;
        let updated = sqlx::query(
            "UPDATE domains SET challenge_token = $1, challenge_answer = $2, \
             status = CASE WHEN certificate_chain IS NULL THEN $3 ELSE status END, \
             status_message = $4, updated_at = $5 WHERE id = $6 AND order_lease_owner = $7",
        )
        .bind(&challenge.token)
        .bind(&challenge.key_authorization)
        .bind(DomainStatus::Verifying.as_str())
        .bind(message)
        .bind(now)
        .bind(&order.id)
        .bind(owner)
        .execute(&mut *write.transaction)
        .await?
        .rows_affected();
        self.commit_domain_change(write, &order.id, updated).await
    }

    /// Records how an order is moving, for the operator: `status` for a first certificate
    /// (a renewal keeps `active`), and what is happening. Nothing is pushed.
    pub async fn record_order_progress(
        &self,
        order: &CertificateOrder,
        owner: &str,
        status: DomainStatus,
        message: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE domains SET \
             status = CASE WHEN certificate_chain IS NULL THEN $1 ELSE status END, \
             status_message = $2, updated_at = $3 WHERE id = $4 AND order_lease_owner = $5",
        )
        .bind(status.as_str())
        .bind(message)
        .bind(now)
        .bind(&order.id)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Stores a new certificate, sealed, makes the domain `active`, withdraws the challenge,
    /// schedules the renewal, releases the lease and pushes the certificate. Returns whether
    /// it was stored (false when the lease was lost or the domain removed).
    pub async fn record_certificate(
        &self,
        order: &CertificateOrder,
        owner: &str,
        certificate: &IssuedCertificate,
        message: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let sealed = self.seal_secret(
            &key_context(&order.id),
            certificate.key_pem.expose().as_bytes(),
        );
        let mut write = self.begin_config_write(now).await?;
        let updated = sqlx::query(
            "UPDATE domains SET certificate_chain = $1, certificate_key = $2, \
             certificate_expires_at = $3, next_order_at = $4, failed_orders = 0, \
             challenge_token = NULL, challenge_answer = NULL, order_lease_owner = NULL, \
             order_lease_until = NULL, status = $5, status_message = $6, updated_at = $7 \
             WHERE id = $8 AND order_lease_owner = $9",
        )
        .bind(&certificate.chain_pem)
        .bind(sealed)
        .bind(certificate.expires_at)
        .bind(certificate.renew_at)
        .bind(DomainStatus::Active.as_str())
        .bind(message)
        .bind(now)
        .bind(&order.id)
        .bind(owner)
        .execute(&mut *write.transaction)
        .await?
        .rows_affected();
        let committed = self.commit_domain_change(write, &order.id, updated).await?;
        Ok(committed.is_some())
    }

    /// Records a failed order: the domain becomes `failed` with `message`, unless it still
    /// has a certificate (a failed renewal keeps serving it and stays `active`). The challenge
    /// is withdrawn, the next order scheduled at `next_order_at`, and the lease released.
    pub async fn record_order_failed(
        &self,
        order: &CertificateOrder,
        owner: &str,
        message: &str,
        next_order_at: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_config_write(now).await?;
        let had_challenge: Option<Option<String>> = sqlx::query_scalar(
            "SELECT challenge_token FROM domains WHERE id = $1 AND order_lease_owner = $2",
        )
        .bind(&order.id)
        .bind(owner)
        .fetch_optional(&mut *write.transaction)
        .await?;
        let Some(had_challenge) = had_challenge else {
            return Ok(());
        };
        sqlx::query(
            "UPDATE domains SET \
             status = CASE WHEN certificate_chain IS NULL THEN $1 ELSE $2 END, \
             status_message = $3, next_order_at = $4, failed_orders = failed_orders + 1, \
             challenge_token = NULL, challenge_answer = NULL, order_lease_owner = NULL, \
             order_lease_until = NULL, updated_at = $5 WHERE id = $6",
        )
        .bind(DomainStatus::Failed.as_str())
        .bind(DomainStatus::Active.as_str())
        .bind(message)
        .bind(next_order_at)
        .bind(now)
        .bind(&order.id)
        .execute(&mut *write.transaction)
        .await?;
        // Withdrawing a published challenge changes what data planes serve; otherwise nothing
        // they see changed, and no revision is spent.
        if had_challenge.is_some()
            && let Some(api) = api_of_domain(&mut write.transaction, &order.id).await?
        {
            write.commit_api_change(self, &api).await?;
        } else {
            write.transaction.commit().await?;
        }
        Ok(())
    }

    /// Ends `write`, which changed `updated` rows of domain `domain_id`: a change of the
    /// domain's API, committed and returned. When no row changed (the lease was lost or the
    /// domain removed), nothing is committed.
    async fn commit_domain_change(
        &self,
        mut write: ConfigWrite,
        domain_id: &str,
        updated: u64,
    ) -> Result<Option<Revision>, StoreError> {
        if updated != 1 {
            return Ok(None);
        }
        let Some(api) = api_of_domain(&mut write.transaction, domain_id).await? else {
            return Ok(None);
        };
        Ok(Some(write.commit_api_change(self, &api).await?))
    }

    /// The platform's ACME account at `directory_url` (the library's serialised credentials),
    /// if one was created.
    pub async fn acme_account(
        &self,
        directory_url: &str,
    ) -> Result<Option<SecretBytes>, StoreError> {
        let sealed: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT credentials FROM acme_accounts WHERE directory_url = $1")
                .bind(directory_url)
                .fetch_optional(self.pool())
                .await?;
        sealed
            .map(|sealed| self.open_secret(&account_context(directory_url), &sealed))
            .transpose()
    }

    /// Stores a new ACME account unless another replica stored one first, and returns the
    /// one stored, so that every replica uses the same account.
    pub async fn save_acme_account(
        &self,
        directory_url: &str,
        credentials: &[u8],
        now: UnixTime,
    ) -> Result<SecretBytes, StoreError> {
        let sealed = self.seal_secret(&account_context(directory_url), credentials);
        sqlx::query(
            "INSERT INTO acme_accounts (directory_url, credentials, created_at) \
             VALUES ($1, $2, $3) ON CONFLICT (directory_url) DO NOTHING",
        )
        .bind(directory_url)
        .bind(sealed)
        .bind(now)
        .execute(self.pool())
        .await?;
        self.acme_account(directory_url)
            .await?
            .ok_or_else(|| StoreError::Corrupt("ACME account vanished after saving".to_owned()))
    }

    /// Forgets the ACME account at `directory_url`, which the CA no longer knows (a test CA
    /// restarted, an account deactivated); the next order creates a new one.
    pub async fn forget_acme_account(&self, directory_url: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM acme_accounts WHERE directory_url = $1")
            .bind(directory_url)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// What data planes serve for the domains of API `api_id` whose ownership is proven, by
/// name: each with its pending challenge and its certificate once issued.
pub(super) async fn domain_configs(
    store: &Store,
    connection: &mut AnyConnection,
    api_id: &str,
) -> Result<Vec<DomainConfig>, StoreError> {
    let rows: Vec<ConfigRow> = sqlx::query_as(
        "SELECT id, name, challenge_token, challenge_answer, certificate_chain, \
         certificate_key, certificate_expires_at FROM domains \
         WHERE api_id = $1 AND status <> $2 ORDER BY name",
    )
    .bind(api_id)
    .bind(DomainStatus::PendingDns.as_str())
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|(id, name, token, answer, chain, key, expires_at)| {
            let challenges = match (token, answer) {
                (Some(token), Some(key_authorization)) => vec![AcmeChallenge {
                    token,
                    key_authorization,
                }],
                _ => vec![],
            };
            let certificate = match (chain, key, expires_at) {
                (Some(chain_pem), Some(sealed), Some(expires_at)) => {
                    let key = store.open_secret(&key_context(&id), &sealed)?;
                    let key_pem = String::from_utf8(key.expose().to_vec()).map_err(|_| {
                        StoreError::Corrupt(format!("certificate key of domain '{name}'"))
                    })?;
                    Some(CertificateConfig {
                        chain_pem,
                        key_pem: SecretString::new(key_pem),
                        expires_at,
                    })
                }
                _ => None,
            };
            Ok(DomainConfig {
                name,
                challenges,
                certificate,
            })
        })
        .collect()
}

fn order_from_row(row: OrderRow) -> CertificateOrder {
    let (id, name, api_name, region_id, failed_orders, current_expires_at) = row;
    CertificateOrder {
        id,
        name,
        api_name,
        region_id,
        failed_orders,
        current_expires_at,
    }
}

/// The sealing context of a domain's certificate key: a sealed key opens only as its own.
fn key_context(domain_id: &str) -> String {
    format!("domain-certificate-key:{domain_id}")
}

fn account_context(directory_url: &str) -> String {
    format!("acme-account:{directory_url}")
}
