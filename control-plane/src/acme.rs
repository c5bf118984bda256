//! Certificates for custom domains from an ACME certificate authority (RFC 8555), with
//! instant-acme.
//!
//! Once a domain's ownership is proven it is ordered a certificate for its one name with the
//! HTTP-01 challenge: the control plane publishes the challenge's token and key authorisation
//! in the domain's configuration, waits until the region's data planes serve it, and tells the
//! CA to look. The issued chain and its private key (sealed) are stored and pushed; data planes
//! pick the certificate up by SNI without a restart.
//!
//! A certificate is renewed two thirds into its lifetime, less a random part of a thirtieth so
//! that certificates issued together are not renewed together. A failed order is retried with
//! backoff from five minutes to six hours; a failed renewal keeps the current certificate
//! serving. Ownership is proven once: each renewal's HTTP-01 validation shows that the name
//! still reaches the platform.
//!
//! Several control planes may run this loop over one database: each takes a lease on a
//! domain in the database before ordering, so one certificate is never ordered twice, and a
//! replica that dies mid-order loses its lease after [`LEASE_SECONDS`].

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Request, Response};
use http_body_util::{BodyExt, Full};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType,
    HttpClient, Identifier, NewAccount, NewOrder, OrderStatus, Problem, RetryPolicy,
};
use restapi_shared::Clock;
use restapi_shared::clock::UnixTime;
use restapi_shared::push::{AcmeChallenge, Revision};
use restapi_shared::secret::SecretString;
use restapi_shared::x509::leaf_validity;

use crate::store::{CertificateOrder, DomainStatus, IssuedCertificate, Store, StoreError};

/// Let's Encrypt's production directory.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Let's Encrypt's staging directory: untrusted certificates, generous rate limits.
pub const LETS_ENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

/// How long a replica's lease on ordering one certificate lasts; longer than an order may take
/// ([`ORDER_TIMEOUT`]), so a live replica never loses it mid-order.
pub const LEASE_SECONDS: i64 = 600;
/// The longest one order may take, from the new order to the certificate.
const ORDER_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the CA may take to validate the challenge, and to issue once finalised.
const VALIDATION_TIMEOUT: Duration = Duration::from_secs(120);
/// How long to wait for the region's data planes to serve a published challenge.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// A data plane not seen for this long is not waited for.
const DATA_PLANE_SEEN_WITHIN: i64 = 120;
/// Wait before retrying a failed order; each failure in a row doubles it.
const FIRST_RETRY_SECONDS: i64 = 300;
/// The longest wait between two orders.
const MAX_RETRY_SECONDS: i64 = 6 * 3600;
/// Most orders started in one round; the rest wait for the next round.
const ORDERS_PER_ROUND: i64 = 10;
/// How long one request to the CA may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// RFC 8555 §6.7: the CA does not know the account (a test CA restarted, say).
const ACCOUNT_DOES_NOT_EXIST: &str = "urn:ietf:params:acme:error:accountDoesNotExist";

/// Orders and renews custom domains' certificates; cheap to clone.
#[derive(Clone)]
pub struct CertificateManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Clock,
    directory_url: String,
    http: reqwest::Client,
    /// This replica's name in the leases it takes.
    replica: String,
    /// The platform's account at the CA, once loaded or created.
    account: tokio::sync::Mutex<Option<Account>>,
}

impl std::fmt::Debug for CertificateManager {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CertificateManager")
            .field("directory_url", &self.inner.directory_url)
            .field("replica", &self.inner.replica)
            .finish_non_exhaustive()
    }
}

/// Why an order did not end with a certificate.
#[derive(Debug)]
enum OrderError {
    /// The CA answered with a problem, or could not be reached; the text is for the operator.
    Ca(String),
    /// The store failed.
    Store(StoreError),
    /// This replica's lease lapsed, or the domain was removed: another replica or nobody
    /// carries on, and nothing is recorded.
    Lost,
}

impl From<StoreError> for OrderError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<instant_acme::Error> for OrderError {
    fn from(error: instant_acme::Error) -> Self {
        Self::Ca(describe(&error))
    }
}

