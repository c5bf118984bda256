//! The configuration a data plane receives: a snapshot of its region, then changes.
//!
//! Every write to configuration on the control plane bumps one global revision. A data plane
//! asks for a snapshot of its region at some revision, then for the changes after the revision
//! it holds. A batch of changes is applied atomically: afterwards the data plane holds exactly
//! the region's configuration as of the batch's revision. Each change carries the whole new
//! state of one object, so applying it never depends on what the data plane held before.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::UnixTime;
use crate::secret::{SecretBytes, SecretDigest, SecretString};
use crate::token::PublicKey;

/// A configuration revision: monotonically increasing across the whole platform.
pub type Revision = i64;

/// A region's whole configuration at one revision.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegionSnapshot {
    /// The revision this snapshot is exact at.
    pub revision: Revision,
    /// The region itself.
    pub region: RegionConfig,
    /// Every API of the region.
    pub apis: Vec<ApiConfig>,
}

/// The changes to a region after some revision.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangeBatch {
    /// The revision a data plane holds after applying the batch.
    pub revision: Revision,
    /// The changes, in order. Empty when nothing changed in the region.
    pub changes: Vec<Change>,
}

/// One change to a region's configuration.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Change {
    /// An API was created or changed (or moved into the region): its whole new state.
    ApiUpserted {
        /// The API's configuration.
        api: Box<ApiConfig>,
    },
    /// An API was deleted (or moved out of the region).
    ApiRemoved {
        /// The API's identifier.
        id: String,
    },
    /// The region's own settings changed.
    RegionUpdated {
        /// The region's configuration.
        region: RegionConfig,
    },
    /// A refresh family of an API was revoked (signed out, revoked, or a token reused): the
    /// access tokens naming it in `sid` are refused from now on.
    SessionRevoked {
        /// The API's identifier.
        api_id: String,
        /// The revoked family.
        family: String,
    },
}

/// A region's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegionConfig {
    /// The region's identifier.
    pub id: String,
    /// The region's short name, such as `eu`.
    pub name: String,
    /// The public host of the regional endpoint, such as `eu.restapi.com`.
    pub host: String,
}

/// Everything a data plane needs to serve one API.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiConfig {
    /// The API's identifier.
    pub id: String,
    /// The API's name: a DNS label, part of every URL.
    pub name: String,
    /// The roles defined by the API.
    pub roles: Vec<String>,
    /// Roles given to new users.
    pub default_roles: Vec<String>,
    /// Signing keys, published and pending.
    pub signing_keys: Vec<SigningKeyConfig>,
    /// Service accounts and the digests of their secrets.
    pub service_accounts: Vec<ServiceAccountConfig>,
    /// The AES-256-GCM key that seals this API's refresh tokens.
    #[schema(value_type = String)]
    pub refresh_token_key: SecretBytes,
    /// Static claims added to every access token of the API; never one of
    /// [`crate::token::REGISTERED_CLAIMS`].
    #[serde(default)]
    #[schema(value_type = Object)]
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// How browsers and apps reach the customer's backend and web app through the data plane.
    #[serde(default)]
    pub web: WebConfig,
    /// The identity providers of the hosted login page, enabled or not.
    #[serde(default)]
    pub providers: Vec<ProviderConfig>,
    /// The public OAuth clients (native apps, single-page apps) that may use `/login` as their
    /// authorization endpoint.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Refresh families revoked within the last hour, whose access tokens are refused.
    #[serde(default)]
    pub revoked_sessions: Vec<String>,
    /// The API's custom domains whose ownership is verified: each serves the API exactly as
    /// its app host does.
    #[serde(default)]
    pub domains: Vec<DomainConfig>,
}

/// A custom domain of an API, as a data plane serves it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DomainConfig {
    /// Lowercase ASCII host name (an internationalised name in its `xn--` form), such as
    /// `login.example.com`.
    pub name: String,
    /// Pending ACME HTTP-01 challenges, answered at `/.well-known/acme-challenge/<token>` on
    /// the domain (RFC 8555 §8.3).
    #[serde(default)]
    pub challenges: Vec<AcmeChallenge>,
    /// The certificate served for the name by SNI; absent until one is issued.
    #[serde(default)]
    pub certificate: Option<CertificateConfig>,
}

