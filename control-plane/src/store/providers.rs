//! Identity providers of an API's hosted login page: Microsoft, Google, Apple, Facebook, Vipps,
//! any OpenID Connect provider, or passkeys (which have no client, secret or issuer).
//!
//! Client secrets and Apple's private keys are sealed with the master key and opened only to
//! build the push; the admin API shows only whether one is set. Every write is a change of the
//! API's configuration, so its data planes have it within a second.

use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id};
use restapi_shared::push::{ProviderConfig, ProviderEndpoints, ProviderKind};
use restapi_shared::secret::SecretString;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use super::apis::{ApiRow, api_by_name};
use super::domains::served_domain_names;
use super::rows::{flag, roles_from_json, roles_to_json};
use super::web::{nullable, parse_http_url};
use super::{Store, StoreError};
use crate::names;

/// Most identity providers an API may have.
pub const MAX_PROVIDERS: i64 = 50;
/// Longest display name.
const MAX_DISPLAY_NAME_LEN: usize = 100;
/// Longest client id, team id or key id.
const MAX_CLIENT_ID_LEN: usize = 512;
/// Longest client secret.
const MAX_CLIENT_SECRET_LEN: usize = 4096;
/// Longest private key, in PEM.
const MAX_PRIVATE_KEY_LEN: usize = 8192;
/// Most scopes asked for.
const MAX_SCOPES: usize = 50;
/// Longest scope.
const MAX_SCOPE_LEN: usize = 200;
/// The Graph API version of Facebook's default endpoints.
const FACEBOOK_AUTHORIZATION: &str = "https://www.facebook.com/v21.0/dialog/oauth";
const FACEBOOK_TOKEN: &str = "https://graph.facebook.com/v21.0/oauth/access_token";
const FACEBOOK_USERINFO: &str = "https://graph.facebook.com/v21.0/me";

/// The public scheme, app domain and port of the data planes, from which the callback URLs of
/// identity providers are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginUrls {
    /// `https`, or `http` on loopback.
    pub scheme: String,
    /// Domain under which every API has its app host `<api>.<app_domain>`.
    pub app_domain: String,
    /// The data planes' public port, when it is not the scheme's default.
    pub port: Option<u16>,
}

impl LoginUrls {
    /// The callback URLs of provider `id` of API `api` in a region served at `region_host`,
    /// with the API's verified custom `domains`: one per host the login page is served on,
    /// exactly the paths the data plane answers.
    pub fn redirect_uris(
        &self,
        api: &str,
        region_host: &str,
        domains: &[String],
        id: &str,
    ) -> Vec<String> {
        let scheme = &self.scheme;
        let port = self.port.map(|port| format!(":{port}")).unwrap_or_default();
        let mut uris = vec![
            format!(
                "{scheme}://{api}.{}{port}/login/callback/{id}",
                self.app_domain
            ),
            format!("{scheme}://{region_host}{port}/{api}/login/callback/{id}"),
        ];
        uris.extend(
            domains
                .iter()
                .map(|domain| format!("{scheme}://{domain}{port}/login/callback/{id}")),
        );
        uris
    }
}

/// An identity provider as the admin API shows it: never its secrets.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    /// Identifier (`idp_...`), part of the callback URLs.
    pub id: String,
    /// Which provider this is; never changes.
    pub kind: ProviderKind,
    /// The label of its button on the login page.
    pub display_name: String,
    /// Whether the login page offers it.
    pub enabled: bool,
    /// Whether a first sign-in creates a user that does not exist yet.
    pub auto_create: bool,
    /// The client id registered at the provider (Apple: the Services ID).
    pub client_id: String,
    /// Whether a client secret is stored.
    pub client_secret_set: bool,
    /// Scopes asked for; the kind's defaults when empty.
    pub scopes: Vec<String>,
    /// The issuer, if set here; `null` means the kind's own.
    pub issuer: Option<String>,
    /// Microsoft: `common`, `organizations`, `consumers`, a tenant id or a domain.
    pub tenant: Option<String>,
    /// Apple: the team id.
    pub team_id: Option<String>,
    /// Apple: the id of the private key.
    pub key_id: Option<String>,
    /// Apple: whether a private key is stored.
    pub private_key_set: bool,
    /// Endpoints that override discovery.
    pub endpoints: ProviderEndpoints,
    /// The callback URLs to register at the provider, one per host of the login page.
    pub redirect_uris: Vec<String>,
    /// When the provider was added.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: UnixTime,
    /// When the provider was last changed.
    #[serde(serialize_with = "crate::timestamps::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: UnixTime,
}

