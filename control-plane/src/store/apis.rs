//! APIs: the tenants' configurations. Each has a unique name, lives in one region, defines its
//! roles, and owns its signing keys, service accounts, refresh token sealing key, web settings
//! and identity providers.

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id, new_key_bytes};
use restapi_shared::push::{AccessRule, Branding, WebConfig};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use super::rows::{object_from_json, object_to_json, roles_from_json, roles_to_json};
use super::web::{
    AccessRuleInput, BrandingInput, WebColumns, check_access_rules, check_branding, check_origins,
    check_upstream, nullable, rule_using,
};
use super::{ChangeKind, Store, StoreError, is_unique_violation, signing_keys};
use crate::names;

/// Longest description accepted.
pub const MAX_DESCRIPTION_LEN: usize = 1000;
/// Largest set of static claims, serialised: they travel in every token of the API.
pub const MAX_CLAIMS_LEN: usize = 4096;

/// A JSON object of claims.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// An API as the admin API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Api {
    /// Identifier (`api_...`).
    pub id: String,
    /// Name: a DNS label, unique, part of every URL of the API.
    pub name: String,
    /// Free text for operators.
    pub description: String,
    /// Name of the region the API is served from.
    pub region: String,
    /// Roles the API defines.
    pub roles: Vec<String>,
    /// Roles given to new users.
    pub default_roles: Vec<String>,
    /// Roles every API has without defining them, for access rules: `_EVERYONE`,
    /// `_AUTHENTICATED_USER` and `_CREATOR`. Tokens never carry them.
    #[schema(example = json!(["_EVERYONE", "_AUTHENTICATED_USER", "_CREATOR"]))]
    pub built_in_roles: Vec<String>,
    /// Static claims added to every access token of the API.
    #[schema(value_type = Object, example = json!({"tenant": "acme"}))]
    pub claims: Claims,
    /// Base URL of the customer's backend: `/api/<path>` on the app host and `/<api>/<path>` on
    /// the regional host are forwarded to `<upstream>/<path>`; `null`: such paths are 404.
    #[schema(example = "https://backend.example.com")]
    pub upstream: Option<String>,
    /// Base URL of the customer's web app, served on the app host outside `/api` and `/login`.
    pub web_upstream: Option<String>,
    /// Who may call which part of the upstream; no matching rule means refused.
    pub access_rules: Vec<AccessRule>,
    /// Origins allowed to call the API from a browser.
    #[schema(example = json!(["https://app.example.com"]))]
    pub cors_origins: Vec<String>,
    /// Origins the login page may return the browser to, besides its own host.
    pub redirect_origins: Vec<String>,
    /// How the hosted login page looks.
    pub branding: Branding,
    /// When the API was created.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When the API was last changed.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: UnixTime,
}

/// An API to create.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewApi {
    /// A lowercase DNS label, not reserved and not a region's name.
    #[schema(example = "shop")]
    pub name: String,
    /// Free text for operators.
    #[serde(default)]
    pub description: String,
    /// Name of the region to serve the API from.
    #[schema(example = "eu")]
    pub region: String,
    /// Roles the API defines.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Roles given to new users; each must be one of `roles`.
    #[serde(default)]
    pub default_roles: Vec<String>,
    /// Static claims added to every access token of the API. Registered names (iss, sub, aud,
    /// exp, iat, nbf, jti, name, email, roles, client_id) are refused.
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"tenant": "acme"}))]
    pub claims: Claims,
    /// Base URL of the customer's backend (absolute http(s) URL, no query or fragment).
    #[serde(default)]
    pub upstream: Option<String>,
    /// Base URL of the customer's web app (absolute http(s) URL, no query or fragment).
    #[serde(default)]
    pub web_upstream: Option<String>,
    /// Who may call which part of the upstream.
    #[serde(default)]
    pub access_rules: Vec<AccessRuleInput>,
    /// Origins (`scheme://host[:port]`) allowed to call the API from a browser.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Origins (`scheme://host[:port]`) the login page may return the browser to.
    #[serde(default)]
    pub redirect_origins: Vec<String>,
    /// How the hosted login page looks.
    #[serde(default)]
    pub branding: Option<BrandingInput>,
}

