//! External identities linked to users, and resolving one at sign-in.
//!
//! An identity is a provider's (the authority's) identifier of a person, such as Google's
//! `sub`. Within an API, one identity belongs to at most one user. At sign-in a data plane
//! hands over the identity the provider vouched for; [`Store::resolve_user`] finds its user,
//! links a pre-registered one, or creates one, in a single transaction.

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::new_id;
use restapi_shared::node::{ResolveOutcome, ResolveUserRequest, ResolveUserResponse};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::apis::{ApiRow, api_by_id, api_by_name};
use super::users::{MAX_NAME_LEN, USER_PREFIX, User, insert_user, user_from_row, user_row};
use super::{Store, StoreError, is_unique_violation};
use crate::names;

/// Prefix of identity identifiers.
pub const IDENTITY_PREFIX: &str = "idn";
/// Longest authority name.
const MAX_AUTHORITY_LEN: usize = 64;
/// Longest subject; providers' identifiers are far shorter.
const MAX_SUBJECT_LEN: usize = 255;

/// An external identity linked to a user.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// Identifier (`idn_...`).
    pub id: String,
    /// The identity provider: its kind (`google`, `microsoft`, ...) or a provider's id.
    #[schema(example = "google")]
    pub authority: String,
    /// The provider's identifier of the person.
    #[schema(example = "110169484474386276334")]
    pub subject: String,
    /// The email address the provider gave when the identity was linked.
    pub email: Option<String>,
    /// When the identity was linked.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
}

/// An external identity to link to a user.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewIdentity {
    /// The identity provider: its kind (`google`, `microsoft`, ...) or a provider's id.
    #[schema(example = "google")]
    pub authority: String,
    /// The provider's identifier of the person.
    #[schema(example = "110169484474386276334")]
    pub subject: String,
    /// The email address the provider knows the person by.
    pub email: Option<String>,
}

type IdentityRow = (String, String, String, Option<String>, i64);

const SELECT_IDENTITY: &str =
    "SELECT id, authority, subject, email, created_at FROM user_identities";

impl Store {
    /// The identities linked to user `user_id` of the API named `api_name`.
    pub async fn identities(
        &self,
        api_name: &str,
        user_id: &str,
    ) -> Result<Vec<Identity>, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        user_row(&mut connection, &api, user_id).await?;
        let rows: Vec<IdentityRow> = sqlx::query_as(&format!(
            "{SELECT_IDENTITY} WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id)
        .fetch_all(&mut *connection)
        .await?;
        Ok(rows.into_iter().map(identity_from_row).collect())
    }

    /// Links an external identity to a user; it may not belong to another user of the API.
    pub async fn link_identity(
        &self,
        api_name: &str,
        user_id: &str,
        new: &NewIdentity,
        now: UnixTime,
    ) -> Result<Identity, StoreError> {
        check_identity(&new.authority, &new.subject)?;
        if let Some(email) = &new.email {
            names::check_email("email", email).map_err(StoreError::InvalidField)?;
        }

        let mut transaction = self.begin_write().await?;
        let api = api_by_name(&mut transaction, api_name).await?;
        user_row(&mut transaction, &api, user_id).await?;
        let identity = Identity {
            id: new_id(IDENTITY_PREFIX),
            authority: new.authority.clone(),
            subject: new.subject.clone(),
            email: new.email.clone(),
            created_at: now,
        };
        insert_identity(&mut transaction, &api.id, user_id, &identity)
            .await
            .map_err(|error| identity_taken(error, &api, &identity))?;
        transaction.commit().await?;
        Ok(identity)
    }

    /// Unlinks identity `identity_id` from user `user_id`.
    pub async fn unlink_identity(
        &self,
        api_name: &str,
        user_id: &str,
        identity_id: &str,
    ) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        let api = api_by_name(&mut transaction, api_name).await?;
        user_row(&mut transaction, &api, user_id).await?;
        let deleted = sqlx::query("DELETE FROM user_identities WHERE id = $1 AND user_id = $2")
            .bind(identity_id)
            .bind(user_id)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound(format!(
                "no identity '{identity_id}' on user '{user_id}'"
            )));
        }
        transaction.commit().await?;
        Ok(())
    }

    /// Resolves an identity that signed in to an API of region `region_id` to its user: the
    /// linked user; else a pre-registered user with the same verified address and no identity
    /// of this authority yet, then linked; else, when the provider creates users, a new one
    /// with the API's default roles, linked; else not registered, and nothing is written.
    pub async fn resolve_user(
        &self,
        region_id: &str,
        request: &ResolveUserRequest,
        now: UnixTime,
    ) -> Result<ResolveUserResponse, StoreError> {
        check_identity(&request.authority, &request.subject)?;

        // Two first sign-ins of one person at once both try to link or create: the loser's
        // insert violates a unique index, and its second attempt finds what the winner wrote.
        match self.resolve_once(region_id, request, now).await {
            Err(StoreError::Conflict(_)) => self.resolve_once(region_id, request, now).await,
            Err(StoreError::Database(error)) if is_unique_violation(&error) => {
                self.resolve_once(region_id, request, now).await
            }
            result => result,
        }
    }

    async fn resolve_once(
        &self,
        region_id: &str,
        request: &ResolveUserRequest,
        now: UnixTime,
    ) -> Result<ResolveUserResponse, StoreError> {
        let mut transaction = self.begin_write().await?;
        let api = api_by_id(&mut transaction, &request.api_id)
            .await?
            .filter(|api| api.region_id == region_id)
            .ok_or(StoreError::WrongRegion)?;
        let resolved = resolve_in(&mut transaction, &api, request, now).await?;
        transaction.commit().await?;
        Ok(resolved)
    }
}