/// Endpoints that override discovery, as written to the admin API.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointsInput {
    /// The authorization endpoint the browser is sent to.
    pub authorization: Option<String>,
    /// The token endpoint the code is exchanged at.
    pub token: Option<String>,
    /// The userinfo endpoint (Facebook: the Graph API's `/me`).
    pub userinfo: Option<String>,
    /// The JWKS that signs ID tokens.
    pub jwks: Option<String>,
}

/// An identity provider to add.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewProvider {
    /// Which provider.
    pub kind: ProviderKind,
    /// The label of its button; the kind's name by default (OpenID Connect: the issuer's
    /// host).
    #[serde(default)]
    pub display_name: Option<String>,
    /// Whether the login page offers it (default true).
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Whether a first sign-in creates a user (default false).
    #[serde(default)]
    pub auto_create: bool,
    /// The client id registered at the provider (Apple: the Services ID); none for passkeys.
    #[serde(default)]
    pub client_id: String,
    /// The client secret; required for every kind but Apple and passkeys, which must not have
    /// one.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    /// Scopes to ask for; the kind's defaults when empty.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The issuer: required for OpenID Connect, an override of the kind's own for the others.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Microsoft only: `common` (default), `organizations`, `consumers`, a tenant id or a
    /// domain.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Apple only, required: the team id.
    #[serde(default)]
    pub team_id: Option<String>,
    /// Apple only, required: the id of the private key.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Apple only, required: the PKCS#8 PEM private key (P-256) from Apple's developer site.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub private_key: Option<SecretString>,
    /// Endpoints that override discovery.
    #[serde(default)]
    pub endpoints: Option<EndpointsInput>,
}

/// Changes to an identity provider; absent fields stay as they are, `null` clears the
/// optional ones.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProviderChanges {
    /// The kind cannot change; if given, it must be the provider's.
    pub kind: Option<ProviderKind>,
    /// A new label.
    pub display_name: Option<String>,
    /// Offer it on the login page or not.
    pub enabled: Option<bool>,
    /// Create users on first sign-in or not.
    pub auto_create: Option<bool>,
    /// A new client id.
    pub client_id: Option<String>,
    /// A new client secret.
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    /// New scopes; `[]` returns to the kind's defaults.
    pub scopes: Option<Vec<String>>,
    /// A new issuer; `null` returns to the kind's own.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub issuer: Option<Option<String>>,
    /// Microsoft: a new tenant; `null` returns to `common`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub tenant: Option<Option<String>>,
    /// Apple: a new team id.
    pub team_id: Option<String>,
    /// Apple: a new key id.
    pub key_id: Option<String>,
    /// Apple: a new private key.
    #[schema(value_type = Option<String>)]
    pub private_key: Option<SecretString>,
    /// New endpoint overrides, replacing the old ones entirely; `null` removes them all.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<EndpointsInput>)]
    pub endpoints: Option<Option<EndpointsInput>>,
}

fn enabled_by_default() -> bool {
    true
}

/// A provider's settings without its secrets, which are checked as a whole after each write.
#[derive(Clone, Debug)]
struct Settings {
    kind: ProviderKind,
    display_name: String,
    enabled: bool,
    auto_create: bool,
    client_id: String,
    has_client_secret: bool,
    scopes: Vec<String>,
    issuer: Option<String>,
    tenant: Option<String>,
    team_id: Option<String>,
    key_id: Option<String>,
    has_private_key: bool,
    endpoints: ProviderEndpoints,
}

/// A stored provider: its settings, its sealed secrets and its times.
struct ProviderRow {
    id: String,
    settings: Settings,
    client_secret: Option<Vec<u8>>,
    private_key: Option<Vec<u8>>,
    created_at: UnixTime,
    created_revision: i64,
    updated_at: UnixTime,
}

const SELECT_PROVIDER: &str = "SELECT id, kind, display_name, enabled, auto_create, client_id, \
     client_secret, scopes, issuer, tenant, team_id, key_id, private_key, endpoints, \
     created_at, created_revision, updated_at FROM identity_providers";