impl CertificateManager {
    /// A manager ordering from the CA at `directory_url`, trusting the system's roots and the
    /// PEM certificates in `roots_file` (for a private or test CA).
    pub fn new(
        store: Store,
        clock: Clock,
        directory_url: String,
        roots_file: Option<&Path>,
    ) -> Result<Self, String> {
        // The binaries install it first; a library user may not have.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("restapi/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = roots_file {
            let pem = std::fs::read(path)
                .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
            let roots = reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|roots| !roots.is_empty())
                .ok_or_else(|| format!("{} holds no PEM certificate", path.display()))?;
            builder = builder.tls_certs_merge(roots);
        }
        let http = builder
            .build()
            .map_err(|error| format!("the HTTP client for the CA cannot be built: {error}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                clock,
                directory_url,
                http,
                replica: restapi_shared::ids::new_id("cp"),
                account: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// Orders the certificates whose time has come (first issue, renewal, retry), one after
    /// the other; returns how many orders this replica ran.
    pub async fn order_due(&self) -> Result<usize, StoreError> {
        let inner = &self.inner;
        let due = inner
            .store
            .due_certificate_orders(inner.clock.now(), ORDERS_PER_ROUND)
            .await?;
        let mut ran = 0;
        for order in &due {
            let now = inner.clock.now();
            if !inner
                .store
                .take_order_lease(&order.id, &inner.replica, now, now + LEASE_SECONDS)
                .await?
            {
                tracing::debug!(
                    domain = %order.name,
                    "another control plane orders this certificate"
                );
                continue;
            }
            ran += 1;
            self.run(order).await?;
        }
        Ok(ran)
    }

    /// Runs one order under this replica's lease and records its outcome.
    async fn run(&self, order: &CertificateOrder) -> Result<(), StoreError> {
        let inner = &self.inner;
        let renewal = order.current_expires_at.is_some();
        tracing::info!(
            api = %order.api_name,
            domain = %order.name,
            renewal,
            "ordering a certificate"
        );
        let outcome = match tokio::time::timeout(ORDER_TIMEOUT, self.order(order)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(OrderError::Ca(
                "the certificate authority did not finish the order in time".to_owned(),
            )),
        };
        let now = inner.clock.now();
        match outcome {
            Ok(certificate) => {
                let message = format!(
                    "certificate issued, valid until {}; renewed from {}",
                    crate::timestamps::to_rfc3339(certificate.expires_at),
                    crate::timestamps::to_rfc3339(certificate.renew_at)
                );
                if inner
                    .store
                    .record_certificate(order, &inner.replica, &certificate, &message, now)
                    .await?
                {
                    tracing::info!(
                        api = %order.api_name,
                        domain = %order.name,
                        expires_at = certificate.expires_at,
                        renew_at = certificate.renew_at,
                        "certificate issued and pushed"
                    );
                }
                Ok(())
            }
            Err(OrderError::Ca(reason)) => {
                let next_order_at = now + retry_delay(order.failed_orders);
                let message = match order.current_expires_at {
                    Some(expires_at) => format!(
                        "renewal failed: {reason}; the current certificate, valid until {}, \
                         keeps serving; retrying at {}",
                        crate::timestamps::to_rfc3339(expires_at),
                        crate::timestamps::to_rfc3339(next_order_at)
                    ),
                    None => format!(
                        "{reason}; retrying at {}",
                        crate::timestamps::to_rfc3339(next_order_at)
                    ),
                };
                tracing::warn!(
                    api = %order.api_name,
                    domain = %order.name,
                    %reason,
                    next_order_at,
                    "certificate order failed"
                );
                inner
                    .store
                    .record_order_failed(order, &inner.replica, &message, next_order_at, now)
                    .await
            }
            Err(OrderError::Lost) => {
                tracing::info!(
                    domain = %order.name,
                    "certificate order abandoned: the domain is gone or its lease lapsed"
                );
                Ok(())
            }
            Err(OrderError::Store(error)) => Err(error),
        }
    }

    /// The order itself: new order, HTTP-01 challenge published and validated, CSR, chain.
    async fn order(&self, order: &CertificateOrder) -> Result<IssuedCertificate, OrderError> {
        let inner = &self.inner;
        let identifiers = [Identifier::Dns(order.name.clone())];
        let new_order = NewOrder::new(&identifiers);
        let account = self.account().await?;
        let mut acme_order = match account.new_order(&new_order).await {
            Err(instant_acme::Error::Api(problem)) if is_unknown_account(&problem) => {
                tracing::warn!("the CA no longer knows the platform's account; creating a new one");
                self.forget_account().await?;
                self.account().await?.new_order(&new_order).await?
            }
            result => result?,
        };

        let mut authorizations = acme_order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                status => {
                    return Err(OrderError::Ca(format!(
                        "the certificate authority's authorisation is {status:?}"
                    )));
                }
            }
            let mut challenge =
                authorization
                    .challenge(ChallengeType::Http01)
                    .ok_or_else(|| {
                        OrderError::Ca(
                            "the certificate authority offers no HTTP-01 challenge".into(),
                        )
                    })?;
            let published = AcmeChallenge {
                token: challenge.token.clone(),
                key_authorization: challenge.key_authorization().as_str().to_owned(),
            };
            let message = format!(
                "the certificate authority is checking \
                 http://{}/.well-known/acme-challenge/{}",
                order.name, published.token
            );
            let revision = inner
                .store
                .record_order_challenge(
                    order,
                    &inner.replica,
                    &published,
                    &message,
                    inner.clock.now(),
                )
                .await?
                .ok_or(OrderError::Lost)?;
            self.wait_for_data_planes(&order.region_id, revision)
                .await?;
            challenge.set_ready().await?;
        }

        let validation = RetryPolicy::new()
            .initial_delay(Duration::from_millis(250))
            .timeout(VALIDATION_TIMEOUT);
        let status = acme_order.poll_ready(&validation).await?;
        if status != OrderStatus::Ready {
            return Err(OrderError::Ca(refusal(&mut acme_order).await));
        }
        inner
            .store
            .record_order_progress(
                order,
                &inner.replica,
                DomainStatus::Issuing,
                "the certificate authority validated the challenge and is issuing the certificate",
                inner.clock.now(),
            )
            .await?;
        let key_pem = acme_order.finalize().await?;
        let chain_pem = acme_order.poll_certificate(&validation).await?;
        let (not_before, not_after) = leaf_validity(&chain_pem).ok_or_else(|| {
            OrderError::Ca(
                "the certificate authority sent a certificate that cannot be read".into(),
            )
        })?;
        Ok(IssuedCertificate {
            chain_pem,
            key_pem: SecretString::new(key_pem),
            expires_at: not_after,
            renew_at: renewal_time(not_before, not_after, random_fraction()),
        })
    }

    /// Waits until every data plane of the region serves `revision` (and at least one does),
    /// so the CA finds the challenge; after [`PUSH_TIMEOUT`] the CA is asked anyway.
    async fn wait_for_data_planes(
        &self,
        region_id: &str,
        revision: Revision,
    ) -> Result<(), StoreError> {
        let started = tokio::time::Instant::now();
        loop {
            let seen_since = self.inner.clock.now() - DATA_PLANE_SEEN_WITHIN;
            let (serving, behind) = self
                .inner
                .store
                .region_progress(region_id, revision, seen_since)
                .await?;
            if serving > 0 && behind == 0 {
                return Ok(());
            }
            if started.elapsed() > PUSH_TIMEOUT {
                tracing::warn!(
                    region_id,
                    revision,
                    serving,
                    behind,
                    "data planes do not serve the ACME challenge yet; asking the CA anyway"
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The platform's account at the CA: loaded from the store, or created and stored. When
    /// two replicas create one at once, both go on with the one stored first.
    async fn account(&self) -> Result<Account, OrderError> {
        let inner = &self.inner;
        let mut cached = inner.account.lock().await;
        if let Some(account) = cached.as_ref() {
            return Ok(account.clone());
        }
        let stored = match inner.store.acme_account(&inner.directory_url).await? {
            Some(stored) => stored,
            None => {
                let terms = NewAccount {
                    contact: &[],
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                };
                let (_, credentials) = Account::builder_with_http(self.http_client())
                    .create(&terms, inner.directory_url.clone(), None)
                    .await?;
                let serialised = serde_json::to_vec(&credentials)
                    .map_err(|_| OrderError::Ca("the ACME account cannot be stored".into()))?;
                tracing::info!(directory = %inner.directory_url, "ACME account created");
                inner
                    .store
                    .save_acme_account(&inner.directory_url, &serialised, inner.clock.now())
                    .await?
            }
        };
        let credentials: AccountCredentials = serde_json::from_slice(stored.expose())
            .map_err(|_| StoreError::Corrupt("stored ACME account".to_owned()))?;
        let account = Account::builder_with_http(self.http_client())
            .from_credentials(credentials)
            .await?;
        *cached = Some(account.clone());
        Ok(account)
    }

    async fn forget_account(&self) -> Result<(), StoreError> {
        *self.inner.account.lock().await = None;
        self.inner
            .store
            .forget_acme_account(&self.inner.directory_url)
            .await
    }

    fn http_client(&self) -> Box<dyn HttpClient> {
        Box::new(CaClient(self.inner.http.clone()))
    }
}

/// instant-acme's requests sent with the platform's reqwest client, so the CA is reached with
/// the same TLS stack and roots as everything else.
struct CaClient(reqwest::Client);

impl HttpClient for CaClient {
    fn request(
        &self,
        request: Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let answer = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|error| instant_acme::Error::Other(Box::new(error)))?;
            let mut response = Response::builder().status(answer.status());
            if let Some(headers) = response.headers_mut() {
                *headers = answer.headers().clone();
            }
            let body = answer
                .bytes()
                .await
                .map_err(|error| instant_acme::Error::Other(Box::new(error)))?;
            let response = response.body(Full::new(body))?;
            Ok(BytesResponse::from(response))
        })
    }
}

