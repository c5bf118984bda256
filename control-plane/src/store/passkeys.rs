//! Users' passkeys (WebAuthn credentials) and the challenges their sign-ins used.
//!
//! A data plane verifies every ceremony itself, with the challenge it sealed into the
//! browser's cookie; it has no database, so it asks here for the credential a browser signed
//! with and records here what a ceremony changed. The control plane never parses the
//! credential: it keeps the data plane's JSON with the columns it needs to answer (owner,
//! credential id, counter, backup flags).
//!
//! A user's WebAuthn user handle is the subject of their identity of authority `passkey`, so
//! that every passkey of one user carries the same handle and a sign-up is resolved like any
//! first sign-in (the API's default roles, only when the provider creates users).

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id};
use restapi_shared::node::{
    PASSKEY_AUTHORITY, PasskeyListResponse, PasskeyLookupRequest, PasskeyOwner,
    PasskeyRegisterOutcome, PasskeyRegisterRequest, PasskeyRegisterResponse, PasskeyRemoveResponse,
    PasskeySignInOutcome, PasskeySignInRequest, PasskeySignInResponse, PasskeySummary,
    ResolveOutcome, ResolveUserRequest, StoredPasskey,
};
use serde::Serialize;
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::apis::{ApiRow, api_by_id, api_by_name};
use super::identities::{IDENTITY_PREFIX, Identity, answer, insert_identity, resolve_in};
use super::rows::flag;
use super::users::{user_from_row, user_row};
use super::{Store, StoreError, is_unique_violation};

/// Longest credential id, base64url: WebAuthn allows 1023 bytes.
const MAX_CREDENTIAL_ID_LEN: usize = 1400;
/// Longest passkey label.
const MAX_NAME_LEN: usize = 100;
/// How long a spent challenge is kept after it expires: the data plane judges expiry by its
/// own clock, which may run behind ours.
const CHALLENGE_SKEW_MARGIN: i64 = 300;
/// Most passkeys one user may have.
pub const MAX_PASSKEYS_PER_USER: i64 = 20;

/// A user's passkey as the admin API shows it: never its key material.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Passkey {
    /// Identifier (`pk_...`).
    pub id: String,
    /// The label the user sees.
    pub name: String,
    /// The credential's id, base64url, as the authenticator knows it.
    pub credential_id: String,
    /// Whether the credential may be synchronised to the user's other devices.
    pub backup_eligible: bool,
    /// Whether it was backed up (synchronised) at its last use.
    pub backup_state: bool,
    /// When it was added.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When it last signed in, if ever.
    #[serde(serialize_with = "crate::timestamps::serialize_option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<UnixTime>,
}

type PasskeyRow = (String, String, String, i64, i64, i64, Option<i64>);

const SELECT_PASSKEY: &str = "SELECT id, name, credential_id, backup_eligible, backup_state, \
     created_at, last_used_at FROM passkeys";

