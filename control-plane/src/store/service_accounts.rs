//! Service accounts and their client secrets.
//!
//! A secret is shown once, when it is created, and stored only as its SHA-256 digest. An
//! account holds several secrets, each with its own expiry and switch, so a secret is rotated
//! by adding the new one, moving clients over, then disabling the old one: no downtime.

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id, new_secret};
use restapi_shared::push::{ClientSecretConfig, ServiceAccountConfig};
use restapi_shared::secret::{SecretDigest, SecretString};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::apis::{ApiRow, api_by_name};
use super::rows::{flag, roles_from_json, roles_to_json};
use super::{ConfigWrite, Store, StoreError};
use crate::names;

/// How long a new secret is accepted unless told otherwise: two years.
pub const DEFAULT_SECRET_LIFETIME: i64 = 2 * 365 * 24 * 3600;
/// Longest service account name.
const MAX_NAME_LEN: usize = 100;
/// Longest description.
const MAX_DESCRIPTION_LEN: usize = 1000;

/// A service account as the admin API shows it (never a secret).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccount {
    /// Identifier (`sa_...`), the `sub` of its tokens.
    pub id: String,
    /// Display name, the `name` of its tokens.
    pub name: String,
    /// Free text for operators.
    pub description: String,
    /// Roles, each one of the API's roles.
    pub roles: Vec<String>,
    /// Whether the account may obtain tokens.
    pub enabled: bool,
    /// OAuth client identifier (`cid_...`).
    pub client_id: String,
    /// Its secrets, without their values.
    pub secrets: Vec<ClientSecret>,
    /// When the account was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When the account was last changed.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: UnixTime,
}

/// A client secret without its value.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecret {
    /// Identifier (`sec_...`).
    pub id: String,
    /// Whether the secret is accepted.
    pub enabled: bool,
    /// When the secret stops being accepted.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UnixTime,
    /// When the secret was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
}

/// A service account to create.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewServiceAccount {
    /// Display name.
    #[schema(example = "billing")]
    pub name: String,
    /// Free text for operators.
    #[serde(default)]
    pub description: String,
    /// Roles, each one of the API's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Whether the account may obtain tokens (default true).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

/// A created service account with its first secret, shown this once.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedServiceAccount {
    /// The account.
    #[serde(flatten)]
    pub account: ServiceAccount,
    /// Identifier of the first secret.
    pub secret_id: String,
    /// The first secret; it cannot be shown again.
    #[schema(value_type = String)]
    pub client_secret: SecretString,
}

/// Changes to a service account; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceAccountChanges {
    /// A new display name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// The new roles.
    pub roles: Option<Vec<String>>,
    /// Enable or disable the account.
    pub enabled: Option<bool>,
}

/// A created secret, its value shown this once.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedSecret {
    /// Identifier (`sec_...`).
    pub id: String,
    /// The secret; it cannot be shown again.
    #[schema(value_type = String)]
    pub client_secret: SecretString,
    /// Whether the secret is accepted.
    pub enabled: bool,
    /// When the secret stops being accepted.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: UnixTime,
    /// When the secret was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
}

/// Changes to a secret.
#[derive(Clone, Debug, Default)]
pub struct SecretChanges {
    /// Enable or disable the secret.
    pub enabled: Option<bool>,
    /// A new expiry.
    pub expires_at: Option<UnixTime>,
}

fn enabled_by_default() -> bool {
    true
}

type AccountRow = (String, String, String, String, i64, String, i64, i64);
type SecretRow = (String, String, i64, i64, i64);

const SELECT_ACCOUNT: &str = "SELECT id, name, description, roles, enabled, client_id, \
     created_at, updated_at FROM service_accounts";