/// Why the CA refused a validated order: the first challenge error it reports.
async fn refusal(order: &mut instant_acme::Order) -> String {
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authorization)) = authorizations.next().await {
        let Ok(state) = authorization.refresh().await else {
            continue;
        };
        if let Some(problem) = state
            .challenges
            .iter()
            .find_map(|challenge| challenge.error.as_ref())
        {
            return describe_problem(problem);
        }
    }
    "the certificate authority refused the order without saying why".to_owned()
}

fn is_unknown_account(problem: &Problem) -> bool {
    problem.r#type.as_deref() == Some(ACCOUNT_DOES_NOT_EXIST)
}

/// What went wrong, for the operator: the CA's own words for a problem it reports; for a
/// failure to reach it, a plain reason, the details going to the log.
fn describe(error: &instant_acme::Error) -> String {
    match error {
        instant_acme::Error::Api(problem) => describe_problem(problem),
        instant_acme::Error::Timeout(_) => {
            "the certificate authority did not answer in time".to_owned()
        }
        other => {
            tracing::warn!(error = %other, "request to the certificate authority failed");
            "the certificate authority could not be reached".to_owned()
        }
    }
}

fn describe_problem(problem: &Problem) -> String {
    let detail = problem.detail.as_deref().unwrap_or("no detail given");
    match problem.r#type.as_deref() {
        Some(kind) => format!("the certificate authority refused: {detail} ({kind})"),
        None => format!("the certificate authority refused: {detail}"),
    }
}