/// Changes to an API; absent fields stay as they are.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ApiChanges {
    /// A new name.
    pub name: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// Move the API to this region.
    pub region: Option<String>,
    /// The new list of roles; a role still held by a service account cannot be removed.
    pub roles: Option<Vec<String>>,
    /// The new default roles.
    pub default_roles: Option<Vec<String>>,
    /// The new static claims, replacing the old ones entirely.
    #[schema(value_type = Option<Object>)]
    pub claims: Option<Claims>,
    /// A new backend base URL; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub upstream: Option<Option<String>>,
    /// A new web app base URL; `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub web_upstream: Option<Option<String>>,
    /// The new access rules, replacing the old ones entirely.
    pub access_rules: Option<Vec<AccessRuleInput>>,
    /// The new CORS origins, replacing the old ones entirely.
    pub cors_origins: Option<Vec<String>>,
    /// The new redirect origins, replacing the old ones entirely.
    pub redirect_origins: Option<Vec<String>>,
    /// The new branding, replacing the old one entirely; `null` returns to the defaults.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<BrandingInput>)]
    pub branding: Option<Option<BrandingInput>>,
}

/// An API row with the region's name joined in.
pub(super) struct ApiRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) region_id: String,
    pub(super) region_name: String,
    pub(super) roles: Vec<String>,
    pub(super) default_roles: Vec<String>,
    pub(super) claims: Claims,
    pub(super) web: WebConfig,
    pub(super) created_at: UnixTime,
    pub(super) updated_at: UnixTime,
}

type RawApiRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    String,
    String,
    i64,
    i64,
);

const SELECT_API: &str = "SELECT a.id, a.name, a.description, a.region_id, r.name, a.roles, \
     a.default_roles, a.claims, a.upstream, a.web_upstream, a.access_rules, a.cors_origins, \
     a.redirect_origins, a.branding, a.created_at, a.updated_at \
     FROM apis a JOIN regions r ON r.id = a.region_id";

impl Store {
    /// Creates an API with its first signing key and its refresh token sealing key.
    pub async fn create_api(&self, new: &NewApi, now: UnixTime) -> Result<Api, StoreError> {
        names::check_api_name(&new.name).map_err(StoreError::InvalidName)?;
        names::check_text("description", &new.description, MAX_DESCRIPTION_LEN)
            .map_err(StoreError::InvalidField)?;
        check_role_lists(&new.roles, &new.default_roles)?;
        check_claims(&new.claims)?;
        let web = WebConfig {
            upstream: optional_upstream("upstream", new.upstream.as_deref())?,
            web_upstream: optional_upstream("webUpstream", new.web_upstream.as_deref())?,
            access_rules: check_access_rules(&new.access_rules, &new.roles)?,
            cors_origins: check_origins("corsOrigins", &new.cors_origins)?,
            redirect_origins: check_origins("redirectOrigins", &new.redirect_origins)?,
            branding: new
                .branding
                .as_ref()
                .map(check_branding)
                .transpose()?
                .unwrap_or_default(),
        };
        let columns = WebColumns::of(&web);

        let mut write = self.begin_config_write(now).await?;
        let (region_id, region_name) = region_by_name(&mut write.transaction, &new.region).await?;
        check_api_name_free(&mut write.transaction, &new.name, None).await?;

        let id = new_id(ids::API);
        let refresh_key = self.seal_secret(&refresh_key_context(&id), &new_key_bytes());
        sqlx::query(
            "INSERT INTO apis (id, name, description, region_id, roles, default_roles, \
             refresh_token_key, claims, upstream, web_upstream, access_rules, cors_origins, \
             redirect_origins, branding, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)",
        )
        .bind(&id)
        .bind(&new.name)
        .bind(&new.description)
        .bind(&region_id)
        .bind(roles_to_json(&new.roles))
        .bind(roles_to_json(&new.default_roles))
        .bind(refresh_key)
        .bind(object_to_json(&new.claims))
        .bind(columns.upstream)
        .bind(columns.web_upstream)
        .bind(columns.access_rules)
        .bind(columns.cors_origins)
        .bind(columns.redirect_origins)
        .bind(columns.branding)
        .bind(now)
        .execute(&mut *write.transaction)
        .await
        .map_err(|error| name_taken(error, &new.name))?;
        // The first key signs at once: nothing can hold a token of a brand-new API yet.
        signing_keys::insert_key(self, &mut write, &id, now).await?;
        write.record(&region_id, ChangeKind::Api, &id).await?;
        write.commit(self).await?;

        Ok(Api {
            id,
            name: new.name.clone(),
            description: new.description.clone(),
            region: region_name,
            roles: new.roles.clone(),
            default_roles: new.default_roles.clone(),
            built_in_roles: built_in_roles(),
            claims: new.claims.clone(),
            upstream: web.upstream,
            web_upstream: web.web_upstream,
            access_rules: web.access_rules,
            cors_origins: web.cors_origins,
            redirect_origins: web.redirect_origins,
            branding: web.branding,
            created_at: now,
            updated_at: now,
        })
    }