impl Store {
    /// Creates a service account in the API named `api_name`, with a first secret.
    pub async fn create_service_account(
        &self,
        api_name: &str,
        new: &NewServiceAccount,
        now: UnixTime,
    ) -> Result<CreatedServiceAccount, StoreError> {
        check_name(&new.name)?;
        names::check_text("description", &new.description, MAX_DESCRIPTION_LEN)
            .map_err(StoreError::InvalidField)?;

        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        check_account_roles(&api, &new.roles)?;
        let id = new_id(ids::SERVICE_ACCOUNT);
        let client_id = new_id(ids::CLIENT_ID);
        sqlx::query(
            "INSERT INTO service_accounts (id, api_id, client_id, name, description, roles, \
             enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .bind(&id)
        .bind(&api.id)
        .bind(&client_id)
        .bind(&new.name)
        .bind(&new.description)
        .bind(roles_to_json(&new.roles))
        .bind(flag(new.enabled))
        .bind(now)
        .execute(&mut *write.transaction)
        .await?;
        let secret = insert_secret(&mut write, &id, now + DEFAULT_SECRET_LIFETIME).await?;
        write.commit_api_change(self, &api).await?;

        let account = ServiceAccount {
            id,
            name: new.name.clone(),
            description: new.description.clone(),
            roles: new.roles.clone(),
            enabled: new.enabled,
            client_id,
            secrets: vec![ClientSecret {
                id: secret.id.clone(),
                enabled: true,
                expires_at: secret.expires_at,
                created_at: now,
            }],
            created_at: now,
            updated_at: now,
        };
        Ok(CreatedServiceAccount {
            account,
            secret_id: secret.id,
            client_secret: secret.client_secret,
        })
    }

    /// The service accounts of the API named `api_name`.
    pub async fn list_service_accounts(
        &self,
        api_name: &str,
    ) -> Result<Vec<ServiceAccount>, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        let rows: Vec<AccountRow> = sqlx::query_as(&format!(
            "{SELECT_ACCOUNT} WHERE api_id = $1 ORDER BY created_at, id"
        ))
        .bind(&api.id)
        .fetch_all(&mut *connection)
        .await?;
        let mut accounts = Vec::with_capacity(rows.len());
        for row in rows {
            accounts.push(account_with_secrets(&mut connection, row).await?);
        }
        Ok(accounts)
    }