/// [`Store::resolve_user`] within a transaction the caller commits, for an API already
/// checked to be the node's; nothing is written when the answer is not registered.
pub(super) async fn resolve_in(
    transaction: &mut AnyConnection,
    api: &ApiRow,
    request: &ResolveUserRequest,
    now: UnixTime,
) -> Result<ResolveUserResponse, StoreError> {
    // An address the provider sent but that is no address is treated as none.
    let email = request
        .email
        .as_deref()
        .filter(|email| names::check_email("email", email).is_ok());

    let linked: Option<String> = sqlx::query_scalar(
        "SELECT user_id FROM user_identities \
         WHERE api_id = $1 AND authority = $2 AND subject = $3",
    )
    .bind(&api.id)
    .bind(&request.authority)
    .bind(&request.subject)
    .fetch_optional(&mut *transaction)
    .await?;
    if let Some(user_id) = linked {
        let user = user_from_row(user_row(transaction, api, &user_id).await?)?;
        return Ok(answer(user));
    }

    if let Some(email) = email.filter(|_| request.email_verified)
        && let Some(user) = link_registered(transaction, api, request, email, now).await?
    {
        return Ok(answer(user));
    }

    if !request.auto_create {
        // Nothing was written.
        return Ok(ResolveUserResponse {
            outcome: ResolveOutcome::NotRegistered,
            user: None,
        });
    }
    let user = create_signed_in(transaction, api, request, email, now).await?;
    Ok(answer(user))
}

/// Links the identity to the user pre-registered with `email`, unless that user already has
/// an identity of this authority: then the address alone proves nothing more, and linking a
/// second account of the same provider is the operator's decision.
async fn link_registered(
    connection: &mut AnyConnection,
    api: &ApiRow,
    request: &ResolveUserRequest,
    email: &str,
    now: UnixTime,
) -> Result<Option<User>, StoreError> {
    let user_id: Option<String> =
        sqlx::query_scalar("SELECT id FROM users WHERE api_id = $1 AND email_lower = $2")
            .bind(&api.id)
            .bind(names::email_key(email))
            .fetch_optional(&mut *connection)
            .await?;
    let Some(user_id) = user_id else {
        return Ok(None);
    };
    // Writing the row (without changing it) locks it on PostgreSQL, so two first sign-ins of
    // one provider cannot both see "no identity of this authority" and both link.
    sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
        .bind(&user_id)
        .execute(&mut *connection)
        .await?;
    let same_authority: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM user_identities WHERE user_id = $1 AND authority = $2",
    )
    .bind(&user_id)
    .bind(&request.authority)
    .fetch_one(&mut *connection)
    .await?;
    if same_authority > 0 {
        return Ok(None);
    }

    let identity = new_identity(request, Some(email), now);
    insert_identity(connection, &api.id, &user_id, &identity).await?;
    sqlx::query("UPDATE users SET updated_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&user_id)
        .execute(&mut *connection)
        .await?;
    // A user pre-registered by address alone takes the name the provider knows.
    if let Some(name) = display_name(request.name.as_deref()) {
        sqlx::query("UPDATE users SET name = $1 WHERE id = $2 AND name = ''")
            .bind(name)
            .bind(&user_id)
            .execute(&mut *connection)
            .await?;
    }
    let user = user_from_row(user_row(connection, api, &user_id).await?)?;
    Ok(Some(user))
}

