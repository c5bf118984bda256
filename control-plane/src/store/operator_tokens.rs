//! Operator tokens: the bearer tokens of the admin API, stored as SHA-256 digests.

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id, new_secret};
use restapi_shared::secret::{SecretDigest, SecretString};

use super::{Store, StoreError};

/// Name of the token that mirrors the `admin_token` setting.
const CONFIGURED: &str = "bootstrap";
/// Name of the token generated on a first start without `admin_token`.
const GENERATED: &str = "generated";

impl Store {
    /// Makes the configured admin token valid, replacing an earlier configured one; without
    /// one, generates a token when no operator token exists yet. Returns a generated token,
    /// which the caller shows once.
    pub async fn bootstrap_operator_token(
        &self,
        configured: Option<&SecretString>,
        now: UnixTime,
    ) -> Result<Option<SecretString>, StoreError> {
        let mut transaction = self.pool().begin().await?;
        if let Some(token) = configured {
            let digest = token.digest().to_hex();
            sqlx::query("DELETE FROM operator_tokens WHERE name = $1 AND digest <> $2")
                .bind(CONFIGURED)
                .bind(&digest)
                .execute(&mut *transaction)
                .await?;
            sqlx::query(
                "INSERT INTO operator_tokens (id, name, digest, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING",
            )
            .bind(new_id(ids::OPERATOR_TOKEN))
            .bind(CONFIGURED)
            .bind(&digest)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
            transaction.commit().await?;
            return Ok(None);
        }

        let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM operator_tokens")
            .fetch_one(&mut *transaction)
            .await?;
        if existing > 0 {
            return Ok(None);
        }
        let token = new_secret(ids::OPERATOR_TOKEN_VALUE);
        sqlx::query(
            "INSERT INTO operator_tokens (id, name, digest, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(new_id(ids::OPERATOR_TOKEN))
        .bind(GENERATED)
        .bind(token.digest().to_hex())
        .bind(now)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(Some(token))
    }

    /// Whether `token` is a valid operator token.
    ///
    /// The lookup is by SHA-256 digest, so the comparison the database makes reveals nothing
    /// about a valid token's value through timing.
    pub async fn is_operator_token(&self, token: &str) -> Result<bool, StoreError> {
        let found: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM operator_tokens WHERE digest = $1")
                .bind(SecretDigest::of(token).to_hex())
                .fetch_one(self.pool())
                .await?;
        Ok(found > 0)
    }
}
