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
use crate::secret::{SecretBytes, SecretDigest};
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