    /// The service account `id` of the API named `api_name`.
    pub async fn service_account(
        &self,
        api_name: &str,
        id: &str,
    ) -> Result<ServiceAccount, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        let row = account_row(&mut connection, &api, id).await?;
        account_with_secrets(&mut connection, row).await
    }

    /// Changes a service account.
    pub async fn update_service_account(
        &self,
        api_name: &str,
        id: &str,
        changes: &ServiceAccountChanges,
        now: UnixTime,
    ) -> Result<ServiceAccount, StoreError> {
        if let Some(name) = &changes.name {
            check_name(name)?;
        }
        if let Some(description) = &changes.description {
            names::check_text("description", description, MAX_DESCRIPTION_LEN)
                .map_err(StoreError::InvalidField)?;
        }

        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        let (_, name, description, roles, enabled, ..) =
            account_row(&mut write.transaction, &api, id).await?;
        let roles = match &changes.roles {
            Some(new_roles) => {
                check_account_roles(&api, new_roles)?;
                new_roles.clone()
            }
            None => roles_from_json(&roles)?,
        };
        sqlx::query(
            "UPDATE service_accounts SET name = $1, description = $2, roles = $3, enabled = $4, \
             updated_at = $5 WHERE id = $6",
        )
        .bind(changes.name.as_ref().unwrap_or(&name))
        .bind(changes.description.as_ref().unwrap_or(&description))
        .bind(roles_to_json(&roles))
        .bind(changes.enabled.map_or(enabled, flag))
        .bind(now)
        .bind(id)
        .execute(&mut *write.transaction)
        .await?;
        let row = account_row(&mut write.transaction, &api, id).await?;
        let account = account_with_secrets(&mut write.transaction, row).await?;
        write.commit_api_change(self, &api).await?;
        Ok(account)
    }

    /// Deletes a service account and its secrets.
    pub async fn delete_service_account(
        &self,
        api_name: &str,
        id: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        account_row(&mut write.transaction, &api, id).await?;
        sqlx::query("DELETE FROM service_accounts WHERE id = $1")
            .bind(id)
            .execute(&mut *write.transaction)
            .await?;
        write.commit_api_change(self, &api).await?;
        Ok(())
    }

    /// Adds a secret to a service account, expiring at `expires_at` (default: two years).
    pub async fn create_client_secret(
        &self,
        api_name: &str,
        account_id: &str,
        expires_at: Option<UnixTime>,
        now: UnixTime,
    ) -> Result<CreatedSecret, StoreError> {
        let expires_at = expires_at.unwrap_or(now + DEFAULT_SECRET_LIFETIME);
        check_expiry(expires_at, now)?;

        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        account_row(&mut write.transaction, &api, account_id).await?;
        let secret = insert_secret(&mut write, account_id, expires_at).await?;
        write.commit_api_change(self, &api).await?;
        Ok(secret)
    }

    /// Enables, disables or re-dates a secret.
    pub async fn update_client_secret(
        &self,
        api_name: &str,
        account_id: &str,
        secret_id: &str,
        changes: &SecretChanges,
        now: UnixTime,
    ) -> Result<ClientSecret, StoreError> {
        if let Some(expires_at) = changes.expires_at {
            check_expiry(expires_at, now)?;
        }

        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        account_row(&mut write.transaction, &api, account_id).await?;
        let (id, _, enabled, expires_at, created_at) =
            secret_row(&mut write.transaction, account_id, secret_id).await?;
        let enabled = changes.enabled.map_or(enabled, flag);
        let expires_at = changes.expires_at.unwrap_or(expires_at);
        sqlx::query("UPDATE client_secrets SET enabled = $1, expires_at = $2 WHERE id = $3")
            .bind(enabled)
            .bind(expires_at)
            .bind(&id)
            .execute(&mut *write.transaction)
            .await?;
        write.commit_api_change(self, &api).await?;
        Ok(ClientSecret {
            id,
            enabled: enabled != 0,
            expires_at,
            created_at,
        })
    }

    /// Deletes a secret.
    pub async fn delete_client_secret(
        &self,
        api_name: &str,
        account_id: &str,
        secret_id: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        account_row(&mut write.transaction, &api, account_id).await?;
        secret_row(&mut write.transaction, account_id, secret_id).await?;
        sqlx::query("DELETE FROM client_secrets WHERE id = $1")
            .bind(secret_id)
            .execute(&mut *write.transaction)
            .await?;
        write.commit_api_change(self, &api).await?;
        Ok(())
    }
}