impl Store {
    /// Adds an identity provider to the API named `api_name`.
    pub async fn create_provider(
        &self,
        api_name: &str,
        new: &NewProvider,
        urls: &LoginUrls,
        now: UnixTime,
    ) -> Result<Provider, StoreError> {
        let settings = Settings {
            kind: new.kind,
            display_name: match &new.display_name {
                Some(name) => name.clone(),
                None => default_display_name(new.kind, new.issuer.as_deref())?,
            },
            enabled: new.enabled,
            auto_create: new.auto_create,
            client_id: new.client_id.clone(),
            has_client_secret: new.client_secret.is_some(),
            scopes: new.scopes.clone(),
            issuer: new.issuer.clone(),
            tenant: match (new.kind, &new.tenant) {
                (ProviderKind::Microsoft, None) => Some("common".to_owned()),
                (_, tenant) => tenant.clone(),
            },
            team_id: new.team_id.clone(),
            key_id: new.key_id.clone(),
            has_private_key: new.private_key.is_some(),
            endpoints: endpoints_of(new.endpoints.as_ref()),
        };
        check_settings(&settings)?;
        check_secrets(new.client_secret.as_ref(), new.private_key.as_ref())?;

        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM identity_providers WHERE api_id = $1")
                .bind(&api.id)
                .fetch_one(&mut *write.transaction)
                .await?;
        if count >= MAX_PROVIDERS {
            return Err(StoreError::Conflict(format!(
                "an API has at most {MAX_PROVIDERS} identity providers"
            )));
        }
        let id = new_id(ids::IDENTITY_PROVIDER);
        let row = ProviderRow {
            client_secret: new
                .client_secret
                .as_ref()
                .map(|secret| self.seal_secret(&secret_context(&id), secret.expose().as_bytes())),
            private_key: new
                .private_key
                .as_ref()
                .map(|key| self.seal_secret(&key_context(&id), key.expose().as_bytes())),
            id,
            settings,
            created_at: now,
            created_revision: write.revision,
            updated_at: now,
        };
        insert_provider(&mut write.transaction, &api.id, &row).await?;
        let hosts = login_hosts(&mut write.transaction, &api).await?;
        write.commit_api_change(self, &api).await?;
        Ok(row.into_provider(&api.name, &hosts, urls))
    }

    /// The identity providers of the API named `api_name`, in the order they were added (the
    /// order of the login page's buttons).
    pub async fn providers(
        &self,
        api_name: &str,
        urls: &LoginUrls,
    ) -> Result<Vec<Provider>, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        let hosts = login_hosts(&mut connection, &api).await?;
        let rows = provider_rows(&mut connection, &api.id).await?;
        Ok(rows
            .into_iter()
            .map(|row| row.into_provider(&api.name, &hosts, urls))
            .collect())
    }

    /// One identity provider of the API named `api_name`.
    pub async fn provider(
        &self,
        api_name: &str,
        id: &str,
        urls: &LoginUrls,
    ) -> Result<Provider, StoreError> {
        let mut connection = self.pool().acquire().await?;
        let api = api_by_name(&mut connection, api_name).await?;
        let row = provider_row(&mut connection, &api, id).await?;
        let hosts = login_hosts(&mut connection, &api).await?;
        Ok(row.into_provider(&api.name, &hosts, urls))
    }

    /// Changes an identity provider; its kind stays.
    pub async fn update_provider(
        &self,
        api_name: &str,
        id: &str,
        changes: &ProviderChanges,
        urls: &LoginUrls,
        now: UnixTime,
    ) -> Result<Provider, StoreError> {
        check_secrets(changes.client_secret.as_ref(), changes.private_key.as_ref())?;

        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        let mut row = provider_row(&mut write.transaction, &api, id).await?;
        if let Some(kind) = changes.kind
            && kind != row.settings.kind
        {
            return Err(StoreError::InvalidField(format!(
                "kind cannot change from {} to {}; add a new provider instead",
                row.settings.kind.as_str(),
                kind.as_str()
            )));
        }
        apply_changes(&mut row.settings, changes);
        check_settings(&row.settings)?;
        if let Some(secret) = &changes.client_secret {
            row.client_secret =
                Some(self.seal_secret(&secret_context(id), secret.expose().as_bytes()));
        }
        if let Some(key) = &changes.private_key {
            row.private_key = Some(self.seal_secret(&key_context(id), key.expose().as_bytes()));
        }
        row.updated_at = now;

        update_provider_row(&mut write.transaction, &row).await?;
        let hosts = login_hosts(&mut write.transaction, &api).await?;
        write.commit_api_change(self, &api).await?;
        Ok(row.into_provider(&api.name, &hosts, urls))
    }

    /// Removes an identity provider. Identities users linked through it stay linked.
    pub async fn delete_provider(
        &self,
        api_name: &str,
        id: &str,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut write = self.begin_config_write(now).await?;
        let api = api_by_name(&mut write.transaction, api_name).await?;
        let deleted = sqlx::query("DELETE FROM identity_providers WHERE id = $1 AND api_id = $2")
            .bind(id)
            .bind(&api.id)
            .execute(&mut *write.transaction)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(not_found(&api, id));
        }
        write.commit_api_change(self, &api).await?;
        Ok(())
    }
}