/// Seconds to wait after `failed_orders` failures in a row: 5 minutes, 10, 20, ... 6 hours.
fn retry_delay(failed_orders: i64) -> i64 {
    let doublings = u32::try_from(failed_orders.clamp(0, 16)).unwrap_or(16);
    (FIRST_RETRY_SECONDS << doublings).min(MAX_RETRY_SECONDS)
}

/// When to renew a certificate valid from `not_before` to `not_after`: at two thirds of its
/// lifetime, earlier by `jitter` (0 to 1) of a thirtieth of it.
fn renewal_time(not_before: UnixTime, not_after: UnixTime, jitter: f64) -> UnixTime {
    let lifetime = (not_after - not_before).max(0);
    let early = (lifetime as f64 / 30.0 * jitter.clamp(0.0, 1.0)) as i64;
    not_before + lifetime * 2 / 3 - early
}

fn random_fraction() -> f64 {
    let mut bytes = [0u8; 4];
    restapi_shared::ids::fill_random(&mut bytes);
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_at_two_thirds_of_the_lifetime_less_the_jitter() {
        let ninety_days = 90 * 86_400;
        assert_eq!(renewal_time(0, ninety_days, 0.0), 60 * 86_400);
        assert_eq!(renewal_time(0, ninety_days, 1.0), 57 * 86_400);
        assert_eq!(renewal_time(1_000, 1_000, 0.5), 1_000);
        for _ in 0..100 {
            let jitter = random_fraction();
            assert!((0.0..=1.0).contains(&jitter), "{jitter}");
        }
    }

    #[test]
    fn failed_orders_back_off_from_five_minutes_to_six_hours() {
        let delays: Vec<i64> = (0..8).map(retry_delay).collect();
        assert_eq!(delays, [300, 600, 1200, 2400, 4800, 9600, 19200, 21600]);
        assert_eq!(retry_delay(1_000), MAX_RETRY_SECONDS);
        assert_eq!(retry_delay(-1), FIRST_RETRY_SECONDS);
    }

    #[test]
    fn problems_are_told_in_the_cas_words() {
        let problem: Problem = serde_json::from_value(serde_json::json!({
            "type": "urn:ietf:params:acme:error:unauthorized",
            "detail": "The key authorization file from the server did not match",
            "status": 403
        }))
        .expect("problem");
        assert_eq!(
            describe_problem(&problem),
            "the certificate authority refused: The key authorization file from the server did \
             not match (urn:ietf:params:acme:error:unauthorized)"
        );
        assert!(!is_unknown_account(&problem));
    }
}