    /// Every API, by name.
    pub async fn list_apis(&self) -> Result<Vec<Api>, StoreError> {
        let rows: Vec<RawApiRow> = sqlx::query_as(&format!("{SELECT_API} ORDER BY a.name"))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|row| api_row_from(row).map(ApiRow::into_api))
            .collect()
    }

    /// The API named `name`.
    pub async fn api(&self, name: &str) -> Result<Api, StoreError> {
        let mut connection = self.pool().acquire().await?;
        Ok(api_by_name(&mut connection, name).await?.into_api())
    }

    /// Renames an API, moves it to another region, or changes its description, roles, claims or
    /// web settings.
    pub async fn update_api(
        &self,
        name: &str,
        changes: &ApiChanges,
        now: UnixTime,
    ) -> Result<Api, StoreError> {
        if let Some(new_name) = &changes.name {
            names::check_api_name(new_name).map_err(StoreError::InvalidName)?;
        }
        if let Some(description) = &changes.description {
            names::check_text("description", description, MAX_DESCRIPTION_LEN)
                .map_err(StoreError::InvalidField)?;
        }
        if let Some(claims) = &changes.claims {
            check_claims(claims)?;
        }
        let upstream = match &changes.upstream {
            Some(url) => Some(optional_upstream("upstream", url.as_deref())?),
            None => None,
        };
        let web_upstream = match &changes.web_upstream {
            Some(url) => Some(optional_upstream("webUpstream", url.as_deref())?),
            None => None,
        };
        let cors_origins = changes
            .cors_origins
            .as_ref()
            .map(|origins| check_origins("corsOrigins", origins))
            .transpose()?;
        let redirect_origins = changes
            .redirect_origins
            .as_ref()
            .map(|origins| check_origins("redirectOrigins", origins))
            .transpose()?;
        let branding = match &changes.branding {
            Some(Some(branding)) => Some(check_branding(branding)?),
            Some(None) => Some(Branding::default()),
            None => None,
        };

        let mut write = self.begin_config_write(now).await?;
        let mut api = api_by_name(&mut write.transaction, name).await?;
        let old_region_id = api.region_id.clone();
        if let Some(new_name) = &changes.name {
            check_api_name_free(&mut write.transaction, new_name, Some(&api.id)).await?;
            api.name = new_name.clone();
        }
        if let Some(description) = &changes.description {
            api.description = description.clone();
        }
        if let Some(region) = &changes.region {
            (api.region_id, api.region_name) =
                region_by_name(&mut write.transaction, region).await?;
        }
        if let Some(roles) = &changes.roles {
            check_roles_unused(&mut write.transaction, &api.id, &api.roles, roles).await?;
            if changes.access_rules.is_none() {
                check_rules_keep_roles(&api.web.access_rules, &api.roles, roles)?;
            }
            api.roles = roles.clone();
        }
        if let Some(default_roles) = &changes.default_roles {
            api.default_roles = default_roles.clone();
        }
        if let Some(claims) = &changes.claims {
            api.claims = claims.clone();
        }
        check_role_lists(&api.roles, &api.default_roles)?;
        // Rules are checked against the roles as they are after this change.
        if let Some(rules) = &changes.access_rules {
            api.web.access_rules = check_access_rules(rules, &api.roles)?;
        }
        if let Some(upstream) = upstream {
            api.web.upstream = upstream;
        }
        if let Some(web_upstream) = web_upstream {
            api.web.web_upstream = web_upstream;
        }
        if let Some(cors_origins) = cors_origins {
            api.web.cors_origins = cors_origins;
        }
        if let Some(redirect_origins) = redirect_origins {
            api.web.redirect_origins = redirect_origins;
        }
        if let Some(branding) = branding {
            api.web.branding = branding;
        }
        api.updated_at = now;
        let columns = WebColumns::of(&api.web);

        sqlx::query(
            "UPDATE apis SET name = $1, description = $2, region_id = $3, roles = $4, \
             default_roles = $5, claims = $6, upstream = $7, web_upstream = $8, \
             access_rules = $9, cors_origins = $10, redirect_origins = $11, branding = $12, \
             updated_at = $13 WHERE id = $14",
        )
        .bind(&api.name)
        .bind(&api.description)
        .bind(&api.region_id)
        .bind(roles_to_json(&api.roles))
        .bind(roles_to_json(&api.default_roles))
        .bind(object_to_json(&api.claims))
        .bind(columns.upstream)
        .bind(columns.web_upstream)
        .bind(columns.access_rules)
        .bind(columns.cors_origins)
        .bind(columns.redirect_origins)
        .bind(columns.branding)
        .bind(now)
        .bind(&api.id)
        .execute(&mut *write.transaction)
        .await
        .map_err(|error| name_taken(error, &api.name))?;
        // A move is a removal for the old region and an arrival for the new one.
        write
            .record(&api.region_id, ChangeKind::Api, &api.id)
            .await?;
        if old_region_id != api.region_id {
            write
                .record(&old_region_id, ChangeKind::Api, &api.id)
                .await?;
        }
        write.commit(self).await?;
        Ok(api.into_api())
    }

    /// Deletes an API with its keys, service accounts, secrets and identity providers.
    pub async fn delete_api(&self, name: &str, now: UnixTime) -> Result<(), StoreError> {
        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, name).await?;
        sqlx::query("DELETE FROM apis WHERE id = $1")
            .bind(&api.id)
            .execute(&mut *write.transaction)
            .await?;
        write.commit_api_change(self, &api).await?;
        Ok(())
    }
}

