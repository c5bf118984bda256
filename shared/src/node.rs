//! The node API: what a data plane asks of the control plane.
//!
//! Every call is authenticated with the node's bearer credential, which belongs to exactly one
//! region; the control plane refuses anything about another region's APIs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::UnixTime;

/// Path of the region snapshot.
pub const SNAPSHOT_PATH: &str = "/node/v1/snapshot";
/// Path of the change feed (long poll).
pub const CHANGES_PATH: &str = "/node/v1/changes";
/// Path where a refresh token is redeemed before it is rotated.
pub const REDEEM_REFRESH_PATH: &str = "/node/v1/refresh-tokens/redeem";
/// Path where a refresh family is revoked, when a browser session signs out.
pub const REVOKE_REFRESH_PATH: &str = "/node/v1/refresh-tokens/revoke";
/// How long after its first redemption a refresh token may be redeemed again without
/// revoking its family: the answer to the first redemption may have been lost on the way
/// back to the browser, which then retries with the token it still holds.
pub const REFRESH_REUSE_GRACE_SECONDS: i64 = 30;
/// Path where a refresh token's state is read, for introspection.
pub const REFRESH_STATUS_PATH: &str = "/node/v1/refresh-tokens/status";
/// Path where a signed-in external identity is resolved to a user of an API.
pub const RESOLVE_USER_PATH: &str = "/node/v1/users/resolve";

/// Header naming the region a data plane serves.
pub const REGION_HEADER: &str = "restapi-region";
/// Header naming one data plane process, stable for its lifetime.
pub const INSTANCE_HEADER: &str = "restapi-node-instance";
/// Header carrying the revision a data plane serves.
pub const REVISION_HEADER: &str = "restapi-node-revision";

/// How long the control plane holds a change request open when nothing changes.
pub const LONG_POLL_SECONDS: u64 = 25;

/// Query of the change feed.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangesQuery {
    /// The revision the data plane holds; changes after it are returned.
    pub after: i64,
    /// How long to wait for a change before answering with none, in seconds.
    #[serde(default)]
    pub wait_seconds: Option<u64>,
}

/// A refresh token about to be rotated.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedeemRefreshRequest {
    /// The API the token belongs to.
    pub api_id: String,
    /// The token's identifier.
    pub token_id: String,
    /// The token's family.
    pub family: String,
    /// When the family ends; the record of its use can be forgotten after that.
    pub expires_at: UnixTime,
    /// For a browser session's token: the user it belongs to, whose current name, address
    /// and roles the answer carries, so that the next access token reflects them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Single use without exception: a repeat is reuse even within the grace window. For
    /// authorization codes, which are redeemed by the app that holds them and never retried.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
}

/// A refresh family to end at once: the browser session it belongs to signed out.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevokeRefreshRequest {
    /// The API the family belongs to.
    pub api_id: String,
    /// The family.
    pub family: String,
}

/// Asks whether a refresh token was redeemed already, and whether its family is revoked.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshStatusRequest {
    /// The API the token belongs to.
    pub api_id: String,
    /// The token's `jti`.
    pub token_id: String,
    /// Its family.
    pub family: String,
}

/// Answer to [`RefreshStatusRequest`]: a token is usable when neither is true.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshStatusResponse {
    /// The token was redeemed: a newer one replaced it.
    pub used: bool,
    /// The family was revoked: signed out, revoked, or a token reused.
    pub revoked: bool,
}

/// The outcome of redeeming a refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedeemOutcome {
    /// First use, or a repeated use within [`REFRESH_REUSE_GRACE_SECONDS`] of the first: the
    /// data plane may issue the next token of the family.
    Redeemed,
    /// The token was used before, longer ago than the grace window: the family is now revoked.
    Reused,
    /// The family was revoked earlier.
    Revoked,
}

/// Answer to [`RedeemRefreshRequest`].
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedeemRefreshResponse {
    /// What happened.
    pub outcome: RedeemOutcome,
    /// When `userId` was given and the token redeemed: the user, if they still exist and are
    /// not disabled. Absent otherwise, and then the session must end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ResolvedUser>,
}

/// An external identity that has just signed in at an identity provider, to be resolved to a
/// user of an API.
///
/// The control plane answers, in one transaction: the user this identity is linked to; else a
/// user pre-registered with the same address, when the provider vouches for it
/// (`email_verified`) and that user has no identity of this authority yet, which is then
/// linked; else, when `auto_create` is set, a new user with the API's default roles, linked;
/// else [`ResolveOutcome::NotRegistered`].
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolveUserRequest {
    /// The API signed in to; it must be in the node's region.
    pub api_id: String,
    /// The identity provider: its kind (`google`, `microsoft`, ...) or a provider's id.
    pub authority: String,
    /// The provider's stable identifier of the person (`sub` of OpenID Connect).
    pub subject: String,
    /// The email address the provider gave, if any.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the provider has verified that the person controls `email`. Only a verified
    /// address links a pre-registered user.
    #[serde(default)]
    pub email_verified: bool,
    /// The display name the provider gave, if any.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether this provider creates users that do not exist yet.
    #[serde(default)]
    pub auto_create: bool,
}

/// What resolving an external identity came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum ResolveOutcome {
    /// The identity belongs to a user, who may sign in.
    SignedIn,
    /// No user matches and the provider does not create users: nothing was written.
    NotRegistered,
    /// The identity belongs to a user who is disabled.
    Disabled,
}

/// A user as a data plane needs it to issue tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedUser {
    /// The user's identifier, the `sub` of their tokens.
    pub id: String,
    /// Display name, the `name` of their tokens.
    pub name: String,
    /// Email address, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Roles in the API.
    pub roles: Vec<String>,
    /// What the operator keeps about the user.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// Answer to [`ResolveUserRequest`].
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolveUserResponse {
    /// What happened.
    pub outcome: ResolveOutcome,
    /// The user, when [`ResolveOutcome::SignedIn`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ResolvedUser>,
}