impl Store {
    /// The passkeys of user `user_id` of the API named `api_name`, oldest first.
    pub async fn passkeys(
        &self,
        api_name: &str,
        user_id: &str,
    ) -> Result<Vec<Passkey>, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        user_row(&mut connection, &api, user_id).await?;
        user_passkeys(&mut connection, user_id).await
    }

    /// Removes passkey `passkey_id` of user `user_id` of the API named `api_name`.
    pub async fn remove_passkey(
        &self,
        api_name: &str,
        user_id: &str,
        passkey_id: &str,
    ) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        let api = api_by_name(&mut transaction, api_name).await?;
        user_row(&mut transaction, &api, user_id).await?;
        if !delete_passkey(&mut transaction, user_id, passkey_id).await? {
            return Err(StoreError::NotFound(format!(
                "no passkey '{passkey_id}' on user '{user_id}'"
            )));
        }
        transaction.commit().await?;
        tracing::info!(api = %api.name, user = user_id, passkey = passkey_id,
            "passkey removed by an operator");
        Ok(())
    }

    /// Stores a passkey a data plane of region `region_id` verified: for a sign-up, in the
    /// same transaction as the user it creates; for a signed-in user, under their handle.
    pub async fn register_passkey(
        &self,
        region_id: &str,
        request: &PasskeyRegisterRequest,
        now: UnixTime,
    ) -> Result<PasskeyRegisterResponse, StoreError> {
        check_credential_id(&request.credential_id)?;
        let mut transaction = self.begin_write().await?;
        let api = node_api(&mut transaction, region_id, &request.api_id).await?;

        let owner = match &request.owner {
            PasskeyOwner::SignUp {
                name,
                email,
                auto_create,
            } => {
                let resolve = ResolveUserRequest {
                    api_id: api.id.clone(),
                    authority: PASSKEY_AUTHORITY.to_owned(),
                    subject: request.user_handle.clone(),
                    email: email.clone(),
                    // Typed in, not proven: it must not pass for a pre-registered user.
                    email_verified: false,
                    name: Some(name.clone()),
                    auto_create: *auto_create,
                };
                resolve_in(&mut transaction, &api, &resolve, now).await?
            }
            PasskeyOwner::Existing { user_id } => {
                match existing_owner(&mut transaction, &api, user_id, request, now).await? {
                    Ok(resolved) => resolved,
                    Err(outcome) => return Ok(refused(outcome)),
                }
            }
        };
        let user = match (owner.outcome, owner.user) {
            (ResolveOutcome::SignedIn, Some(user)) => user,
            (ResolveOutcome::NotRegistered, _) => {
                return Ok(refused(PasskeyRegisterOutcome::NotRegistered));
            }
            (ResolveOutcome::Disabled | ResolveOutcome::SignedIn, _) => {
                return Ok(refused(PasskeyRegisterOutcome::Disabled));
            }
        };

        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM passkeys WHERE user_id = $1")
            .bind(&user.id)
            .fetch_one(&mut *transaction)
            .await?;
        if count >= MAX_PASSKEYS_PER_USER {
            return Err(StoreError::Conflict(format!(
                "a user has at most {MAX_PASSKEYS_PER_USER} passkeys"
            )));
        }
        let id = new_id(ids::PASSKEY);
        let inserted = insert_passkey(&mut transaction, &api, &user.id, &id, request, now).await;
        match inserted {
            Err(StoreError::Database(error)) if is_unique_violation(&error) => {
                return Ok(refused(PasskeyRegisterOutcome::CredentialTaken));
            }
            other => other?,
        }
        transaction.commit().await?;
        tracing::info!(api = %api.name, user = %user.id, passkey = %id, "passkey registered");
        Ok(PasskeyRegisterResponse {
            outcome: PasskeyRegisterOutcome::Registered,
            user: Some(user),
            passkey_id: Some(id),
        })
    }

    /// The passkey of an API of region `region_id` with a credential id, if any.
    pub async fn lookup_passkey(
        &self,
        region_id: &str,
        request: &PasskeyLookupRequest,
    ) -> Result<Option<StoredPasskey>, StoreError> {
        if check_credential_id(&request.credential_id).is_err() {
            return Ok(None);
        }
        let mut connection = self.pool().acquire().await?;
        let api = node_api(&mut connection, region_id, &request.api_id).await?;
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT id, user_id, user_handle, credential FROM passkeys \
             WHERE api_id = $1 AND credential_id = $2",
        )
        .bind(&api.id)
        .bind(&request.credential_id)
        .fetch_optional(&mut *connection)
        .await?;
        let Some((id, user_id, user_handle, credential)) = row else {
            return Ok(None);
        };
        let credential = serde_json::from_str(&credential)
            .map_err(|error| StoreError::Corrupt(format!("passkey credential: {error}")))?;
        Ok(Some(StoredPasskey {
            id,
            user_id,
            user_handle,
            credential,
        }))
    }

    /// Records a verified passkey sign-in, in one transaction: the challenge is spent (a
    /// second use is a replay), the counter must grow when the authenticator keeps one
    /// (WebAuthn §6.1.1), and the user must still be allowed in.
    pub async fn passkey_signed_in(
        &self,
        region_id: &str,
        request: &PasskeySignInRequest,
        now: UnixTime,
    ) -> Result<PasskeySignInResponse, StoreError> {
        let mut transaction = self.begin_write().await?;
        let api = node_api(&mut transaction, region_id, &request.api_id).await?;
        let refuse = |outcome| {
            Ok(PasskeySignInResponse {
                outcome,
                user: None,
            })
        };

        sqlx::query("DELETE FROM passkey_challenges WHERE expires_at < $1")
            .bind(now - CHALLENGE_SKEW_MARGIN)
            .execute(&mut *transaction)
            .await?;
        let spent = sqlx::query(
            "INSERT INTO passkey_challenges (id, api_id, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(&request.challenge_id)
        .bind(&api.id)
        .bind(request.challenge_expires_at)
        .execute(&mut *transaction)
        .await;
        match spent {
            Err(error) if is_unique_violation(&error) => {
                return refuse(PasskeySignInOutcome::ChallengeUsed);
            }
            other => other?,
        };

        let stored: Option<(String, i64)> = sqlx::query_as(
            "SELECT user_id, sign_count FROM passkeys WHERE id = $1 AND api_id = $2",
        )
        .bind(&request.passkey_id)
        .bind(&api.id)
        .fetch_optional(&mut *transaction)
        .await?;
        let Some((user_id, stored_count)) = stored else {
            return refuse(PasskeySignInOutcome::UnknownPasskey);
        };
        let new_count = i64::from(request.sign_count);
        if (new_count != 0 || stored_count != 0) && new_count <= stored_count {
            tracing::warn!(api = %api.name, passkey = %request.passkey_id, stored_count,
                new_count, "passkey counter did not grow: possibly a cloned authenticator");
            return refuse(PasskeySignInOutcome::CounterRegressed);
        }
        let user = user_from_row(user_row(&mut transaction, &api, &user_id).await?)?;
        if user.disabled {
            // The spent challenge is kept: a disabled user's assertion is no less used.
            transaction.commit().await?;
            return refuse(PasskeySignInOutcome::Disabled);
        }

        sqlx::query(
            "UPDATE passkeys SET credential = $1, sign_count = $2, backup_state = $3, \
             last_used_at = $4 WHERE id = $5",
        )
        .bind(request.credential.to_string())
        .bind(new_count)
        .bind(flag(request.backup_state))
        .bind(now)
        .bind(&request.passkey_id)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(PasskeySignInResponse {
            outcome: PasskeySignInOutcome::SignedIn,
            user: Some(user.into_resolved()),
        })
    }

    /// The passkeys of a user of an API of region `region_id`, and their user handle.
    pub async fn node_passkeys(
        &self,
        region_id: &str,
        api_id: &str,
        user_id: &str,
    ) -> Result<PasskeyListResponse, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = node_api(&mut connection, region_id, api_id).await?;
        let inactive = PasskeyListResponse {
            active: false,
            user_handle: None,
            passkeys: Vec::new(),
        };
        let user = match user_row(&mut connection, &api, user_id).await {
            Ok(row) => user_from_row(row)?,
            Err(StoreError::NotFound(_)) => return Ok(inactive),
            Err(error) => return Err(error),
        };
        if user.disabled {
            return Ok(inactive);
        }
        let user_handle = user_handle(&mut connection, &api, user_id).await?;
        let passkeys = user_passkeys(&mut connection, user_id).await?;
        Ok(PasskeyListResponse {
            active: true,
            user_handle,
            passkeys: passkeys
                .into_iter()
                .map(|passkey| PasskeySummary {
                    id: passkey.id,
                    name: passkey.name,
                    credential_id: passkey.credential_id,
                    backup_eligible: passkey.backup_eligible,
                    backup_state: passkey.backup_state,
                    created_at: passkey.created_at,
                    last_used_at: passkey.last_used_at,
                })
                .collect(),
        })
    }

    /// Removes a passkey of a user of an API of region `region_id`, at the user's request,
    /// unless it is their only way to sign in: a user cannot lock themselves out (an operator
    /// still can, through the admin API).
    pub async fn node_remove_passkey(
        &self,
        region_id: &str,
        api_id: &str,
        user_id: &str,
        passkey_id: &str,
    ) -> Result<PasskeyRemoveResponse, StoreError> {
        let mut transaction = self.begin_write().await?;
        let api = node_api(&mut transaction, region_id, api_id).await?;
        let (other_passkeys, other_identities): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM passkeys WHERE user_id = $1 AND id <> $2), \
             (SELECT COUNT(*) FROM user_identities WHERE user_id = $1 AND authority <> $3)",
        )
        .bind(user_id)
        .bind(passkey_id)
        .bind(PASSKEY_AUTHORITY)
        .fetch_one(&mut *transaction)
        .await?;
        if other_passkeys == 0 && other_identities == 0 {
            let owned: Option<String> =
                sqlx::query_scalar("SELECT id FROM passkeys WHERE id = $1 AND user_id = $2")
                    .bind(passkey_id)
                    .bind(user_id)
                    .fetch_optional(&mut *transaction)
                    .await?;
            return Ok(PasskeyRemoveResponse {
                removed: false,
                only_way_in: owned.is_some(),
            });
        }
        let removed = delete_passkey(&mut transaction, user_id, passkey_id).await?;
        transaction.commit().await?;
        if removed {
            tracing::info!(api = %api.name, user = user_id, passkey = passkey_id,
                "passkey removed by its user");
        }
        Ok(PasskeyRemoveResponse {
            removed,
            only_way_in: false,
        })
    }
}

