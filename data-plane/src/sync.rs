//! Follows the control plane: a snapshot, then the change feed, forever.
//!
//! Each batch is applied atomically (a whole new [`RegionState`] is swapped in). When the
//! control plane is unreachable the data plane keeps serving the last good configuration and
//! retries with capped, jittered exponential backoff; an outage is logged once, not per retry.

use std::sync::Arc;
use std::time::Duration;

use restapi_shared::push::Revision;

use crate::config::{ConfigStore, RegionState};
use crate::metrics::Metrics;
use crate::node_client::{NodeClient, NodeError, error_chain};

/// The first retry delay after a failure.
const INITIAL_BACKOFF: Duration = Duration::from_millis(250);
/// The longest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Runs the sync loop until the task is dropped, counting what it applies in `metrics`.
pub async fn run(client: NodeClient, store: Arc<ConfigStore>, metrics: Arc<Metrics>) {
    let mut follower = Follower {
        client,
        store,
        metrics,
        outage: false,
        backoff: INITIAL_BACKOFF,
    };
    tracing::info!(instance = %follower.client.instance_id(), "following the control plane");
    loop {
        let outcome = match follower.store.revision() {
            None => follower.take_snapshot().await,
            Some(revision) => follower.follow_changes(revision).await,
        };
        match outcome {
            Ok(()) => follower.recovered(),
            Err(NodeError::RevisionGone) => follower.take_snapshot_after_gap().await,
            Err(error) => follower.failed(error).await,
        }
    }
}

struct Follower {
    client: NodeClient,
    store: Arc<ConfigStore>,
    metrics: Arc<Metrics>,
    /// Whether the last call failed, so an outage is reported once.
    outage: bool,
    backoff: Duration,
}

impl Follower {
    async fn take_snapshot(&mut self) -> Result<(), NodeError> {
        let snapshot = self.client.snapshot().await?;
        let state = RegionState::from_snapshot(snapshot);
        tracing::info!(
            revision = state.revision,
            region = %state.region.name,
            apis = state.api_count(),
            "configuration snapshot applied"
        );
        self.store.replace(state);
        self.metrics.snapshot_applied();
        Ok(())
    }

    async fn take_snapshot_after_gap(&mut self) {
        tracing::info!("change log no longer reaches our revision; taking a new snapshot");
        match self.take_snapshot().await {
            Ok(()) => self.recovered(),
            Err(error) => self.failed(error).await,
        }
    }

    async fn follow_changes(&mut self, after: Revision) -> Result<(), NodeError> {
        let batch = self.client.changes(after).await?;
        let Some(current) = self.store.current() else {
            return Ok(());
        };
        if batch.revision <= current.revision && batch.changes.is_empty() {
            return Ok(());
        }
        let changes = batch.changes.len();
        let next = current.apply(batch);
        if changes == 0 {
            tracing::debug!(
                revision = next.revision,
                "revision advanced without regional changes"
            );
        } else {
            tracing::info!(
                revision = next.revision,
                changes,
                "configuration revision applied"
            );
        }
        self.store.replace(next);
        self.metrics.batch_applied();
        Ok(())
    }

    fn recovered(&mut self) {
        if self.outage {
            tracing::info!("syncing with the control plane again");
        }
        self.outage = false;
        self.backoff = INITIAL_BACKOFF;
    }

