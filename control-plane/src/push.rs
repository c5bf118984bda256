//! The change feed's long poll: answer as soon as the region changes, or after the wait.

use std::time::Duration;

use restapi_shared::push::{ChangeBatch, Revision};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::store::{Store, StoreError};

/// The changes to `region_id` after `after`, waiting up to `wait` for there to be any.
///
/// Wakes on every new head revision (committed here, or announced by another replica) and
/// looks again; a revision that touched only other regions sends it back to waiting. After
/// the wait it answers with no changes and the head, so the data plane moves its revision on.
/// It also answers at once when the server starts draining, so that a graceful shutdown does
/// not wait for every open poll to run out.
pub async fn wait_for_changes(
    store: &Store,
    region_id: &str,
    after: Revision,
    wait: Duration,
    mut draining: Draining,
) -> Result<ChangeBatch, StoreError> {
    let deadline = Instant::now() + wait;
    let mut head = store.subscribe_head();
    loop {
        // Marking the head as seen before reading means a commit after the read wakes us.
        head.borrow_and_update();
        let batch = store.changes_since(region_id, after).await?;
        if !batch.changes.is_empty() || draining.is_draining() {
            return Ok(batch);
        }
        tokio::select! {
            changed = tokio::time::timeout_at(deadline, head.changed()) => match changed {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(batch),
            },
            () = draining.started() => return Ok(batch),
        }
    }
}

/// Whether the server is shutting down; set by [`crate::serve`].
#[derive(Clone, Debug)]
pub struct Draining(Option<watch::Receiver<bool>>);

impl Draining {
    /// A signal that never fires, for routers served without [`crate::serve`].
    pub fn never() -> Self {
        Self(None)
    }

    /// A signal and the sender that fires it.
    pub fn channel() -> (watch::Sender<bool>, Self) {
        let (sender, receiver) = watch::channel(false);
        (sender, Self(Some(receiver)))
    }

    fn is_draining(&self) -> bool {
        self.0.as_ref().is_some_and(|receiver| *receiver.borrow())
    }

    async fn started(&mut self) {
        match &mut self.0 {
            // A dropped sender means the server is gone: treat it as draining.
            Some(receiver) => {
                let _ = receiver.wait_for(|draining| *draining).await;
            }
            None => std::future::pending().await,
        }
    }
}
