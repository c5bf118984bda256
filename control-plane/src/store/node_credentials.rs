//! Node credentials: the bearer tokens with which data planes call the node API, one region
//! each. Stored as SHA-256 digests; the token is shown once, at creation.

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id, new_secret};
use restapi_shared::secret::{SecretDigest, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Store, StoreError};
use crate::names;

/// Longest credential name.
const MAX_NAME_LEN: usize = 100;

/// A node credential as the admin API shows it (never the token).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeCredential {
    /// Identifier (`node_...`).
    pub id: String,
    /// Name of the region whose configuration the credential can read.
    pub region: String,
    /// A name for operators, such as the host that uses it.
    pub name: String,
    /// When the credential was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
}

/// A node credential to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewNodeCredential {
    /// Name of the region.
    #[schema(example = "eu")]
    pub region: String,
    /// A name for operators.
    #[schema(example = "eu-node-1")]
    pub name: String,
}

/// A created node credential with its token, shown this once.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedNodeCredential {
    /// The credential.
    #[serde(flatten)]
    pub credential: NodeCredential,
    /// The bearer token (`rnt_...`) for the data plane's `node_token` setting.
    #[schema(value_type = String)]
    pub token: SecretString,
}

/// Who is calling the node API.
#[derive(Clone, Debug)]
pub struct NodeIdentity {
    /// The credential's identifier.
    pub credential_id: String,
    /// The credential's region.
    pub region_id: String,
    /// The region's name.
    pub region_name: String,
}

type CredentialRow = (String, String, String, i64);

impl Store {
    /// Creates a credential for the region named in `new`; returns its token once.
    pub async fn create_node_credential(
        &self,
        new: &NewNodeCredential,
        now: UnixTime,
    ) -> Result<CreatedNodeCredential, StoreError> {
        if new.name.trim().is_empty() {
            return Err(StoreError::InvalidField(
                "name must not be empty".to_owned(),
            ));
        }
        names::check_text("name", &new.name, MAX_NAME_LEN).map_err(StoreError::InvalidField)?;
        let region_id: Option<String> =
            sqlx::query_scalar("SELECT id FROM regions WHERE name = $1")
                .bind(&new.region)
                .fetch_optional(self.pool())
                .await?;
        let Some(region_id) = region_id else {
            return Err(StoreError::InvalidField(format!(
                "region '{}' does not exist",
                new.region
            )));
        };

        let id = new_id(ids::NODE_CREDENTIAL);
        let token = new_secret(ids::NODE_TOKEN_VALUE);
        sqlx::query(
            "INSERT INTO node_credentials (id, region_id, name, digest, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&id)
        .bind(&region_id)
        .bind(&new.name)
        .bind(token.digest().to_hex())
        .bind(now)
        .execute(self.pool())
        .await?;
        let credential = NodeCredential {
            id,
            region: new.region.clone(),
            name: new.name.clone(),
            created_at: now,
        };
        Ok(CreatedNodeCredential { credential, token })
    }

    /// Every node credential.
    pub async fn list_node_credentials(&self) -> Result<Vec<NodeCredential>, StoreError> {
        let rows: Vec<CredentialRow> = sqlx::query_as(
            "SELECT c.id, r.name, c.name, c.created_at FROM node_credentials c \
             JOIN regions r ON r.id = c.region_id ORDER BY r.name, c.created_at, c.id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, region, name, created_at)| NodeCredential {
                id,
                region,
                name,
                created_at,
            })
            .collect())
    }

    /// Deletes a credential; data planes using it are refused from their next call.
    pub async fn delete_node_credential(&self, id: &str) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM node_credentials WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound(format!("no node credential '{id}'")));
        }
        Ok(())
    }

    /// Deletes the credentials named `name` in the region named `region`.
    pub async fn delete_node_credentials_named(
        &self,
        region: &str,
        name: &str,
    ) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "DELETE FROM node_credentials WHERE name = $1 \
             AND region_id = (SELECT id FROM regions WHERE name = $2)",
        )
        .bind(name)
        .bind(region)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    /// The node a presented token belongs to, if any.
    ///
    /// The lookup is by SHA-256 digest: the database compares digests, never the token, so
    /// timing reveals nothing about a valid token's value.
    pub async fn node_identity(&self, token: &str) -> Result<Option<NodeIdentity>, StoreError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT c.id, c.region_id, r.name FROM node_credentials c \
             JOIN regions r ON r.id = c.region_id WHERE c.digest = $1",
        )
        .bind(SecretDigest::of(token).to_hex())
        .fetch_optional(self.pool())
        .await?;
        Ok(
            row.map(|(credential_id, region_id, region_name)| NodeIdentity {
                credential_id,
                region_id,
                region_name,
            }),
        )
    }
}