impl ApiRow {
    fn into_api(self) -> Api {
        Api {
            id: self.id,
            name: self.name,
            description: self.description,
            region: self.region_name,
            roles: self.roles,
            default_roles: self.default_roles,
            built_in_roles: built_in_roles(),
            claims: self.claims,
            upstream: self.web.upstream,
            web_upstream: self.web.web_upstream,
            access_rules: self.web.access_rules,
            cors_origins: self.web.cors_origins,
            redirect_origins: self.web.redirect_origins,
            branding: self.web.branding,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The API named `name`, or `NotFound`.
pub(super) async fn api_by_name(
    connection: &mut AnyConnection,
    name: &str,
) -> Result<ApiRow, StoreError> {
    let row: Option<RawApiRow> = sqlx::query_as(&format!("{SELECT_API} WHERE a.name = $1"))
        .bind(name)
        .fetch_optional(connection)
        .await?;
    let row = row.ok_or_else(|| StoreError::NotFound(format!("no API named '{name}'")))?;
    api_row_from(row)
}

/// The API with identifier `id`, if it exists.
pub(super) async fn api_by_id(
    connection: &mut AnyConnection,
    id: &str,
) -> Result<Option<ApiRow>, StoreError> {
    let row: Option<RawApiRow> = sqlx::query_as(&format!("{SELECT_API} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(connection)
        .await?;
    row.map(api_row_from).transpose()
}

/// Context under which an API's refresh token sealing key is encrypted.
pub(super) fn refresh_key_context(api_id: &str) -> String {
    format!("refresh-key:{api_id}")
}

fn api_row_from(row: RawApiRow) -> Result<ApiRow, StoreError> {
    let (
        id,
        name,
        description,
        region_id,
        region_name,
        roles,
        default_roles,
        claims,
        upstream,
        web_upstream,
        access_rules,
        cors_origins,
        redirect_origins,
        branding,
        created,
        updated,
    ) = row;
    let web = WebColumns {
        upstream,
        web_upstream,
        access_rules,
        cors_origins,
        redirect_origins,
        branding,
    };
    Ok(ApiRow {
        id,
        name,
        description,
        region_id,
        region_name,
        roles: roles_from_json(&roles)?,
        default_roles: roles_from_json(&default_roles)?,
        claims: object_from_json("claims", &claims)?,
        web: web.into_web()?,
        created_at: created,
        updated_at: updated,
    })
}

fn built_in_roles() -> Vec<String> {
    names::BUILT_IN_ROLES
        .iter()
        .map(|role| (*role).to_owned())
        .collect()
}

fn check_claims(claims: &Claims) -> Result<(), StoreError> {
    names::check_claims(claims).map_err(StoreError::InvalidField)?;
    if object_to_json(claims).len() > MAX_CLAIMS_LEN {
        return Err(StoreError::InvalidField(format!(
            "claims must be at most {MAX_CLAIMS_LEN} bytes of JSON"
        )));
    }
    Ok(())
}

fn optional_upstream(field: &str, url: Option<&str>) -> Result<Option<String>, StoreError> {
    url.map(|url| check_upstream(field, url)).transpose()
}

/// Refuses to drop a role that an access rule still names, like a role still held: the rule
/// would silently stop matching anyone.
fn check_rules_keep_roles(
    rules: &[AccessRule],
    old_roles: &[String],
    new_roles: &[String],
) -> Result<(), StoreError> {
    let removed: Vec<&String> = old_roles
        .iter()
        .filter(|role| !new_roles.contains(role))
        .collect();
    match rule_using(rules, &removed) {
        Some(rule) => Err(StoreError::Conflict(format!(
            "role '{}' is still used by the access rule for '{}'",
            rule.role, rule.path
        ))),
        None => Ok(()),
    }
}

fn check_role_lists(roles: &[String], default_roles: &[String]) -> Result<(), StoreError> {
    names::check_roles(roles).map_err(StoreError::InvalidField)?;
    names::check_subset("defaultRoles", default_roles, roles).map_err(StoreError::InvalidField)
}

async fn region_by_name(
    connection: &mut AnyConnection,
    name: &str,
) -> Result<(String, String), StoreError> {
    let id: Option<String> = sqlx::query_scalar("SELECT id FROM regions WHERE name = $1")
        .bind(name)
        .fetch_optional(connection)
        .await?;
    match id {
        Some(id) => Ok((id, name.to_owned())),
        None => Err(StoreError::InvalidField(format!(
            "region '{name}' does not exist"
        ))),
    }
}

/// Refuses an API name that is a region's name or another API's.
async fn check_api_name_free(
    connection: &mut AnyConnection,
    name: &str,
    own_id: Option<&str>,
) -> Result<(), StoreError> {
    let regions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM regions WHERE name = $1")
        .bind(name)
        .fetch_one(&mut *connection)
        .await?;
    if regions > 0 {
        return Err(StoreError::InvalidName(format!(
            "API name '{name}' is the name of a region, whose host serves paths of that name"
        )));
    }
    let apis: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM apis WHERE name = $1 AND id <> $2")
        .bind(name)
        .bind(own_id.unwrap_or_default())
        .fetch_one(&mut *connection)
        .await?;
    if apis > 0 {
        return Err(StoreError::Conflict(format!(
            "an API named '{name}' already exists"
        )));
    }
    Ok(())
}

/// Refuses to drop a role that a service account or a user of the API still holds.
async fn check_roles_unused(
    connection: &mut AnyConnection,
    api_id: &str,
    old_roles: &[String],
    new_roles: &[String],
) -> Result<(), StoreError> {
    let removed: Vec<&String> = old_roles
        .iter()
        .filter(|role| !new_roles.contains(role))
        .collect();
    if removed.is_empty() {
        return Ok(());
    }
    let accounts: Vec<(String, String)> =
        sqlx::query_as("SELECT name, roles FROM service_accounts WHERE api_id = $1")
            .bind(api_id)
            .fetch_all(&mut *connection)
            .await?;
    for (account, roles) in accounts {
        let roles = roles_from_json(&roles)?;
        if let Some(role) = removed.iter().find(|role| roles.contains(role)) {
            return Err(StoreError::Conflict(format!(
                "role '{role}' is still held by service account '{account}'"
            )));
        }
    }
    for role in removed {
        if let Some(user) = user_holding(connection, api_id, role).await? {
            return Err(StoreError::Conflict(format!(
                "role '{role}' is still held by user '{user}'"
            )));
        }
    }
    Ok(())
}

/// The identifier of a user of the API holding `role`, if any. An API may have millions of
/// users, so the database narrows them down by the role's JSON text first; LIKE may match too
/// much (SQLite ignores case), never too little, and each candidate is then checked exactly.
async fn user_holding(
    connection: &mut AnyConnection,
    api_id: &str,
    role: &str,
) -> Result<Option<String>, StoreError> {
    // Role names hold no '%' or '"'; '_' is LIKE's wildcard and is escaped.
    let pattern = format!("%\"{}\"%", role.replace('_', "\\_"));
    let candidates: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, roles FROM users WHERE api_id = $1 AND roles LIKE $2 ESCAPE '\\'",
    )
    .bind(api_id)
    .bind(pattern)
    .fetch_all(connection)
    .await?;
    for (user, roles) in candidates {
        if roles_from_json(&roles)?.iter().any(|held| held == role) {
            return Ok(Some(user));
        }
    }
    Ok(None)
}

fn name_taken(error: sqlx::Error, name: &str) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::Conflict(format!("an API named '{name}' already exists"))
    } else {
        StoreError::Database(error)
    }
}