/// One pending ACME HTTP-01 challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AcmeChallenge {
    /// The token in the challenge URL.
    pub token: String,
    /// The body to answer: the key authorisation (token and account key thumbprint).
    pub key_authorization: String,
}

/// A certificate and its private key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateConfig {
    /// The certificate chain, leaf first, as PEM.
    pub chain_pem: String,
    /// The private key, as PEM.
    #[schema(value_type = String)]
    pub key_pem: SecretString,
    /// When the leaf certificate expires.
    pub expires_at: UnixTime,
}

/// A public OAuth client of an API: no secret, so PKCE binds each authorization code to the
/// app instance that asked for it (RFC 7636, RFC 8252).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientConfig {
    /// The `client_id` the app sends.
    pub client_id: String,
    /// Shown to people where the app is named.
    pub name: String,
    /// The redirect URIs the app may name, compared exactly, except that a loopback one
    /// (`http://127.0.0.1/...`, `http://[::1]/...`, `http://localhost/...`) matches any port
    /// (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
}

/// How requests that are not platform endpoints are authorised and forwarded, and how the
/// hosted login page looks and where it may return to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebConfig {
    /// Base URL of the customer's backend: `/api/<path>` on the app host and `/<api>/<path>`
    /// on the regional host are forwarded to `<upstream>/<path>`. `None`: such paths are 404.
    #[serde(default)]
    pub upstream: Option<String>,
    /// Base URL of the customer's web app: requests on the app host outside `/api`, `/login`
    /// and the platform's own paths are forwarded there with their path unchanged.
    #[serde(default)]
    pub web_upstream: Option<String>,
    /// Who may call which part of the upstream. No matching rule: refused.
    #[serde(default)]
    pub access_rules: Vec<AccessRule>,
    /// Origins (`https://app.example.com`) allowed to call the API from a browser.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Origins the login page may return the browser to with `?redirect=`, besides the host it
    /// is served on.
    #[serde(default)]
    pub redirect_origins: Vec<String>,
    /// How the hosted login page looks.
    #[serde(default)]
    pub branding: Branding,
}

/// One access rule: callers holding `role` may use `methods` on paths under `path`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessRule {
    /// A role of the API, or a built-in role: `_EVERYONE` (anyone, signed in or not),
    /// `_AUTHENTICATED_USER` (any signed-in caller) or `_CREATOR` (any signed-in caller; the
    /// upstream checks ownership of the record).
    #[schema(example = "reader")]
    pub role: String,
    /// Uppercase HTTP methods, or `["*"]` for all.
    #[schema(example = json!(["GET", "HEAD"]))]
    pub methods: Vec<String>,
    /// A path prefix relative to the API base, matched whole segments at a time: `/products`
    /// matches `/products` and `/products/7`, not `/productsx`. `/` matches everything.
    #[schema(example = "/products")]
    pub path: String,
}

/// The look of the hosted login page; absent values take the platform's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Branding {
    /// The name shown on the page; the API's name when absent.
    #[serde(default)]
    pub display_name: Option<String>,
    /// An `https` URL of a logo image.
    #[serde(default)]
    pub logo_url: Option<String>,
    /// Colour of buttons and links, `#rrggbb`.
    #[serde(default)]
    pub primary_color: Option<String>,
    /// Colour of the page behind the sign-in card, `#rrggbb`.
    #[serde(default)]
    pub background_color: Option<String>,
}

/// The kinds of identity provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Microsoft Entra ID: personal and work accounts, or one organisation's tenant.
    Microsoft,
    /// Google accounts.
    Google,
    /// Sign in with Apple.
    Apple,
    /// Facebook Login (OAuth 2.0 and the Graph API).
    Facebook,
    /// Any OpenID Connect provider with discovery.
    Oidc,
    /// Vipps Login (OpenID Connect with its userinfo endpoint).
    Vipps,
    /// Passkeys (WebAuthn) made on the login page itself: no external provider, no client.
    Passkey,
}

