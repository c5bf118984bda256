//! Users of an API: pre-registered by an operator or created at their first sign-in.
//!
//! Users are not configuration. An API may have millions of them, so they are never pushed to
//! data planes and writing one bumps no revision; a data plane asks for one user at sign-in
//! through the node API. Email addresses are stored as given and compared in lowercase, and
//! are unique per API.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use restapi_shared::clock::UnixTime;
use restapi_shared::ids::new_id;
use restapi_shared::node::ResolvedUser;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::{IntoParams, ToSchema};

use super::apis::{ApiRow, Claims, api_by_name};
use super::rows::{flag, object_from_json, object_to_json, roles_from_json, roles_to_json};
use super::{Store, StoreError, is_unique_violation};
use crate::names;

/// Prefix of user identifiers.
pub const USER_PREFIX: &str = "usr";
/// Longest display name.
pub(super) const MAX_NAME_LEN: usize = 200;
/// Largest attributes object, serialised.
const MAX_ATTRIBUTES_LEN: usize = 16 * 1024;
/// Page size when the caller names none.
const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page.
const MAX_PAGE_SIZE: u32 = 200;

/// A user of an API as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Identifier (`usr_...`), the `sub` of the user's tokens.
    pub id: String,
    /// Display name, the `name` of the user's tokens.
    pub name: String,
    /// Email address as given; unique in the API, compared without regard to case.
    pub email: Option<String>,
    /// Roles, each one of the API's roles.
    pub roles: Vec<String>,
    /// A disabled user cannot sign in.
    pub disabled: bool,
    /// Whatever the operator keeps about the user: a JSON object.
    #[schema(value_type = Object)]
    pub attributes: Claims,
    /// When the user was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When the user was last changed.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: UnixTime,
}

/// A user to pre-register; the first sign-in with a verified address links them.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewUser {
    /// Display name; may be left empty, then the first sign-in fills it in.
    #[serde(default)]
    #[schema(example = "Ada Lovelace")]
    pub name: String,
    /// Email address; unique in the API, compared without regard to case.
    #[schema(example = "ada@example.com")]
    pub email: Option<String>,
    /// Roles, each one of the API's roles.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Whether the user is kept from signing in (default false).
    #[serde(default)]
    pub disabled: bool,
    /// A JSON object the operator keeps about the user.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Claims,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserChanges {
    /// A new display name.
    pub name: Option<String>,
    /// A new email address.
    pub email: Option<String>,
    /// The new roles.
    pub roles: Option<Vec<String>>,
    /// Disable or enable the user.
    pub disabled: Option<bool>,
    /// New attributes, replacing the old ones entirely.
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Claims>,
}

/// Which users to list.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    /// Users per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// Where to go on: the `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the user with this email address, compared without regard to case.
    pub email: Option<String>,
}

/// One page of users, in order of creation.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserPage {
    /// The users.
    pub items: Vec<User>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A user row: id, name, email, roles, disabled, attributes, created, updated.
pub(super) type UserRow = (
    String,
    String,
    Option<String>,
    String,
    i64,
    String,
    i64,
    i64,
);

pub(super) const SELECT_USER: &str = "SELECT id, name, email, roles, disabled, attributes, \
     created_at, updated_at FROM users";

impl Store {
    /// Pre-registers a user in the API named `api_name`.
    pub async fn create_user(
        &self,
        api_name: &str,
        new: &NewUser,
        now: UnixTime,
    ) -> Result<User, StoreError> {
        check_name(&new.name)?;
        if let Some(email) = &new.email {
            names::check_email("email", email).map_err(StoreError::InvalidField)?;
        }
        check_attributes(&new.attributes)?;

        let mut transaction = self.begin_write().await?;
        let api = api_by_name(&mut transaction, api_name).await?;
        check_user_roles(&api, &new.roles)?;
        let user = User {
            id: new_id(USER_PREFIX),
            name: new.name.clone(),
            email: new.email.clone(),
            roles: new.roles.clone(),
            disabled: new.disabled,
            attributes: new.attributes.clone(),
            created_at: now,
            updated_at: now,
        };
        insert_user(&mut transaction, &api, &user).await?;
        transaction.commit().await?;
        Ok(user)
    }