/// Creates a user from the provider's claims, with the API's default roles, and links the
/// identity. The address is kept only when no other user of the API has it: an address the
/// provider did not verify, or one a user with another identity holds, must not let this
/// person pass for that user.
async fn create_signed_in(
    connection: &mut AnyConnection,
    api: &ApiRow,
    request: &ResolveUserRequest,
    email: Option<&str>,
    now: UnixTime,
) -> Result<User, StoreError> {
    let email = match email {
        Some(email) => {
            let holders: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE api_id = $1 AND email_lower = $2",
            )
            .bind(&api.id)
            .bind(names::email_key(email))
            .fetch_one(&mut *connection)
            .await?;
            (holders == 0).then_some(email)
        }
        None => None,
    };
    let user = User {
        id: new_id(USER_PREFIX),
        name: display_name(request.name.as_deref()).unwrap_or_default(),
        email: email.map(str::to_owned),
        roles: api.default_roles.clone(),
        disabled: false,
        attributes: serde_json::Map::new(),
        created_at: now,
        updated_at: now,
    };
    insert_user(connection, api, &user).await?;
    let identity = new_identity(request, request.email.as_deref(), now);
    insert_identity(connection, &api.id, &user.id, &identity).await?;
    tracing::info!(
        api = %api.name,
        user = %user.id,
        authority = %request.authority,
        "user created at first sign-in"
    );
    Ok(user)
}

pub(super) fn answer(user: User) -> ResolveUserResponse {
    if user.disabled {
        return ResolveUserResponse {
            outcome: ResolveOutcome::Disabled,
            user: None,
        };
    }
    ResolveUserResponse {
        outcome: ResolveOutcome::SignedIn,
        user: Some(user.into_resolved()),
    }
}

fn new_identity(request: &ResolveUserRequest, email: Option<&str>, now: UnixTime) -> Identity {
    Identity {
        id: new_id(IDENTITY_PREFIX),
        authority: request.authority.clone(),
        subject: request.subject.clone(),
        email: email
            .filter(|email| names::check_email("email", email).is_ok())
            .map(str::to_owned),
        created_at: now,
    }
}

pub(super) async fn insert_identity(
    connection: &mut AnyConnection,
    api_id: &str,
    user_id: &str,
    identity: &Identity,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO user_identities (id, api_id, user_id, authority, subject, email, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&identity.id)
    .bind(api_id)
    .bind(user_id)
    .bind(&identity.authority)
    .bind(&identity.subject)
    .bind(&identity.email)
    .bind(identity.created_at)
    .execute(connection)
    .await?;
    Ok(())
}

/// A provider's display name made fit to store: control characters dropped, surrounding
/// space trimmed, cut to the longest name; `None` when nothing is left. Refusing a sign-in
/// over a provider's odd name would punish the person for the provider's data.
fn display_name(name: Option<&str>) -> Option<String> {
    let cleaned: String = name?
        .chars()
        .filter(|character| !character.is_control())
        .collect();
    let trimmed: String = cleaned.trim().chars().take(MAX_NAME_LEN).collect();
    (!trimmed.is_empty()).then_some(trimmed)
}

fn check_identity(authority: &str, subject: &str) -> Result<(), StoreError> {
    let authority_fine = !authority.is_empty()
        && authority.len() <= MAX_AUTHORITY_LEN
        && authority
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"_.:-".contains(&byte));
    if !authority_fine {
        return Err(StoreError::InvalidField(format!(
            "authority must be 1 to {MAX_AUTHORITY_LEN} of A-Z, a-z, 0-9 and _ . : - \
             (a provider kind such as 'google', or a provider's id)"
        )));
    }
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT_LEN {
        return Err(StoreError::InvalidField(format!(
            "subject must be 1 to {MAX_SUBJECT_LEN} characters long"
        )));
    }
    names::check_text("subject", subject, MAX_SUBJECT_LEN).map_err(StoreError::InvalidField)
}

fn identity_from_row(row: IdentityRow) -> Identity {
    let (id, authority, subject, email, created_at) = row;
    Identity {
        id,
        authority,
        subject,
        email,
        created_at,
    }
}

fn identity_taken(error: sqlx::Error, api: &ApiRow, identity: &Identity) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::Conflict(format!(
            "identity '{}' of '{}' is already linked to a user of API '{}'",
            identity.subject, identity.authority, api.name
        ))
    } else {
        StoreError::Database(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_names_are_cleaned_not_refused() {
        assert_eq!(display_name(Some("  Ada\u{7}  ")), Some("Ada".to_owned()));
        assert_eq!(display_name(Some(" \n ")), None);
        assert_eq!(display_name(None), None);
        let long = "x".repeat(MAX_NAME_LEN + 10);
        assert_eq!(
            display_name(Some(&long)).unwrap().chars().count(),
            MAX_NAME_LEN
        );
    }

    #[test]
    fn authorities_and_subjects_are_checked() {
        assert!(check_identity("google", "1101").is_ok());
        assert!(check_identity("prv_0a1b", "a|b@c").is_ok());
        assert!(check_identity("", "1101").is_err());
        assert!(check_identity("has space", "1101").is_err());
        assert!(check_identity("google", "").is_err());
        assert!(check_identity("google", "a\nb").is_err());
    }
}