/// The service accounts of `api_id` as pushed to data planes: secret digests, never secrets.
pub(super) async fn service_account_configs(
    connection: &mut AnyConnection,
    api_id: &str,
) -> Result<Vec<ServiceAccountConfig>, StoreError> {
    let rows: Vec<AccountRow> = sqlx::query_as(&format!(
        "{SELECT_ACCOUNT} WHERE api_id = $1 ORDER BY created_at, id"
    ))
    .bind(api_id)
    .fetch_all(&mut *connection)
    .await?;
    let mut accounts = Vec::with_capacity(rows.len());
    for (id, name, _, roles, enabled, client_id, _, _) in rows {
        let secrets = secret_rows(connection, &id)
            .await?
            .into_iter()
            .map(|(id, digest, enabled, expires_at, _)| {
                let digest = SecretDigest::from_hex(&digest)
                    .ok_or_else(|| StoreError::Corrupt(format!("digest of secret {id}")))?;
                Ok(ClientSecretConfig {
                    id,
                    digest,
                    enabled: enabled != 0,
                    expires_at,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        accounts.push(ServiceAccountConfig {
            id,
            client_id,
            name,
            roles: roles_from_json(&roles)?,
            enabled: enabled != 0,
            secrets,
        });
    }
    Ok(accounts)
}

async fn insert_secret(
    write: &mut ConfigWrite,
    account_id: &str,
    expires_at: UnixTime,
) -> Result<CreatedSecret, StoreError> {
    let id = new_id(ids::CLIENT_SECRET);
    let client_secret = new_secret(ids::CLIENT_SECRET_VALUE);
    sqlx::query(
        "INSERT INTO client_secrets (id, service_account_id, digest, enabled, expires_at, \
         created_at) VALUES ($1, $2, $3, 1, $4, $5)",
    )
    .bind(&id)
    .bind(account_id)
    .bind(client_secret.digest().to_hex())
    .bind(expires_at)
    .bind(write.now)
    .execute(&mut *write.transaction)
    .await?;
    Ok(CreatedSecret {
        id,
        client_secret,
        enabled: true,
        expires_at,
        created_at: write.now,
    })
}

async fn account_row(
    connection: &mut AnyConnection,
    api: &ApiRow,
    id: &str,
) -> Result<AccountRow, StoreError> {
    let row: Option<AccountRow> =
        sqlx::query_as(&format!("{SELECT_ACCOUNT} WHERE id = $1 AND api_id = $2"))
            .bind(id)
            .bind(&api.id)
            .fetch_optional(connection)
            .await?;
    row.ok_or_else(|| {
        StoreError::NotFound(format!("no service account '{id}' in API '{}'", api.name))
    })
}

async fn account_with_secrets(
    connection: &mut AnyConnection,
    row: AccountRow,
) -> Result<ServiceAccount, StoreError> {
    let (id, name, description, roles, enabled, client_id, created_at, updated_at) = row;
    let secrets = secret_rows(connection, &id)
        .await?
        .into_iter()
        .map(|(id, _, enabled, expires_at, created_at)| ClientSecret {
            id,
            enabled: enabled != 0,
            expires_at,
            created_at,
        })
        .collect();
    Ok(ServiceAccount {
        id,
        name,
        description,
        roles: roles_from_json(&roles)?,
        enabled: enabled != 0,
        client_id,
        secrets,
        created_at,
        updated_at,
    })
}

async fn secret_rows(
    connection: &mut AnyConnection,
    account_id: &str,
) -> Result<Vec<SecretRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, digest, enabled, expires_at, created_at FROM client_secrets \
         WHERE service_account_id = $1 ORDER BY created_at, id",
    )
    .bind(account_id)
    .fetch_all(connection)
    .await?)
}

async fn secret_row(
    connection: &mut AnyConnection,
    account_id: &str,
    secret_id: &str,
) -> Result<SecretRow, StoreError> {
    let row: Option<SecretRow> = sqlx::query_as(
        "SELECT id, digest, enabled, expires_at, created_at FROM client_secrets \
         WHERE id = $1 AND service_account_id = $2",
    )
    .bind(secret_id)
    .bind(account_id)
    .fetch_optional(connection)
    .await?;
    row.ok_or_else(|| StoreError::NotFound(format!("no secret '{secret_id}' on this account")))
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() {
        return Err(StoreError::InvalidField(
            "name must not be empty".to_owned(),
        ));
    }
    names::check_text("name", name, MAX_NAME_LEN).map_err(StoreError::InvalidField)
}

fn check_account_roles(api: &ApiRow, roles: &[String]) -> Result<(), StoreError> {
    names::check_roles(roles).map_err(StoreError::InvalidField)?;
    names::check_subset("roles", roles, &api.roles).map_err(StoreError::InvalidField)
}

fn check_expiry(expires_at: UnixTime, now: UnixTime) -> Result<(), StoreError> {
    if expires_at <= now {
        return Err(StoreError::InvalidField(
            "expiresAt must be in the future".to_owned(),
        ));
    }
    Ok(())
}
