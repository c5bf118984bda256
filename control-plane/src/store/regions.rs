//! Regions: a name (`eu`) and the public host of the regional endpoint.

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id};
use restapi_shared::push::RegionConfig;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ChangeKind, Store, StoreError, is_unique_violation};
use crate::names;

/// A region as the admin API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    /// Identifier (`reg_...`).
    pub id: String,
    /// Short name such as `eu`, unique.
    pub name: String,
    /// Public host of the regional endpoint, such as `eu.restapi.com`.
    pub host: String,
    /// When the region was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When the region was last changed.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: UnixTime,
}

/// A region to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewRegion {
    /// Short name: a lowercase DNS label, not the name of an API.
    #[schema(example = "eu")]
    pub name: String,
    /// Public host of the regional endpoint.
    #[schema(example = "eu.restapi.com")]
    pub host: String,
}

/// Changes to a region; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegionChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new host.
    pub host: Option<String>,
}

type RegionRow = (String, String, String, i64, i64);

const SELECT_REGION: &str = "SELECT id, name, host, created_at, updated_at FROM regions";

impl Store {
    /// Creates a region.
    pub async fn create_region(
        &self,
        new: &NewRegion,
        now: UnixTime,
    ) -> Result<Region, StoreError> {
        names::check_label("region", &new.name).map_err(StoreError::InvalidName)?;
        names::check_host(&new.host).map_err(StoreError::InvalidField)?;

        let mut write = self.begin_config_write(now).await?;
        check_region_name_free(&mut write.transaction, &new.name, None).await?;
        let id = new_id(ids::REGION);
        sqlx::query(
            "INSERT INTO regions (id, name, host, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&id)
        .bind(&new.name)
        .bind(&new.host)
        .bind(now)
        .execute(&mut *write.transaction)
        .await
        .map_err(|error| name_taken(error, &new.name))?;
        write.record(&id, ChangeKind::Region, &id).await?;
        write.commit(self).await?;

        Ok(Region {
            id,
            name: new.name.clone(),
            host: new.host.clone(),
            created_at: now,
            updated_at: now,
        })
    }

    /// Every region, by name.
    pub async fn list_regions(&self) -> Result<Vec<Region>, StoreError> {
        let rows: Vec<RegionRow> = sqlx::query_as(&format!("{SELECT_REGION} ORDER BY name"))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.into_iter().map(region_from_row).collect())
    }

    /// The region named `name`.
    pub async fn region(&self, name: &str) -> Result<Region, StoreError> {
        let row: Option<RegionRow> = sqlx::query_as(&format!("{SELECT_REGION} WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.map(region_from_row)
            .ok_or_else(|| region_not_found(name))
    }

    /// Renames a region or changes its host.
    pub async fn update_region(
        &self,
        name: &str,
        changes: &RegionChanges,
        now: UnixTime,
    ) -> Result<Region, StoreError> {
        if let Some(new_name) = &changes.name {
            names::check_label("region", new_name).map_err(StoreError::InvalidName)?;
        }
        if let Some(host) = &changes.host {
            names::check_host(host).map_err(StoreError::InvalidField)?;
        }

        let mut write = self.begin_config_write(now).await?;
        let row: Option<RegionRow> = sqlx::query_as(&format!("{SELECT_REGION} WHERE name = $1"))
            .bind(name)
            .fetch_optional(&mut *write.transaction)
            .await?;
        let mut region = row
            .map(region_from_row)
            .ok_or_else(|| region_not_found(name))?;
        if let Some(new_name) = &changes.name {
            check_region_name_free(&mut write.transaction, new_name, Some(&region.id)).await?;
            region.name = new_name.clone();
        }
        if let Some(host) = &changes.host {
            region.host = host.clone();
        }
        region.updated_at = now;

        sqlx::query("UPDATE regions SET name = $1, host = $2, updated_at = $3 WHERE id = $4")
            .bind(&region.name)
            .bind(&region.host)
            .bind(now)
            .bind(&region.id)
            .execute(&mut *write.transaction)
            .await
            .map_err(|error| name_taken(error, &region.name))?;
        write
            .record(&region.id, ChangeKind::Region, &region.id)
            .await?;
        write.commit(self).await?;
        Ok(region)
    }

    /// Deletes a region that no API lives in; its node credentials go with it.
    pub async fn delete_region(&self, name: &str, now: UnixTime) -> Result<(), StoreError> {
        let mut write = self.begin_config_write(now).await?;
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM regions WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *write.transaction)
            .await?;
        let id = id.ok_or_else(|| region_not_found(name))?;

        let apis: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apis WHERE region_id = $1")
            .bind(&id)
            .fetch_one(&mut *write.transaction)
            .await?;
        if apis > 0 {
            return Err(StoreError::Conflict(format!(
                "region '{name}' still has {apis} API(s); move or delete them first"
            )));
        }

        // Data plane rows go with their credentials (ON DELETE CASCADE).
        sqlx::query("DELETE FROM node_credentials WHERE region_id = $1")
            .bind(&id)
            .execute(&mut *write.transaction)
            .await?;
        sqlx::query("DELETE FROM regions WHERE id = $1")
            .bind(&id)
            .execute(&mut *write.transaction)
            .await?;
        write.record(&id, ChangeKind::Region, &id).await?;
        write.commit(self).await?;
        Ok(())
    }

    /// Makes sure region `name` exists with `host`, for dev mode.
    pub async fn ensure_region(
        &self,
        name: &str,
        host: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        match self.region(name).await {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound(_)) => {
                let new = NewRegion {
                    name: name.to_owned(),
                    host: host.to_owned(),
                };
                match self.create_region(&new, now).await {
                    // Another replica created it at the same moment.
                    Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// The region with identifier `id` as pushed to data planes.
    pub(super) async fn region_config_by_id(
        connection: &mut sqlx::AnyConnection,
        id: &str,
    ) -> Result<Option<RegionConfig>, StoreError> {
        let row: Option<(String, String, String)> =
            sqlx::query_as("SELECT id, name, host FROM regions WHERE id = $1")
                .bind(id)
                .fetch_optional(connection)
                .await?;
        Ok(row.map(|(id, name, host)| RegionConfig { id, name, host }))
    }
}

/// Refuses a region name that another region or any API already has.
async fn check_region_name_free(
    connection: &mut sqlx::AnyConnection,
    name: &str,
    own_id: Option<&str>,
) -> Result<(), StoreError> {
    let apis: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apis WHERE name = $1")
        .bind(name)
        .fetch_one(&mut *connection)
        .await?;
    if apis > 0 {
        return Err(StoreError::InvalidName(format!(
            "region name '{name}' is the name of an API; region and API names must differ"
        )));
    }
    let regions: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM regions WHERE name = $1 AND id <> $2")
            .bind(name)
            .bind(own_id.unwrap_or_default())
            .fetch_one(&mut *connection)
            .await?;
    if regions > 0 {
        return Err(StoreError::Conflict(format!(
            "a region named '{name}' already exists"
        )));
    }
    Ok(())
}

fn region_from_row((id, name, host, created_at, updated_at): RegionRow) -> Region {
    Region {
        id,
        name,
        host,
        created_at,
        updated_at,
    }
}

pub(super) fn region_not_found(name: &str) -> StoreError {
    StoreError::NotFound(format!("no region named '{name}'"))
}

fn name_taken(error: sqlx::Error, name: &str) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::Conflict(format!("a region named '{name}' already exists"))
    } else {
        StoreError::Database(error)
    }
}