/// The API `api_id`, if it is in region `region_id`.
async fn node_api(
    connection: &mut AnyConnection,
    region_id: &str,
    api_id: &str,
) -> Result<ApiRow, StoreError> {
    api_by_id(connection, api_id)
        .await?
        .filter(|api| api.region_id == region_id)
        .ok_or(StoreError::WrongRegion)
}

/// The signed-in user who adds a passkey, resolved like a sign-in: they must exist, be
/// enabled, and the handle must be theirs (it is linked now if they have none yet).
async fn existing_owner(
    connection: &mut AnyConnection,
    api: &ApiRow,
    user_id: &str,
    request: &PasskeyRegisterRequest,
    now: UnixTime,
) -> Result<Result<restapi_shared::node::ResolveUserResponse, PasskeyRegisterOutcome>, StoreError> {
    let user = match user_row(connection, api, user_id).await {
        Ok(row) => user_from_row(row)?,
        Err(StoreError::NotFound(_)) => return Ok(Err(PasskeyRegisterOutcome::UnknownUser)),
        Err(error) => return Err(error),
    };
    match user_handle(connection, api, user_id).await? {
        Some(handle) if handle == request.user_handle => {}
        Some(_) => return Ok(Err(PasskeyRegisterOutcome::HandleMismatch)),
        None => {
            let identity = Identity {
                id: new_id(IDENTITY_PREFIX),
                authority: PASSKEY_AUTHORITY.to_owned(),
                subject: request.user_handle.clone(),
                email: None,
                created_at: now,
            };
            insert_identity(connection, &api.id, user_id, &identity).await?;
        }
    }
    Ok(Ok(answer(user)))
}