    async fn failed(&mut self, error: NodeError) {
        self.metrics.sync_failed();
        if !self.outage {
            tracing::warn!(
                error = error_chain(&error),
                serving_revision = ?self.store.revision(),
                "cannot sync with the control plane; serving the last configuration and retrying"
            );
        } else {
            tracing::debug!(
                error = error_chain(&error),
                "still cannot sync with the control plane"
            );
        }
        self.outage = true;
        tokio::time::sleep(jittered(self.backoff)).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// A delay between half of `backoff` and all of it, so that many data planes do not retry in
/// step after the control plane comes back.
fn jittered(backoff: Duration) -> Duration {
    let mut random = [0u8; 2];
    restapi_shared::ids::fill_random(&mut random);
    let fraction = f64::from(u16::from_le_bytes(random)) / f64::from(u16::MAX);
    backoff.mul_f64(0.5 + fraction / 2.0)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use restapi_shared::node::{CHANGES_PATH, REVISION_HEADER, SNAPSHOT_PATH};
    use restapi_shared::push::{Change, ChangeBatch, RegionSnapshot};

    use super::*;
    use crate::DataPlane;
    use crate::test_support::{self, NOW};

    /// What the stub saw: (path, revision header) per call.
    type Calls = Arc<Mutex<Vec<(String, Option<String>)>>>;

    fn record(calls: &Calls, path: &str, headers: &HeaderMap) {
        assert_eq!(headers["authorization"], "Bearer rnt_test");
        assert_eq!(headers["restapi-region"], "eu");
        let revision = headers
            .get(REVISION_HEADER)
            .map(|value| value.to_str().unwrap().to_owned());
        calls.lock().unwrap().push((path.to_owned(), revision));
    }

    /// Snapshot at 1; changes: a new API at 2, then 410 (forcing a snapshot at 5), then
    /// failures, through which the data plane must keep serving revision 5.
    async fn stub(calls: Calls) -> String {
        let snapshots = Arc::new(Mutex::new(0));
        let snapshot_calls = Arc::clone(&calls);
        let snapshot = move |headers: HeaderMap| {
            record(&snapshot_calls, SNAPSHOT_PATH, &headers);
            let mut count = snapshots.lock().unwrap();
            *count += 1;
            let mut snapshot: RegionSnapshot = test_support::snapshot();
            snapshot.revision = if *count == 1 { 1 } else { 5 };
            async move { axum::Json(snapshot) }
        };
        let changes = move |headers: HeaderMap| {
            record(&calls, CHANGES_PATH, &headers);
            let count = calls
                .lock()
                .unwrap()
                .iter()
                .filter(|(path, _)| path == CHANGES_PATH)
                .count();
            async move {
                match count {
                    1 => {
                        let mut api = test_support::snapshot().apis.remove(0);
                        api.id = "api_news".to_owned();
                        api.name = "news".to_owned();
                        let changes = vec![Change::ApiUpserted { api: Box::new(api) }];
                        axum::Json(ChangeBatch {
                            revision: 2,
                            changes,
                        })
                        .into_response()
                    }
                    2 => (
                        StatusCode::GONE,
                        axum::Json(serde_json::json!({"error": "revision_gone"})),
                    )
                        .into_response(),
                    _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }
        };
        let router = axum::Router::new()
            .route(SNAPSHOT_PATH, get(snapshot))
            .route(CHANGES_PATH, get(changes));
        test_support::spawn_stub(router).await
    }

    #[tokio::test]
    async fn follows_snapshot_changes_and_gaps_then_keeps_serving_through_failures() {
        let calls: Calls = Arc::default();
        let url = stub(Arc::clone(&calls)).await;
        let settings = test_support::settings(Some(&url));
        let data_plane = DataPlane::start(settings, restapi_shared::Clock::manual(NOW)).unwrap();

        let failures_seen = || {
            calls
                .lock()
                .unwrap()
                .iter()
                .filter(|(path, _)| path == CHANGES_PATH)
                .count()
                >= 4
        };
        for _ in 0..200 {
            if failures_seen() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        assert!(failures_seen(), "{:?}", calls.lock().unwrap());
        assert_eq!(data_plane.revision(), Some(5));
        assert!(data_plane.is_ready());
        let metrics = data_plane.state.metrics.render(None);
        for line in [
            "restapi_sync_snapshots_total 2",
            "restapi_sync_batches_total 1",
        ] {
            assert!(
                metrics.lines().any(|candidate| candidate == line),
                "{metrics}"
            );
        }
        assert!(
            !metrics.contains("restapi_sync_failures_total 0\n"),
            "{metrics}"
        );

        let calls = calls.lock().unwrap().clone();
        let revisions: Vec<(&str, Option<&str>)> = calls
            .iter()
            .take(4)
            .map(|(path, revision)| (path.as_str(), revision.as_deref()))
            .collect();
        assert_eq!(
            revisions,
            [
                (SNAPSHOT_PATH, None),
                (CHANGES_PATH, Some("1")),
                (CHANGES_PATH, Some("2")),
                (SNAPSHOT_PATH, Some("2")),
            ]
        );
    }

    #[test]
    fn applied_batch_adds_the_api() {
        let state = RegionState::from_snapshot(test_support::snapshot());
        let mut api = test_support::snapshot().apis.remove(0);
        api.id = "api_news".to_owned();
        api.name = "news".to_owned();
        let batch = ChangeBatch {
            revision: 8,
            changes: vec![Change::ApiUpserted { api: Box::new(api) }],
        };
        let next = state.apply(batch);
        assert_eq!((next.revision, next.api_count()), (8, 3));
    }

    #[test]
    fn jitter_stays_within_half_and_full_backoff() {
        for _ in 0..100 {
            let delay = jittered(Duration::from_secs(10));
            assert!(delay >= Duration::from_secs(5) && delay <= Duration::from_secs(10));
        }
    }
}
