//! Refresh token redemption: the one write on the refresh path.
//!
//! RFC 9700 §4.14.2: a refresh token is used once. The first use is recorded; a second use
//! means the token leaked (or a client misbehaves), so the whole family is revoked and every
//! token rotated from it stops working.

use restapi_shared::clock::UnixTime;
use restapi_shared::node::{RedeemOutcome, RedeemRefreshRequest};

use super::{Store, StoreError};

impl Store {
    /// Redeems a refresh token of an API in the region `region_id`.
    pub async fn redeem_refresh_token(
        &self,
        region_id: &str,
        request: &RedeemRefreshRequest,
    ) -> Result<RedeemOutcome, StoreError> {
        let api_region: Option<String> =
            sqlx::query_scalar("SELECT region_id FROM apis WHERE id = $1")
                .bind(&request.api_id)
                .fetch_optional(self.pool())
                .await?;
        if api_region.as_deref() != Some(region_id) {
            return Err(StoreError::WrongRegion);
        }

        // The insert comes first so that the transaction takes the write lock at once: two
        // concurrent redemptions of one token serialise here, and exactly one is first.
        let mut transaction = self.pool().begin().await?;
        let first_use = sqlx::query(
            "INSERT INTO refresh_token_uses (api_id, token_id, family, expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(&request.api_id)
        .bind(&request.token_id)
        .bind(&request.family)
        .bind(request.expires_at)
        .execute(&mut *transaction)
        .await?
        .rows_affected()
            == 1;

        let revoked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM refresh_families_revoked WHERE api_id = $1 AND family = $2",
        )
        .bind(&request.api_id)
        .bind(&request.family)
        .fetch_one(&mut *transaction)
        .await?;
        let outcome = if revoked > 0 {
            RedeemOutcome::Revoked
        } else if first_use {
            RedeemOutcome::Redeemed
        } else {
            sqlx::query(
                "INSERT INTO refresh_families_revoked (api_id, family, expires_at) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(&request.api_id)
            .bind(&request.family)
            .bind(request.expires_at)
            .execute(&mut *transaction)
            .await?;
            RedeemOutcome::Reused
        };
        transaction.commit().await?;
        Ok(outcome)
    }

    /// Forgets uses and revocations of families that have expired anyway.
    pub async fn prune_refresh_records(&self, now: UnixTime) -> Result<u64, StoreError> {
        let uses = sqlx::query("DELETE FROM refresh_token_uses WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
        let families = sqlx::query("DELETE FROM refresh_families_revoked WHERE expires_at < $1")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(uses + families)
    }
}