    /// A page of the users of the API named `api_name`, or the one with an email address.
    pub async fn list_users(
        &self,
        api_name: &str,
        query: &UserListQuery,
    ) -> Result<UserPage, StoreError> {
        let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(StoreError::InvalidField(format!(
                "limit must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        let after = query.cursor.as_deref().map(Cursor::decode).transpose()?;

        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        if let Some(email) = &query.email {
            let row: Option<UserRow> = sqlx::query_as(&format!(
                "{SELECT_USER} WHERE api_id = $1 AND email_lower = $2"
            ))
            .bind(&api.id)
            .bind(names::email_key(email))
            .fetch_optional(&mut *connection)
            .await?;
            let items = row.map(user_from_row).transpose()?.into_iter().collect();
            return Ok(UserPage {
                items,
                next_cursor: None,
            });
        }

        // One row more than asked tells whether another page follows.
        let after = after.unwrap_or(Cursor {
            created_at: UnixTime::MIN,
            id: String::new(),
        });
        let rows: Vec<UserRow> = sqlx::query_as(&format!(
            "{SELECT_USER} WHERE api_id = $1 AND \
             (created_at > $2 OR (created_at = $2 AND id > $3)) \
             ORDER BY created_at, id LIMIT $4"
        ))
        .bind(&api.id)
        .bind(after.created_at)
        .bind(&after.id)
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *connection)
        .await?;
        let mut items = rows
            .into_iter()
            .map(user_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|last| {
                Cursor {
                    created_at: last.created_at,
                    id: last.id.clone(),
                }
                .encode()
            })
        } else {
            None
        };
        Ok(UserPage { items, next_cursor })
    }

    /// The user `id` of the API named `api_name`.
    pub async fn user(&self, api_name: &str, id: &str) -> Result<User, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        user_from_row(user_row(&mut connection, &api, id).await?)
    }

    /// Changes a user's name, address, roles, switch or attributes.
    pub async fn update_user(
        &self,
        api_name: &str,
        id: &str,
        changes: &UserChanges,
        now: UnixTime,
    ) -> Result<User, StoreError> {
        if let Some(name) = &changes.name {
            check_name(name)?;
        }
        if let Some(email) = &changes.email {
            names::check_email("email", email).map_err(StoreError::InvalidField)?;
        }
        if let Some(attributes) = &changes.attributes {
            check_attributes(attributes)?;
        }

        let mut transaction = self.begin_write().await?;
        let api = api_by_name(&mut transaction, api_name).await?;
        let mut user = user_from_row(user_row(&mut transaction, &api, id).await?)?;
        if let Some(roles) = &changes.roles {
            check_user_roles(&api, roles)?;
            user.roles = roles.clone();
        }
        if let Some(name) = &changes.name {
            user.name = name.clone();
        }
        if let Some(email) = &changes.email {
            user.email = Some(email.clone());
        }
        if let Some(disabled) = changes.disabled {
            user.disabled = disabled;
        }
        if let Some(attributes) = &changes.attributes {
            user.attributes = attributes.clone();
        }
        user.updated_at = now;

        sqlx::query(
            "UPDATE users SET name = $1, email = $2, email_lower = $3, roles = $4, \
             disabled = $5, attributes = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(&user.name)
        .bind(&user.email)
        .bind(user.email.as_deref().map(names::email_key))
        .bind(roles_to_json(&user.roles))
        .bind(flag(user.disabled))
        .bind(object_to_json(&user.attributes))
        .bind(now)
        .bind(&user.id)
        .execute(&mut *transaction)
        .await
        .map_err(|error| email_taken(error, &api, user.email.as_deref()))?;
        transaction.commit().await?;
        Ok(user)
    }

    /// Deletes a user and the identities linked to them.
    pub async fn delete_user(&self, api_name: &str, id: &str) -> Result<(), StoreError> {
        let mut transaction = self.begin_write().await?;
        let api = api_by_name(&mut transaction, api_name).await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1 AND api_id = $2")
            .bind(id)
            .bind(&api.id)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(no_such_user(&api, id));
        }
        transaction.commit().await?;
        Ok(())
    }
}

