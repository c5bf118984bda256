//! What the control plane knows of the data planes: who called last, from which region, at
//! which revision. Written on every node API call.

use restapi_shared::clock::UnixTime;
use restapi_shared::push::Revision;
use serde::Serialize;
use utoipa::ToSchema;

use super::{NodeIdentity, Store, StoreError};

/// A data plane counts as connected when it called within this many seconds.
pub const CONNECTED_WITHIN_SECONDS: i64 = 60;
/// Data planes not seen for this long are forgotten.
pub const FORGET_AFTER_SECONDS: i64 = 24 * 3600;

/// A data plane as the admin API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DataPlane {
    /// The process's instance identifier, random per start.
    pub instance: String,
    /// Name of the region it serves.
    pub region: String,
    /// Name of the node credential it uses.
    pub credential_name: String,
    /// The configuration revision it serves; absent before its first snapshot.
    pub revision: Option<i64>,
    /// How many of its region's changes it has not applied yet.
    pub lag: Option<i64>,
    /// When it last called the control plane.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: UnixTime,
    /// Whether it called within the last 60 seconds.
    pub connected: bool,
}

/// What a data plane tells about itself on each call.
#[derive(Clone, Debug)]
pub struct NodeReport {
    /// Its instance identifier.
    pub instance: String,
    /// The revision it serves, if it has one.
    pub revision: Option<i64>,
}

type DataPlaneRow = (String, String, String, String, Option<i64>, i64);

impl Store {
    /// Records a call from a data plane.
    pub async fn record_data_plane(
        &self,
        node: &NodeIdentity,
        report: &NodeReport,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO data_planes (instance, credential_id, region_id, revision, last_seen) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (instance) DO UPDATE SET \
             credential_id = excluded.credential_id, region_id = excluded.region_id, \
             revision = excluded.revision, last_seen = excluded.last_seen",
        )
        .bind(&report.instance)
        .bind(&node.credential_id)
        .bind(&node.region_id)
        .bind(report.revision)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The data planes seen within the last day.
    pub async fn list_data_planes(&self, now: UnixTime) -> Result<Vec<DataPlane>, StoreError> {
        let rows: Vec<DataPlaneRow> = sqlx::query_as(
            "SELECT d.instance, d.region_id, r.name, c.name, d.revision, d.last_seen \
             FROM data_planes d JOIN node_credentials c ON c.id = d.credential_id \
             JOIN regions r ON r.id = d.region_id ORDER BY r.name, d.instance",
        )
        .fetch_all(self.pool())
        .await?;

        let mut data_planes = Vec::with_capacity(rows.len());
        for (instance, region_id, region, credential_name, revision, last_seen) in rows {
            let lag = match revision {
                Some(revision) => Some(
                    sqlx::query_scalar::<_, i64>(
                        "SELECT COUNT(*) FROM config_changes \
                         WHERE region_id = $1 AND revision > $2",
                    )
                    .bind(&region_id)
                    .bind(revision)
                    .fetch_one(self.pool())
                    .await?,
                ),
                None => None,
            };
            data_planes.push(DataPlane {
                instance,
                region,
                credential_name,
                revision,
                lag,
                last_seen,
                connected: now - last_seen <= CONNECTED_WITHIN_SECONDS,
            });
        }
        Ok(data_planes)
    }

    /// Forgets data planes not seen for a day.
    pub async fn forget_silent_data_planes(&self, now: UnixTime) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM data_planes WHERE last_seen < $1")
            .bind(now - FORGET_AFTER_SECONDS)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// How many data planes of region `region_id` seen since `seen_since` serve revision
    /// `revision` or later, and how many serve an older one.
    pub async fn region_progress(
        &self,
        region_id: &str,
        revision: Revision,
        seen_since: UnixTime,
    ) -> Result<(i64, i64), StoreError> {
        let counts: (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(CASE WHEN revision >= $2 THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN revision >= $2 THEN 0 ELSE 1 END), 0) \
             FROM data_planes WHERE region_id = $1 AND last_seen >= $3",
        )
        .bind(region_id)
        .bind(revision)
        .bind(seen_since)
        .fetch_one(self.pool())
        .await?;
        Ok(counts)
    }
}
