//! What data planes read: a region's snapshot, and its changes after a revision.
//!
//! The change log holds references, not payloads; a batch is built from the current state of
//! each object touched after the data plane's revision, read in one consistent transaction
//! together with the head. Applying it brings the data plane to exactly the head revision.

use restapi_shared::clock::UnixTime;
use restapi_shared::push::{ApiConfig, Change, ChangeBatch, RegionSnapshot, Revision};
use sqlx::AnyConnection;

use super::apis::{ApiRow, api_by_id, refresh_key_context};
use super::certificates::domain_configs;
use super::clients::client_configs;
use super::providers::provider_configs;
use super::service_accounts::service_account_configs;
use super::signing_keys::signing_key_configs;
use super::{ChangeKind, Store, StoreError};

impl Store {
    /// The whole configuration of region `region_id` at the head revision.
    pub async fn snapshot(&self, region_id: &str) -> Result<RegionSnapshot, StoreError> {
        let mut transaction = self.begin_consistent_read().await?;
        let (revision, _) = revision_row(&mut transaction).await?;
        let region = Self::region_config_by_id(&mut transaction, region_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no region '{region_id}'")))?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM apis WHERE region_id = $1 ORDER BY name")
                .bind(region_id)
                .fetch_all(&mut *transaction)
                .await?;
        let mut apis = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(api) = api_by_id(&mut transaction, &id).await? {
                apis.push(self.api_config(&mut transaction, api).await?);
            }
        }
        transaction.commit().await?;
        Ok(RegionSnapshot {
            revision,
            region,
            apis,
        })
    }

    /// The changes to region `region_id` after revision `after`, as of the head.
    ///
    /// Fails with [`StoreError::RevisionGone`] when the log no longer reaches back to `after`
    /// (or `after` is ahead of the head, as after a database restore): the data plane must
    /// take a new snapshot.
    pub async fn changes_since(
        &self,
        region_id: &str,
        after: Revision,
    ) -> Result<ChangeBatch, StoreError> {
        let mut transaction = self.begin_consistent_read().await?;
        let (head, floor) = revision_row(&mut transaction).await?;
        if after < floor || after > head {
            return Err(StoreError::RevisionGone(after));
        }

        let touched: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT kind, entity_id, MIN(revision) AS first FROM config_changes \
             WHERE region_id = $1 AND revision > $2 AND revision <= $3 \
             GROUP BY kind, entity_id ORDER BY first, kind, entity_id",
        )
        .bind(region_id)
        .bind(after)
        .bind(head)
        .fetch_all(&mut *transaction)
        .await?;

        let mut changes = Vec::with_capacity(touched.len());
        for (kind, entity_id, _) in touched {
            if kind == ChangeKind::Session.as_str() {
                let Some((api_id, family)) = entity_id.split_once(':') else {
                    continue;
                };
                // A session of an API that left the region goes with the API's own change.
                if let Some(api) = api_by_id(&mut transaction, api_id).await?
                    && api.region_id == region_id
                {
                    changes.push(Change::SessionRevoked {
                        api_id: api_id.to_owned(),
                        family: family.to_owned(),
                    });
                }
                continue;
            }
            if kind == ChangeKind::Region.as_str() {
                if let Some(region) =
                    Self::region_config_by_id(&mut transaction, &entity_id).await?
                {
                    changes.push(Change::RegionUpdated { region });
                }
                continue;
            }
            // The API's current state decides: here and in this region, or gone from it.
            match api_by_id(&mut transaction, &entity_id).await? {
                Some(api) if api.region_id == region_id => {
                    let api = self.api_config(&mut transaction, api).await?;
                    changes.push(Change::ApiUpserted { api: Box::new(api) });
                }
                Some(_) | None => changes.push(Change::ApiRemoved { id: entity_id }),
            }
        }
        transaction.commit().await?;
        Ok(ChangeBatch {
            revision: head,
            changes,
        })
    }

    /// Drops changes recorded before `now - retention` and raises the log floor to the highest
    /// revision dropped; returns how many entries went.
    pub async fn prune_change_log(&self, now: UnixTime, retention: i64) -> Result<u64, StoreError> {
        let cutoff = now - retention;
        let mut transaction = self.pool().begin().await?;
        // The floor moves first: that write takes the lock before anything is read.
        sqlx::query(
            "UPDATE config_revision SET log_floor = \
             (SELECT MAX(revision) FROM config_changes WHERE changed_at < $1) \
             WHERE id = 1 AND \
             (SELECT MAX(revision) FROM config_changes WHERE changed_at < $1) > log_floor",
        )
        .bind(cutoff)
        .execute(&mut *transaction)
        .await?;
        let pruned = sqlx::query(
            "DELETE FROM config_changes WHERE revision <= \
             (SELECT log_floor FROM config_revision WHERE id = 1)",
        )
        .execute(&mut *transaction)
        .await?
        .rows_affected();
        transaction.commit().await?;
        Ok(pruned)
    }

    async fn api_config(
        &self,
        connection: &mut AnyConnection,
        api: ApiRow,
    ) -> Result<ApiConfig, StoreError> {
        let sealed: Vec<u8> =
            sqlx::query_scalar("SELECT refresh_token_key FROM apis WHERE id = $1")
                .bind(&api.id)
                .fetch_one(&mut *connection)
                .await?;
        let refresh_token_key = self.open_secret(&refresh_key_context(&api.id), &sealed)?;
        let signing_keys = signing_key_configs(self, connection, &api.id).await?;
        let service_accounts = service_account_configs(connection, &api.id).await?;
        let providers = provider_configs(self, connection, &api.id).await?;
        let clients = client_configs(connection, &api.id).await?;
        let domains = domain_configs(self, connection, &api.id).await?;
        let revoked_sessions =
            sqlx::query_scalar("SELECT family FROM revoked_sessions WHERE api_id = $1")
                .bind(&api.id)
                .fetch_all(&mut *connection)
                .await?;
        Ok(ApiConfig {
            id: api.id,
            name: api.name,
            roles: api.roles,
            default_roles: api.default_roles,
            signing_keys,
            service_accounts,
            refresh_token_key,
            claims: api.claims,
            web: api.web,
            providers,
            clients,
            revoked_sessions,
            domains,
        })
    }
}

async fn revision_row(connection: &mut AnyConnection) -> Result<(Revision, Revision), StoreError> {
    Ok(
        sqlx::query_as("SELECT revision, log_floor FROM config_revision WHERE id = 1")
            .fetch_one(connection)
            .await?,
    )
}