impl User {
    /// The user as a data plane sees it at sign-in.
    pub(super) fn into_resolved(self) -> ResolvedUser {
        ResolvedUser {
            id: self.id,
            name: self.name,
            email: self.email,
            roles: self.roles,
            attributes: self.attributes,
        }
    }
}

/// Inserts `user` into `api`; a taken address is a conflict.
pub(super) async fn insert_user(
    connection: &mut AnyConnection,
    api: &ApiRow,
    user: &User,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, api_id, name, email, email_lower, roles, disabled, attributes, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&user.id)
    .bind(&api.id)
    .bind(&user.name)
    .bind(&user.email)
    .bind(user.email.as_deref().map(names::email_key))
    .bind(roles_to_json(&user.roles))
    .bind(flag(user.disabled))
    .bind(object_to_json(&user.attributes))
    .bind(user.created_at)
    .bind(user.updated_at)
    .execute(connection)
    .await
    .map_err(|error| email_taken(error, api, user.email.as_deref()))?;
    Ok(())
}

/// The row of user `id` in `api`, or `NotFound`.
pub(super) async fn user_row(
    connection: &mut AnyConnection,
    api: &ApiRow,
    id: &str,
) -> Result<UserRow, StoreError> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("{SELECT_USER} WHERE id = $1 AND api_id = $2"))
            .bind(id)
            .bind(&api.id)
            .fetch_optional(connection)
            .await?;
    row.ok_or_else(|| no_such_user(api, id))
}

pub(super) fn user_from_row(row: UserRow) -> Result<User, StoreError> {
    let (id, name, email, roles, disabled, attributes, created_at, updated_at) = row;
    Ok(User {
        id,
        name,
        email,
        roles: roles_from_json(&roles)?,
        disabled: disabled != 0,
        attributes: object_from_json("user attributes", &attributes)?,
        created_at,
        updated_at,
    })
}

pub(super) fn no_such_user(api: &ApiRow, id: &str) -> StoreError {
    StoreError::NotFound(format!("no user '{id}' in API '{}'", api.name))
}

/// Where a page ends: the creation time and id of its last user. Clients see it as opaque
/// base64url text and hand it back unchanged.
#[derive(Debug, PartialEq, Eq)]
struct Cursor {
    created_at: UnixTime,
    id: String,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at, self.id))
    }

    fn decode(text: &str) -> Result<Self, StoreError> {
        let refuse = || StoreError::InvalidField("cursor is not one this endpoint gave out".into());
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| refuse())?;
        let text = String::from_utf8(bytes).map_err(|_| refuse())?;
        let (created_at, id) = text.split_once(':').ok_or_else(refuse)?;
        Ok(Self {
            created_at: created_at.parse().map_err(|_| refuse())?,
            id: id.to_owned(),
        })
    }
}

fn check_name(name: &str) -> Result<(), StoreError> {
    names::check_text("name", name, MAX_NAME_LEN).map_err(StoreError::InvalidField)
}

fn check_attributes(attributes: &Claims) -> Result<(), StoreError> {
    if object_to_json(attributes).len() > MAX_ATTRIBUTES_LEN {
        return Err(StoreError::InvalidField(format!(
            "attributes must be at most {MAX_ATTRIBUTES_LEN} bytes of JSON"
        )));
    }
    Ok(())
}

fn check_user_roles(api: &ApiRow, roles: &[String]) -> Result<(), StoreError> {
    names::check_roles(roles).map_err(StoreError::InvalidField)?;
    names::check_subset("roles", roles, &api.roles).map_err(StoreError::InvalidField)
}

fn email_taken(error: sqlx::Error, api: &ApiRow, email: Option<&str>) -> StoreError {
    match email {
        Some(email) if is_unique_violation(&error) => StoreError::Conflict(format!(
            "a user with email '{email}' already exists in API '{}'",
            api.name
        )),
        _ => StoreError::Database(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let cursor = Cursor {
            created_at: 1_800_000_000,
            id: "usr_0a1b".to_owned(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        for junk in ["", "not base64!", &URL_SAFE_NO_PAD.encode("no-colon")] {
            assert!(matches!(
                Cursor::decode(junk),
                Err(StoreError::InvalidField(_))
            ));
        }
    }
}