/// The providers of API `api_id` as pushed: secrets opened, issuers and defaults filled in.
pub(super) async fn provider_configs(
    store: &Store,
    connection: &mut AnyConnection,
    api_id: &str,
) -> Result<Vec<ProviderConfig>, StoreError> {
    provider_rows(connection, api_id)
        .await?
        .into_iter()
        .map(|row| row.into_config(store))
        .collect()
}

impl ProviderRow {
    fn into_provider(self, api: &str, hosts: &LoginHosts, urls: &LoginUrls) -> Provider {
        let settings = self.settings;
        // A passkey is made on the login page itself: no provider calls back.
        let redirect_uris = match settings.kind {
            ProviderKind::Passkey => Vec::new(),
            _ => urls.redirect_uris(api, &hosts.region_host, &hosts.domains, &self.id),
        };
        Provider {
            redirect_uris,
            id: self.id,
            kind: settings.kind,
            display_name: settings.display_name,
            enabled: settings.enabled,
            auto_create: settings.auto_create,
            client_id: settings.client_id,
            client_secret_set: self.client_secret.is_some(),
            scopes: settings.scopes,
            issuer: settings.issuer,
            tenant: settings.tenant,
            team_id: settings.team_id,
            key_id: settings.key_id,
            private_key_set: self.private_key.is_some(),
            endpoints: settings.endpoints,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    fn into_config(self, store: &Store) -> Result<ProviderConfig, StoreError> {
        let open = |context: String, sealed: Option<Vec<u8>>| {
            sealed
                .map(|sealed| {
                    let bytes = store.open_secret(&context, &sealed)?;
                    String::from_utf8(bytes.expose().to_vec())
                        .map(SecretString::new)
                        .map_err(|_| StoreError::Corrupt("provider secret is not UTF-8".into()))
                })
                .transpose()
        };
        let client_secret = open(secret_context(&self.id), self.client_secret)?;
        let private_key = open(key_context(&self.id), self.private_key)?;
        let settings = self.settings;
        let issuer = settings
            .issuer
            .clone()
            .or_else(|| default_issuer(settings.kind, settings.tenant.as_deref()));
        Ok(ProviderConfig {
            id: self.id,
            kind: settings.kind,
            display_name: settings.display_name,
            enabled: settings.enabled,
            auto_create: settings.auto_create,
            client_id: settings.client_id,
            client_secret,
            scopes: settings.scopes,
            issuer,
            tenant: settings.tenant,
            team_id: settings.team_id,
            key_id: settings.key_id,
            private_key,
            endpoints: with_default_endpoints(settings.kind, settings.endpoints),
        })
    }
}

/// The issuer of a kind when none is set: Microsoft's names the tenant; Facebook has none.
fn default_issuer(kind: ProviderKind, tenant: Option<&str>) -> Option<String> {
    match kind {
        ProviderKind::Google => Some("https://accounts.google.com".to_owned()),
        ProviderKind::Apple => Some("https://appleid.apple.com".to_owned()),
        ProviderKind::Vipps => {
            Some("https://api.vipps.no/access-management-1.0/access/".to_owned())
        }
        ProviderKind::Microsoft => Some(format!(
            "https://login.microsoftonline.com/{}/v2.0",
            tenant.unwrap_or("common")
        )),
        ProviderKind::Facebook | ProviderKind::Oidc | ProviderKind::Passkey => None,
    }
}

/// Facebook has no discovery: its endpoints are filled in unless overridden.
fn with_default_endpoints(kind: ProviderKind, endpoints: ProviderEndpoints) -> ProviderEndpoints {
    if kind != ProviderKind::Facebook {
        return endpoints;
    }
    let or = |value: Option<String>, default: &str| value.or_else(|| Some(default.to_owned()));
    ProviderEndpoints {
        authorization: or(endpoints.authorization, FACEBOOK_AUTHORIZATION),
        token: or(endpoints.token, FACEBOOK_TOKEN),
        userinfo: or(endpoints.userinfo, FACEBOOK_USERINFO),
        jwks: endpoints.jwks,
    }
}

fn default_display_name(kind: ProviderKind, issuer: Option<&str>) -> Result<String, StoreError> {
    Ok(match kind {
        ProviderKind::Microsoft => "Microsoft".to_owned(),
        ProviderKind::Google => "Google".to_owned(),
        ProviderKind::Apple => "Apple".to_owned(),
        ProviderKind::Facebook => "Facebook".to_owned(),
        ProviderKind::Vipps => "Vipps".to_owned(),
        ProviderKind::Passkey => "Passkey".to_owned(),
        ProviderKind::Oidc => {
            let issuer = issuer.ok_or_else(|| {
                StoreError::InvalidField("issuer is required for kind oidc".to_owned())
            })?;
            let url = parse_http_url("issuer", issuer).map_err(StoreError::InvalidField)?;
            url.host.to_owned()
        }
    })
}

fn endpoints_of(input: Option<&EndpointsInput>) -> ProviderEndpoints {
    input.map_or_else(ProviderEndpoints::default, |input| ProviderEndpoints {
        authorization: input.authorization.clone(),
        token: input.token.clone(),
        userinfo: input.userinfo.clone(),
        jwks: input.jwks.clone(),
    })
}

fn apply_changes(settings: &mut Settings, changes: &ProviderChanges) {
    if let Some(name) = &changes.display_name {
        settings.display_name = name.clone();
    }
    if let Some(enabled) = changes.enabled {
        settings.enabled = enabled;
    }
    if let Some(auto_create) = changes.auto_create {
        settings.auto_create = auto_create;
    }
    if let Some(client_id) = &changes.client_id {
        settings.client_id = client_id.clone();
    }
    settings.has_client_secret |= changes.client_secret.is_some();
    if let Some(scopes) = &changes.scopes {
        settings.scopes = scopes.clone();
    }
    if let Some(issuer) = &changes.issuer {
        settings.issuer = issuer.clone();
    }
    if let Some(tenant) = &changes.tenant {
        settings.tenant = match (settings.kind, tenant) {
            (ProviderKind::Microsoft, None) => Some("common".to_owned()),
            (_, tenant) => tenant.clone(),
        };
    }
    if let Some(team_id) = &changes.team_id {
        settings.team_id = Some(team_id.clone());
    }
    if let Some(key_id) = &changes.key_id {
        settings.key_id = Some(key_id.clone());
    }
    settings.has_private_key |= changes.private_key.is_some();
    if let Some(endpoints) = &changes.endpoints {
        settings.endpoints = endpoints_of(endpoints.as_ref());
    }
}

/// Checks a provider's settings as a whole: each field, and which fields its kind takes.
fn check_settings(settings: &Settings) -> Result<(), StoreError> {
    let kind = settings.kind;
    let is_apple = kind == ProviderKind::Apple;
    let refuse = |message: String| Err(StoreError::InvalidField(message));

    names::check_text("displayName", &settings.display_name, MAX_DISPLAY_NAME_LEN)
        .map_err(StoreError::InvalidField)?;
    if settings.display_name.trim().is_empty() {
        return refuse("displayName may not be blank".to_owned());
    }
    if kind == ProviderKind::Passkey {
        return check_passkey_settings(settings);
    }
    check_identifier("clientId", &settings.client_id)?;
    check_scopes(&settings.scopes)?;

    if is_apple && settings.has_client_secret {
        return refuse(
            "clientSecret is not used by kind apple: give teamId, keyId and privateKey, from \
             which the client secrets are made"
                .to_owned(),
        );
    }
    if !is_apple && !settings.has_client_secret {
        return refuse(format!(
            "clientSecret is required for kind {}",
            kind.as_str()
        ));
    }
    for (field, value) in [("teamId", &settings.team_id), ("keyId", &settings.key_id)] {
        match (is_apple, value) {
            (true, None) => return refuse(format!("{field} is required for kind apple")),
            (true, Some(value)) => check_identifier(field, value)?,
            (false, Some(_)) => return refuse(format!("{field} is only for kind apple")),
            (false, None) => {}
        }
    }
    match (is_apple, settings.has_private_key) {
        (true, false) => return refuse("privateKey is required for kind apple".to_owned()),
        (false, true) => return refuse("privateKey is only for kind apple".to_owned()),
        _ => {}
    }

    match (kind, &settings.tenant) {
        (ProviderKind::Microsoft, Some(tenant)) => check_tenant(tenant)?,
        (ProviderKind::Microsoft, None) | (_, None) => {}
        (_, Some(_)) => return refuse("tenant is only for kind microsoft".to_owned()),
    }

    match (kind, &settings.issuer) {
        (ProviderKind::Oidc, None) => {
            return refuse("issuer is required for kind oidc".to_owned());
        }
        (_, Some(issuer)) => {
            parse_http_url("issuer", issuer).map_err(StoreError::InvalidField)?;
        }
        (_, None) => {}
    }

    let endpoints = &settings.endpoints;
    for (field, value) in [
        ("endpoints.authorization", &endpoints.authorization),
        ("endpoints.token", &endpoints.token),
        ("endpoints.userinfo", &endpoints.userinfo),
        ("endpoints.jwks", &endpoints.jwks),
    ] {
        if let Some(url) = value {
            parse_http_url(field, url).map_err(StoreError::InvalidField)?;
        }
    }
    Ok(())
}

/// A passkey provider has a label and its switches, nothing else: the relying party is the
/// host the login page is served on.
fn check_passkey_settings(settings: &Settings) -> Result<(), StoreError> {
    let endpoints = &settings.endpoints;
    let unused = [
        ("clientId", !settings.client_id.is_empty()),
        ("clientSecret", settings.has_client_secret),
        ("scopes", !settings.scopes.is_empty()),
        ("issuer", settings.issuer.is_some()),
        ("tenant", settings.tenant.is_some()),
        ("teamId", settings.team_id.is_some()),
        ("keyId", settings.key_id.is_some()),
        ("privateKey", settings.has_private_key),
        (
            "endpoints",
            endpoints.authorization.is_some()
                || endpoints.token.is_some()
                || endpoints.userinfo.is_some()
                || endpoints.jwks.is_some(),
        ),
    ];
    match unused.into_iter().find(|(_, set)| *set) {
        Some((field, _)) => Err(StoreError::InvalidField(format!(
            "{field} is not used by kind passkey"
        ))),
        None => Ok(()),
    }
}

/// Checks new secrets: a client secret of printable text, a private key that ring accepts as
/// a P-256 signing key (the data plane signs Apple's client secrets with it).
fn check_secrets(
    client_secret: Option<&SecretString>,
    private_key: Option<&SecretString>,
) -> Result<(), StoreError> {
    if let Some(secret) = client_secret {
        let secret = secret.expose();
        if secret.is_empty() || secret.len() > MAX_CLIENT_SECRET_LEN {
            return Err(StoreError::InvalidField(format!(
                "clientSecret must be 1 to {MAX_CLIENT_SECRET_LEN} characters long"
            )));
        }
        if secret.chars().any(char::is_control) {
            return Err(StoreError::InvalidField(
                "clientSecret may not contain control characters".to_owned(),
            ));
        }
    }
    if let Some(key) = private_key {
        check_private_key(key.expose())?;
    }
    Ok(())
}

/// Parses a PKCS#8 PEM P-256 private key, as Apple hands out (`AuthKey_<keyid>.p8`).
fn check_private_key(pem: &str) -> Result<(), StoreError> {
    use base64::Engine;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

    let refuse = || {
        Err(StoreError::InvalidField(
            "privateKey must be a PKCS#8 PEM P-256 private key (-----BEGIN PRIVATE KEY-----), \
             as in Apple's AuthKey_<keyid>.p8 file"
                .to_owned(),
        ))
    };
    if pem.len() > MAX_PRIVATE_KEY_LEN {
        return refuse();
    }
    let Some(body) = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")
        .and_then(|rest| rest.strip_suffix("-----END PRIVATE KEY-----"))
    else {
        return refuse();
    };
    let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let Ok(der) = base64::engine::general_purpose::STANDARD.decode(base64) else {
        return refuse();
    };
    let rng = ring::rand::SystemRandom::new();
    match EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der, &rng) {
        Ok(_) => Ok(()),
        Err(_) => refuse(),
    }
}

/// Client ids, team ids and key ids: printable, no spaces.
fn check_identifier(field: &str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() || value.len() > MAX_CLIENT_ID_LEN {
        return Err(StoreError::InvalidField(format!(
            "{field} must be 1 to {MAX_CLIENT_ID_LEN} characters long"
        )));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(StoreError::InvalidField(format!(
            "{field} may not contain spaces or control characters"
        )));
    }
    Ok(())
}

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
fn check_scopes(scopes: &[String]) -> Result<(), StoreError> {
    if scopes.len() > MAX_SCOPES {
        return Err(StoreError::InvalidField(format!(
            "scopes may hold at most {MAX_SCOPES} scopes"
        )));
    }
    for (index, scope) in scopes.iter().enumerate() {
        let fine = !scope.is_empty()
            && scope.len() <= MAX_SCOPE_LEN
            && scope
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !fine {
            return Err(StoreError::InvalidField(format!(
                "scopes holds '{scope}', which is not a scope (RFC 6749 §3.3: printable ASCII \
                 without spaces, '\"' or '\\\\')"
            )));
        }
        if scopes[..index].contains(scope) {
            return Err(StoreError::InvalidField(format!(
                "scopes lists '{scope}' twice"
            )));
        }
    }
    Ok(())
}

/// Microsoft's tenant: one of the three audiences, a tenant id (GUID) or a verified domain.
fn check_tenant(tenant: &str) -> Result<(), StoreError> {
    let is_guid = tenant.len() == 36
        && tenant.char_indices().all(|(index, c)| match index {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    let is_domain = tenant.contains('.') && names::check_host(tenant).is_ok();
    if matches!(tenant, "common" | "organizations" | "consumers") || is_guid || is_domain {
        return Ok(());
    }
    Err(StoreError::InvalidField(format!(
        "tenant '{tenant}' must be common, organizations, consumers, a tenant id (GUID) or a \
         lowercase domain such as contoso.onmicrosoft.com"
    )))
}

fn secret_context(id: &str) -> String {
    format!("idp-client-secret:{id}")
}

fn key_context(id: &str) -> String {
    format!("idp-private-key:{id}")
}

fn not_found(api: &ApiRow, id: &str) -> StoreError {
    StoreError::NotFound(format!(
        "API '{}' has no identity provider '{id}'",
        api.name
    ))
}

/// The hosts the login page of `api` is served on, besides its app host.
struct LoginHosts {
    region_host: String,
    /// The API's verified custom domains.
    domains: Vec<String>,
}

async fn login_hosts(
    connection: &mut AnyConnection,
    api: &ApiRow,
) -> Result<LoginHosts, StoreError> {
    let region_host = sqlx::query_scalar("SELECT host FROM regions WHERE id = $1")
        .bind(&api.region_id)
        .fetch_one(&mut *connection)
        .await?;
    let domains = served_domain_names(connection, &api.id).await?;
    Ok(LoginHosts {
        region_host,
        domains,
    })
}

async fn provider_row(
    connection: &mut AnyConnection,
    api: &ApiRow,
    id: &str,
) -> Result<ProviderRow, StoreError> {
    let row: Option<AnyRow> =
        sqlx::query(&format!("{SELECT_PROVIDER} WHERE id = $1 AND api_id = $2"))
            .bind(id)
            .bind(&api.id)
            .fetch_optional(connection)
            .await?;
    row.as_ref()
        .map(provider_from_row)
        .transpose()?
        .ok_or_else(|| not_found(api, id))
}

async fn provider_rows(
    connection: &mut AnyConnection,
    api_id: &str,
) -> Result<Vec<ProviderRow>, StoreError> {
    let rows: Vec<AnyRow> = sqlx::query(&format!(
        "{SELECT_PROVIDER} WHERE api_id = $1 ORDER BY created_revision"
    ))
    .bind(api_id)
    .fetch_all(connection)
    .await?;
    rows.iter().map(provider_from_row).collect()
}

async fn insert_provider(
    connection: &mut AnyConnection,
    api_id: &str,
    row: &ProviderRow,
) -> Result<(), StoreError> {
    let settings = &row.settings;
    sqlx::query(
        "INSERT INTO identity_providers (id, api_id, kind, display_name, enabled, auto_create, \
         client_id, client_secret, scopes, issuer, tenant, team_id, key_id, private_key, \
         endpoints, created_at, created_revision, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18)",
    )
    .bind(&row.id)
    .bind(api_id)
    .bind(settings.kind.as_str())
    .bind(&settings.display_name)
    .bind(flag(settings.enabled))
    .bind(flag(settings.auto_create))
    .bind(&settings.client_id)
    .bind(row.client_secret.clone())
    .bind(roles_to_json(&settings.scopes))
    .bind(settings.issuer.clone())
    .bind(settings.tenant.clone())
    .bind(settings.team_id.clone())
    .bind(settings.key_id.clone())
    .bind(row.private_key.clone())
    .bind(endpoints_to_json(&settings.endpoints))
    .bind(row.created_at)
    .bind(row.created_revision)
    .bind(row.updated_at)
    .execute(connection)
    .await?;
    Ok(())
}

async fn update_provider_row(
    connection: &mut AnyConnection,
    row: &ProviderRow,
) -> Result<(), StoreError> {
    let settings = &row.settings;
    sqlx::query(
        "UPDATE identity_providers SET display_name = $1, enabled = $2, auto_create = $3, \
         client_id = $4, client_secret = $5, scopes = $6, issuer = $7, tenant = $8, \
         team_id = $9, key_id = $10, private_key = $11, endpoints = $12, updated_at = $13 \
         WHERE id = $14",
    )
    .bind(&settings.display_name)
    .bind(flag(settings.enabled))
    .bind(flag(settings.auto_create))
    .bind(&settings.client_id)
    .bind(row.client_secret.clone())
    .bind(roles_to_json(&settings.scopes))
    .bind(settings.issuer.clone())
    .bind(settings.tenant.clone())
    .bind(settings.team_id.clone())
    .bind(settings.key_id.clone())
    .bind(row.private_key.clone())
    .bind(endpoints_to_json(&settings.endpoints))
    .bind(row.updated_at)
    .bind(&row.id)
    .execute(connection)
    .await?;
    Ok(())
}

fn endpoints_to_json(endpoints: &ProviderEndpoints) -> String {
    // Four optional strings: serialising cannot fail.
    serde_json::to_string(endpoints).unwrap_or_else(|_| "{}".to_owned())
}

fn provider_from_row(row: &AnyRow) -> Result<ProviderRow, StoreError> {
    let kind: String = row.try_get("kind")?;
    let kind = serde_json::from_value(serde_json::Value::String(kind))
        .map_err(|error| StoreError::Corrupt(format!("provider kind: {error}")))?;
    let scopes: String = row.try_get("scopes")?;
    let endpoints: String = row.try_get("endpoints")?;
    let client_secret: Option<Vec<u8>> = row.try_get("client_secret")?;
    let private_key: Option<Vec<u8>> = row.try_get("private_key")?;
    let enabled: i64 = row.try_get("enabled")?;
    let auto_create: i64 = row.try_get("auto_create")?;
    Ok(ProviderRow {
        id: row.try_get("id")?,
        settings: Settings {
            kind,
            display_name: row.try_get("display_name")?,
            enabled: enabled != 0,
            auto_create: auto_create != 0,
            client_id: row.try_get("client_id")?,
            has_client_secret: client_secret.is_some(),
            scopes: roles_from_json(&scopes)?,
            issuer: row.try_get("issuer")?,
            tenant: row.try_get("tenant")?,
            team_id: row.try_get("team_id")?,
            key_id: row.try_get("key_id")?,
            has_private_key: private_key.is_some(),
            endpoints: serde_json::from_str(&endpoints)
                .map_err(|error| StoreError::Corrupt(format!("provider endpoints: {error}")))?,
        },
        client_secret,
        private_key,
        created_at: row.try_get("created_at")?,
        created_revision: row.try_get("created_revision")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn google() -> Settings {
        Settings {
            kind: ProviderKind::Google,
            display_name: "Google".to_owned(),
            enabled: true,
            auto_create: false,
            client_id: "client".to_owned(),
            has_client_secret: true,
            scopes: vec![],
            issuer: None,
            tenant: None,
            team_id: None,
            key_id: None,
            has_private_key: false,
            endpoints: ProviderEndpoints::default(),
        }
    }

    fn refused_field(settings: &Settings) -> String {
        match check_settings(settings).unwrap_err() {
            StoreError::InvalidField(message) => message,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn kind_specific_fields_are_refused_on_other_kinds() {
        assert!(check_settings(&google()).is_ok());
        type Change = fn(&mut Settings);
        let cases: [(Change, &str); 6] = [
            (|s| s.tenant = Some("common".into()), "tenant"),
            (|s| s.team_id = Some("T".into()), "teamId"),
            (|s| s.has_private_key = true, "privateKey"),
            (|s| s.has_client_secret = false, "clientSecret"),
            (|s| s.scopes = vec!["a b".into()], "scopes"),
            (|s| s.issuer = Some("accounts.google.com".into()), "issuer"),
        ];
        for (change, field) in cases {
            let mut settings = google();
            change(&mut settings);
            assert!(refused_field(&settings).starts_with(field), "{field}");
        }
    }

    #[test]
    fn microsoft_tenants() {
        for good in [
            "common",
            "organizations",
            "consumers",
            "9188040d-6c67-4c5b-b112-36a304b66dad",
            "contoso.onmicrosoft.com",
        ] {
            assert!(check_tenant(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Common",
            "contoso",
            "9188040d-6c67-4c5b-b112",
            "a/b.com",
        ] {
            assert!(check_tenant(bad).is_err(), "{bad}");
        }
        assert_eq!(
            default_issuer(ProviderKind::Microsoft, Some("consumers")).unwrap(),
            "https://login.microsoftonline.com/consumers/v2.0"
        );
    }

    #[test]
    fn private_keys_must_be_p256_pkcs8() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
        assert!(check_private_key(&pem).is_ok());
        assert!(check_private_key("not a key").is_err());
        let broken = pem.replace(&body[10..20], "AAAAAAAAAA");
        assert!(check_private_key(&broken).is_err());
    }

    #[test]
    fn facebook_endpoints_are_filled_unless_overridden() {
        let endpoints = with_default_endpoints(
            ProviderKind::Facebook,
            ProviderEndpoints {
                token: Some("https://graph.example/token".into()),
                ..ProviderEndpoints::default()
            },
        );
        assert_eq!(
            endpoints.authorization.as_deref(),
            Some(FACEBOOK_AUTHORIZATION)
        );
        assert_eq!(
            endpoints.token.as_deref(),
            Some("https://graph.example/token")
        );
        assert_eq!(endpoints.userinfo.as_deref(), Some(FACEBOOK_USERINFO));
        assert_eq!(
            with_default_endpoints(ProviderKind::Google, ProviderEndpoints::default()),
            ProviderEndpoints::default()
        );
    }
}
