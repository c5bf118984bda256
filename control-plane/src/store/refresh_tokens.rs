//! Refresh token redemption and revocation: the writes of the refresh path.
//!
//! RFC 9700 §4.14.2: a refresh token is used once. The first use is recorded; a later use
//! means the token leaked (or a client misbehaves), so the whole family is revoked and every
//! token rotated from it stops working. One exception: the same token presented again within
//! [`REFRESH_REUSE_GRACE_SECONDS`] of its first use is honoured again, because a browser whose
//! answer to `_refresh` was lost on the way back retries with the cookie it still holds.

use restapi_shared::clock::UnixTime;
use restapi_shared::node::{
    REFRESH_REUSE_GRACE_SECONDS, RedeemOutcome, RedeemRefreshRequest, RefreshStatusRequest,
    RefreshStatusResponse, ResolvedUser, RevokeRefreshRequest,
};
use restapi_shared::token::{ACCESS_TOKEN_TTL, CLOCK_SKEW, REFRESH_CHAIN_TTL};

use super::{ChangeKind, Store, StoreError};

impl Store {
    /// Redeems a refresh token of an API in the region `region_id` at `now`.
    pub async fn redeem_refresh_token(
        &self,
        region_id: &str,
        request: &RedeemRefreshRequest,
        now: UnixTime,
    ) -> Result<RedeemOutcome, StoreError> {
        self.check_api_region(region_id, &request.api_id).await?;
        self.record_redemption(region_id, request, now).await
    }

    /// Redeems a browser session's refresh token, and reads its user as they are now: `None`
    /// when the token was redeemed but the user is gone or disabled.
    pub async fn redeem_session_token(
        &self,
        region_id: &str,
        request: &RedeemRefreshRequest,
        user_id: &str,
        now: UnixTime,
    ) -> Result<(RedeemOutcome, Option<ResolvedUser>), StoreError> {
        let api_name = self.check_api_region(region_id, &request.api_id).await?;
        let outcome = self.record_redemption(region_id, request, now).await?;
        if outcome != RedeemOutcome::Redeemed {
            return Ok((outcome, None));
        }
        let user = match self.user(&api_name, user_id).await {
            Ok(user) if !user.disabled => Some(user.into_resolved()),
            Ok(_) | Err(StoreError::NotFound(_)) => None,
            Err(error) => return Err(error),
        };
        Ok((outcome, user))
    }

    async fn record_redemption(
        &self,
        region_id: &str,
        request: &RedeemRefreshRequest,
        now: UnixTime,
    ) -> Result<RedeemOutcome, StoreError> {
        // The insert comes first so that the transaction takes the write lock at once: two
        // concurrent redemptions of one token serialise here, and exactly one is first.
        let mut transaction = self.pool().begin().await?;
        let first_use = sqlx::query(
            "INSERT INTO refresh_token_uses (api_id, token_id, family, expires_at, redeemed_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&request.api_id)
        .bind(&request.token_id)
        .bind(&request.family)
        .bind(request.expires_at)
        .bind(now)
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
            let first_redeemed_at: i64 = sqlx::query_scalar(
                "SELECT redeemed_at FROM refresh_token_uses WHERE api_id = $1 AND token_id = $2",
            )
            .bind(&request.api_id)
            .bind(&request.token_id)
            .fetch_one(&mut *transaction)
            .await?;
            let within_grace =
                first_redeemed_at > 0 && now - first_redeemed_at <= REFRESH_REUSE_GRACE_SECONDS;
            if within_grace && !request.strict {
                RedeemOutcome::Redeemed
            } else {
                let (api_id, family) = (&request.api_id, &request.family);
                insert_revocation(&mut transaction, api_id, family, request.expires_at).await?;
                RedeemOutcome::Reused
            }
        };
        transaction.commit().await?;
        if outcome == RedeemOutcome::Reused {
            self.announce_revoked_session(region_id, &request.api_id, &request.family, now)
                .await?;
        }
        Ok(outcome)
    }

    /// Revokes a whole refresh family of an API in the region `region_id`: its session signed
    /// out. Revoking a family twice, or one that never redeemed a token, is fine.
    pub async fn revoke_refresh_family(
        &self,
        region_id: &str,
        request: &RevokeRefreshRequest,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        self.check_api_region(region_id, &request.api_id).await?;

        // The family's start is not known here; it cannot outlive a chain started now.
        let expires_at = now + REFRESH_CHAIN_TTL;
        let mut transaction = self.pool().begin().await?;
        insert_revocation(
            &mut transaction,
            &request.api_id,
            &request.family,
            expires_at,
        )
        .await?;
        transaction.commit().await?;
        let (api_id, family) = (&request.api_id, &request.family);
        self.announce_revoked_session(region_id, api_id, family, now)
            .await
    }

    /// Tells the region's data planes that `family` is revoked, so that they refuse its access
    /// tokens at once. A configuration write of its own, after the revocation: if it fails, the
    /// family is revoked all the same and its access tokens expire within the hour.
    async fn announce_revoked_session(
        &self,
        region_id: &str,
        api_id: &str,
        family: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_config_write(now).await?;
        let announced = sqlx::query(
            "INSERT INTO revoked_sessions (api_id, family, until) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(api_id)
        .bind(family)
        .bind(now + ACCESS_TOKEN_TTL + CLOCK_SKEW)
        .execute(&mut *write.transaction)
        .await?
        .rows_affected();
        if announced == 0 {
            // Announced before: a second write would only churn the feed.
            write.transaction.rollback().await?;
            return Ok(());
        }
        write
            .record(
                region_id,
                ChangeKind::Session,
                &format!("{api_id}:{family}"),
            )
            .await?;
        write.commit(self).await?;
        Ok(())
    }

    /// Whether a refresh token of an API in the region `region_id` was redeemed, and whether
    /// its family is revoked. Reads only.
    pub async fn refresh_token_status(
        &self,
        region_id: &str,
        request: &RefreshStatusRequest,
    ) -> Result<RefreshStatusResponse, StoreError> {
        self.check_api_region(region_id, &request.api_id).await?;
        let used: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM refresh_token_uses WHERE api_id = $1 AND token_id = $2",
        )
        .bind(&request.api_id)
        .bind(&request.token_id)
        .fetch_one(self.pool())
        .await?;
        let revoked: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM refresh_families_revoked WHERE api_id = $1 AND family = $2",
        )
        .bind(&request.api_id)
        .bind(&request.family)
        .fetch_one(self.pool())
        .await?;
        Ok(RefreshStatusResponse {
            used: used > 0,
            revoked: revoked > 0,
        })
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
        // Not a configuration change: data planes forget these entries by themselves.
        let sessions = sqlx::query("DELETE FROM revoked_sessions WHERE until < $1")
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
        Ok(uses + families + sessions)
    }

    /// The API's name; refuses an API that does not exist or belongs to another region than
    /// the caller's.
    async fn check_api_region(&self, region_id: &str, api_id: &str) -> Result<String, StoreError> {
        let api: Option<(String, String)> =
            sqlx::query_as("SELECT region_id, name FROM apis WHERE id = $1")
                .bind(api_id)
                .fetch_optional(self.pool())
                .await?;
        match api {
            Some((api_region, name)) if api_region == region_id => Ok(name),
            _ => Err(StoreError::WrongRegion),
        }
    }
}

async fn insert_revocation(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    api_id: &str,
    family: &str,
    expires_at: UnixTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO refresh_families_revoked (api_id, family, expires_at) \
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(api_id)
    .bind(family)
    .bind(expires_at)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}