impl ProviderKind {
    /// The kind as written in the admin API and as the `authority` of linked identities.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Microsoft => "microsoft",
            Self::Google => "google",
            Self::Apple => "apple",
            Self::Facebook => "facebook",
            Self::Oidc => "oidc",
            Self::Vipps => "vipps",
            Self::Passkey => "passkey",
        }
    }
}

/// An identity provider of an API, with its secrets: pushed only to the API's region.
///
/// Endpoints are resolved by the data plane: an explicit endpoint here wins, else the one
/// from the discovery document of `issuer`, else the kind's well-known default. The control
/// plane fills `issuer` for every kind that has one (Microsoft's from `tenant`), so the data
/// plane never guesses.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfig {
    /// Identifier (`idp_...`), part of the callback URL.
    pub id: String,
    /// Which provider this is.
    pub kind: ProviderKind,
    /// The label of its button on the login page.
    pub display_name: String,
    /// Whether the login page offers it.
    pub enabled: bool,
    /// Whether a first sign-in creates a user that does not exist yet.
    pub auto_create: bool,
    /// The client id registered at the provider (Apple: the Services ID).
    pub client_id: String,
    /// The client secret registered at the provider; Apple has none (see `private_key`).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub client_secret: Option<SecretString>,
    /// Scopes asked for; the kind's defaults when empty.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The issuer, whose discovery document names the endpoints. Microsoft's may contain
    /// `{tenantid}`, checked against the token's `tid`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Microsoft: `common`, `organizations`, `consumers` or one tenant id.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Apple: the team id, issuer of the client secrets we mint.
    #[serde(default)]
    pub team_id: Option<String>,
    /// Apple: the id of the private key.
    #[serde(default)]
    pub key_id: Option<String>,
    /// Apple: the PKCS#8 PEM private key (P-256) that signs the minted client secrets.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub private_key: Option<SecretString>,
    /// Overrides of the provider's endpoints.
    #[serde(default)]
    pub endpoints: ProviderEndpoints,
}

/// Endpoints of an identity provider that override discovery and the kind's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderEndpoints {
    /// The authorization endpoint the browser is sent to.
    #[serde(default)]
    pub authorization: Option<String>,
    /// The token endpoint the code is exchanged at.
    #[serde(default)]
    pub token: Option<String>,
    /// The userinfo endpoint (Facebook: the Graph API's `/me`).
    #[serde(default)]
    pub userinfo: Option<String>,
    /// The JWKS that signs ID tokens.
    #[serde(default)]
    pub jwks: Option<String>,
}

/// A signing key of an API.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKeyConfig {
    /// The key identifier (`kid`).
    pub kid: String,
    /// The PKCS#8 private key.
    #[schema(value_type = String)]
    pub private_key: SecretBytes,
    /// The public key.
    pub public_key: PublicKey,
    /// From when the key signs; before that it is only published.
    pub sign_from: UnixTime,
    /// When the key stops being published; `None` while it is current.
    pub retire_at: Option<UnixTime>,
}

impl SigningKeyConfig {
    /// Whether the key belongs in the JWKS at `now`.
    pub fn is_published(&self, now: UnixTime) -> bool {
        self.retire_at.is_none_or(|retire_at| now < retire_at)
    }
}

/// A service account of an API.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountConfig {
    /// The service account's identifier, the `sub` of its tokens.
    pub id: String,
    /// The OAuth client identifier.
    pub client_id: String,
    /// Display name, the `name` of its tokens.
    pub name: String,
    /// Roles, the `roles` of its tokens.
    pub roles: Vec<String>,
    /// Whether the account may obtain tokens at all.
    pub enabled: bool,
    /// Its secrets, as digests.
    pub secrets: Vec<ClientSecretConfig>,
}

/// One secret of a service account.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSecretConfig {
    /// The secret's identifier.
    pub id: String,
    /// SHA-256 digest of the secret.
    #[schema(value_type = String)]
    pub digest: SecretDigest,
    /// Whether the secret is accepted.
    pub enabled: bool,
    /// When the secret stops being accepted.
    pub expires_at: UnixTime,
}

impl ClientSecretConfig {
    /// Whether the secret is accepted at `now`.
    pub fn is_usable(&self, now: UnixTime) -> bool {
        self.enabled && now < self.expires_at
    }
}
