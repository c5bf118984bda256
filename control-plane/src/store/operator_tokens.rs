//! Operator tokens: the bearer tokens of the admin API, stored as SHA-256 digests.
//!
//! The first comes from the `admin_token` setting (or is generated on a first start); more
//! are created and deleted through the admin API. Every request looks its token up afresh,
//! so a deleted token is refused from the next request on.

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id, new_secret};
use restapi_shared::secret::{SecretDigest, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Store, StoreError};
use crate::names;

/// Name of the token that mirrors the `admin_token` setting.
const CONFIGURED: &str = "bootstrap";
/// Name of the token generated on a first start without `admin_token`.
const GENERATED: &str = "generated";
/// Longest token name.
const MAX_NAME_LEN: usize = 100;

/// An operator token as the admin API shows it (never the token or its digest).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperatorToken {
    /// Identifier (`op_...`).
    pub id: String,
    /// A name for operators: who or what uses the token.
    pub name: String,
    /// When the token was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
}

/// An operator token to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewOperatorToken {
    /// A name for operators; `bootstrap` and `generated` are reserved.
    #[schema(example = "deploy-pipeline")]
    pub name: String,
}

/// A created operator token with its value, shown this once.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedOperatorToken {
    /// The token's record.
    #[serde(flatten)]
    pub operator_token: OperatorToken,
    /// The bearer token (`rot_...`) for the admin API.
    #[schema(value_type = String)]
    pub token: SecretString,
}

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

    /// Creates an operator token; returns its value once.
    pub async fn create_operator_token(
        &self,
        new: &NewOperatorToken,
        now: UnixTime,
    ) -> Result<CreatedOperatorToken, StoreError> {
        check_name(&new.name)?;
        let id = new_id(ids::OPERATOR_TOKEN);
        let token = new_secret(ids::OPERATOR_TOKEN_VALUE);
        sqlx::query(
            "INSERT INTO operator_tokens (id, name, digest, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(&new.name)
        .bind(token.digest().to_hex())
        .bind(now)
        .execute(self.pool())
        .await?;
        let operator_token = OperatorToken {
            id,
            name: new.name.clone(),
            created_at: now,
        };
        Ok(CreatedOperatorToken {
            operator_token,
            token,
        })
    }

    /// Every operator token, oldest first.
    pub async fn list_operator_tokens(&self) -> Result<Vec<OperatorToken>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT id, name, created_at FROM operator_tokens ORDER BY created_at, id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, created_at)| OperatorToken {
                id,
                name,
                created_at,
            })
            .collect())
    }

    /// Deletes the operator token `id`, unless it is `caller`, the token of the request:
    /// deleting that one could leave nobody able to use the admin API.
    ///
    /// One statement decides, so two operators deleting each other's tokens at once cannot
    /// both succeed past the check.
    pub async fn delete_operator_token(&self, id: &str, caller: &str) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM operator_tokens WHERE id = $1 AND digest <> $2")
            .bind(id)
            .bind(SecretDigest::of(caller).to_hex())
            .execute(self.pool())
            .await?
            .rows_affected();
        if deleted > 0 {
            return Ok(());
        }
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM operator_tokens WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        if exists > 0 {
            Err(StoreError::Conflict(
                "an operator token cannot delete itself: that could lock every operator out; \
                 delete it with another operator token"
                    .to_owned(),
            ))
        } else {
            Err(StoreError::NotFound(format!("no operator token '{id}'")))
        }
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

/// A name must be non-empty, printable and not one the bootstrap manages: a token named
/// `bootstrap` would be deleted on the next start with another `admin_token`.
fn check_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::InvalidField(
            "name must not be empty".to_owned(),
        ));
    }
    if name == CONFIGURED || name == GENERATED {
        return Err(StoreError::InvalidField(format!(
            "name '{name}' is reserved for the token the control plane bootstraps"
        )));
    }
    names::check_text("name", name, MAX_NAME_LEN).map_err(StoreError::InvalidField)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_bootstrap_names_reserved() {
        assert!(check_name("deploy-pipeline").is_ok());
        for name in ["", "  ", CONFIGURED, GENERATED, "a\nb", &"x".repeat(101)] {
            assert!(
                matches!(check_name(name), Err(StoreError::InvalidField(_))),
                "{name:?}"
            );
        }
    }
}
