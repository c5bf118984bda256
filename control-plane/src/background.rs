//! Work that runs beside the requests: housekeeping, and following other replicas' writes.

use std::time::Duration;

use restapi_shared::Clock;
use restapi_shared::clock::UnixTime;
use sqlx::postgres::PgListener;
use tokio::task::JoinHandle;

use crate::acme::CertificateManager;
use crate::domain_verification::DomainVerifier;
use crate::store::{Backend, NOTIFY_CHANNEL, Store, StoreError};

/// How often housekeeping runs.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(60);
/// How often the head is read in case a notification was lost (PostgreSQL only).
const HEAD_POLL_INTERVAL: Duration = Duration::from_secs(5);
/// Pause before listening again after the listener failed.
const LISTENER_RETRY: Duration = Duration::from_secs(1);
/// How often pending custom domains are looked at; well under their shortest retry delay (30
/// seconds), so a retry is late by at most this much.
const DOMAIN_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// How often certificates due for an order (first issue, renewal, retry) are looked for.
const CERTIFICATE_ORDER_INTERVAL: Duration = Duration::from_secs(10);

/// Starts the background tasks; they run until their handles are aborted.
pub fn spawn(
    store: &Store,
    clock: &Clock,
    change_log_retention: i64,
    database_url: &str,
) -> Vec<JoinHandle<()>> {
    let mut tasks = vec![tokio::spawn(maintain(
        store.clone(),
        clock.clone(),
        change_log_retention,
    ))];
    if store.backend() == Backend::Postgres {
        tasks.push(tokio::spawn(follow_notifications(
            store.clone(),
            database_url.to_owned(),
        )));
        tasks.push(tokio::spawn(poll_head(store.clone())));
    }
    tasks
}

/// Starts the task that checks the DNS of pending custom domains whose retry time has come,
/// by `clock`; it runs until its handle is aborted.
pub fn spawn_domain_checks(domains: &DomainVerifier, clock: &Clock) -> JoinHandle<()> {
    tokio::spawn(check_domains(domains.clone(), clock.clone()))
}

/// Starts the task that orders custom domains' certificates when due; it runs until its
/// handle is aborted.
pub fn spawn_certificate_orders(certificates: &CertificateManager) -> JoinHandle<()> {
    let certificates = certificates.clone();
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(CERTIFICATE_ORDER_INTERVAL);
        loop {
            interval.tick().await;
            if let Err(error) = certificates.order_due().await {
                tracing::warn!(%error, "ordering certificates failed; retrying at the next interval");
            }
        }
    })
}

/// One round of housekeeping: prune the change log, refresh token records and data plane
/// rows, and delete signing keys retired more than a day ago.
pub async fn run_maintenance(
    store: &Store,
    now: UnixTime,
    change_log_retention: i64,
) -> Result<(), StoreError> {
    let changes = store.prune_change_log(now, change_log_retention).await?;
    let refresh_records = store.prune_refresh_records(now).await?;
    let keys = store.delete_retired_signing_keys(now).await?;
    let data_planes = store.forget_silent_data_planes(now).await?;
    if changes + refresh_records + keys + data_planes > 0 {
        tracing::info!(
            changes,
            refresh_records,
            keys,
            data_planes,
            "housekeeping removed rows"
        );
    }
    Ok(())
}

async fn maintain(store: Store, clock: Clock, change_log_retention: i64) {
    let mut interval = tokio::time::interval(MAINTENANCE_INTERVAL);
    loop {
        interval.tick().await;
        if let Err(error) = run_maintenance(&store, clock.now(), change_log_retention).await {
            tracing::warn!(%error, "housekeeping failed; retrying at the next interval");
        }
    }
}

/// Checks the DNS of pending custom domains whose retry time has come. Several replicas may
/// check the same domain at once; the store records its verification once.
async fn check_domains(domains: DomainVerifier, clock: Clock) {
    let mut interval = tokio::time::interval(DOMAIN_CHECK_INTERVAL);
    loop {
        interval.tick().await;
        if let Err(error) = domains.check_due(clock.now()).await {
            tracing::warn!(%error, "checking custom domains failed; retrying at the next interval");
        }
    }
}

/// Wakes this replica's long polls when another replica commits (PostgreSQL LISTEN/NOTIFY).
async fn follow_notifications(store: Store, database_url: String) {
    loop {
        if let Err(error) = listen(&store, &database_url).await {
            tracing::warn!(%error, "listening for configuration changes failed; retrying");
        }
        tokio::time::sleep(LISTENER_RETRY).await;
    }
}

async fn listen(store: &Store, database_url: &str) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen(NOTIFY_CHANNEL).await?;
    // Anything committed while not listening is picked up by reading the head once.
    let _ = store.refresh_head().await;
    loop {
        listener.recv().await?;
        if let Err(error) = store.refresh_head().await {
            tracing::warn!(%error, "reading the head revision failed");
        }
    }
}

async fn poll_head(store: Store) {
    let mut interval = tokio::time::interval(HEAD_POLL_INTERVAL);
    loop {
        interval.tick().await;
        if let Err(error) = store.refresh_head().await {
            tracing::warn!(%error, "reading the head revision failed");
        }
    }
}
