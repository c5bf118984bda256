//! The change feed's long poll: answer as soon as the region changes, or after the wait.

use std::time::Duration;

use restapi_shared::push::{ChangeBatch, Revision};
use tokio::time::Instant;

use crate::store::{Store, StoreError};

/// The changes to `region_id` after `after`, waiting up to `wait` for there to be any.
///
/// Wakes on every new head revision (committed here, or announced by another replica) and
/// looks again; a revision that touched only other regions sends it back to waiting. After
/// the wait it answers with no changes and the head, so the data plane moves its revision on.
pub async fn wait_for_changes(
    store: &Store,
    region_id: &str,
    after: Revision,
    wait: Duration,
) -> Result<ChangeBatch, StoreError> {
    let deadline = Instant::now() + wait;
    let mut head = store.subscribe_head();
    loop {
        // Marking the head as seen before reading means a commit after the read wakes us.
        head.borrow_and_update();
        let batch = store.changes_since(region_id, after).await?;
        if !batch.changes.is_empty() {
            return Ok(batch);
        }
        match tokio::time::timeout_at(deadline, head.changed()).await {
            Ok(Ok(())) => continue,
            Ok(Err(_)) | Err(_) => return Ok(batch),
        }
    }
}