/// The subject of the user's `passkey` identity: their WebAuthn user handle.
async fn user_handle(
    connection: &mut AnyConnection,
    api: &ApiRow,
    user_id: &str,
) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT subject FROM user_identities \
         WHERE api_id = $1 AND user_id = $2 AND authority = $3",
    )
    .bind(&api.id)
    .bind(user_id)
    .bind(PASSKEY_AUTHORITY)
    .fetch_optional(connection)
    .await?)
}

async fn user_passkeys(
    connection: &mut AnyConnection,
    user_id: &str,
) -> Result<Vec<Passkey>, StoreError> {
    let rows: Vec<PasskeyRow> = sqlx::query_as(&format!(
        "{SELECT_PASSKEY} WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(user_id)
    .fetch_all(connection)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(id, name, credential_id, eligible, state, created_at, last_used_at)| Passkey {
                id,
                name,
                credential_id,
                backup_eligible: eligible != 0,
                backup_state: state != 0,
                created_at,
                last_used_at,
            },
        )
        .collect())
}

async fn insert_passkey(
    connection: &mut AnyConnection,
    api: &ApiRow,
    user_id: &str,
    id: &str,
    request: &PasskeyRegisterRequest,
    now: UnixTime,
) -> Result<(), StoreError> {
    let name: String = request
        .name
        .chars()
        .filter(|character| !character.is_control())
        .take(MAX_NAME_LEN)
        .collect();
    sqlx::query(
        "INSERT INTO passkeys (id, api_id, user_id, user_handle, credential_id, credential, \
         name, sign_count, backup_eligible, backup_state, created_at, last_used_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL)",
    )
    .bind(id)
    .bind(&api.id)
    .bind(user_id)
    .bind(&request.user_handle)
    .bind(&request.credential_id)
    .bind(request.credential.to_string())
    .bind(name)
    .bind(i64::from(request.sign_count))
    .bind(flag(request.backup_eligible))
    .bind(flag(request.backup_state))
    .bind(now)
    .execute(connection)
    .await?;
    Ok(())
}

async fn delete_passkey(
    connection: &mut AnyConnection,
    user_id: &str,
    passkey_id: &str,
) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
        .bind(passkey_id)
        .bind(user_id)
        .execute(connection)
        .await?
        .rows_affected();
    Ok(deleted > 0)
}

fn refused(outcome: PasskeyRegisterOutcome) -> PasskeyRegisterResponse {
    PasskeyRegisterResponse {
        outcome,
        user: None,
        passkey_id: None,
    }
}

fn check_credential_id(credential_id: &str) -> Result<(), StoreError> {
    let valid = !credential_id.is_empty()
        && credential_id.len() <= MAX_CREDENTIAL_ID_LEN
        && credential_id
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidField(
            "credentialId must be base64url, 1 to 1400 characters".to_owned(),
        ))
    }
}
