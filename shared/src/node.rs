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

/// Path where a passkey just created in a browser is stored, for a new or a signed-in user.
pub const PASSKEY_REGISTER_PATH: &str = "/node/v1/passkeys/register";
/// Path where the passkey a browser signed with is looked up by its credential id.
pub const PASSKEY_LOOKUP_PATH: &str = "/node/v1/passkeys/lookup";
/// Path where a verified passkey sign-in is recorded and its user resolved.
pub const PASSKEY_SIGN_IN_PATH: &str = "/node/v1/passkeys/sign-in";
/// Path where a user's passkeys are listed.
pub const PASSKEY_LIST_PATH: &str = "/node/v1/passkeys/list";
/// Path where a user removes one of their passkeys.
pub const PASSKEY_REMOVE_PATH: &str = "/node/v1/passkeys/remove";
/// The `authority` of the identity that carries a user's WebAuthn user handle.
pub const PASSKEY_AUTHORITY: &str = "passkey";

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

/// Who a new passkey is for.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum PasskeyOwner {
    /// A person signing up with the passkey: a new user, made like one created at a first
    /// sign-in (the API's default roles), if the provider creates users.
    #[serde(rename_all = "camelCase")]
    SignUp {
        /// The name the person gave.
        name: String,
        /// The address the person gave; not verified, so it links no pre-registered user.
        #[serde(default)]
        email: Option<String>,
        /// Whether the passkey provider creates users.
        auto_create: bool,
    },
    /// A user who signed in recently and adds a passkey to their account.
    #[serde(rename_all = "camelCase")]
    Existing {
        /// The user's id.
        user_id: String,
    },
}

/// A passkey the browser has just created and the data plane has verified.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRegisterRequest {
    /// The API; it must be in the node's region.
    pub api_id: String,
    /// Who the passkey is for.
    pub owner: PasskeyOwner,
    /// The WebAuthn user handle the credential was created with, base64url.
    pub user_handle: String,
    /// The credential's id, base64url: unique within the API.
    pub credential_id: String,
    /// The credential as the data plane's WebAuthn library keeps it (public key, counter,
    /// flags). Public data: it holds no secret.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// A label for the user's list of passkeys.
    pub name: String,
    /// The authenticator's signature counter at creation.
    pub sign_count: u32,
    /// Whether the credential may be synchronised to other devices.
    pub backup_eligible: bool,
    /// Whether it is backed up (synchronised) now.
    pub backup_state: bool,
}

/// What storing a new passkey came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PasskeyRegisterOutcome {
    /// Stored; for a sign-up, the user was created.
    Registered,
    /// A sign-up where the provider creates no users: nothing was written.
    NotRegistered,
    /// The user is disabled: nothing was written.
    Disabled,
    /// The user does not exist (any more): nothing was written.
    UnknownUser,
    /// The credential is registered already: nothing was written.
    CredentialTaken,
    /// The user handle is another user's: nothing was written.
    HandleMismatch,
}

/// Answer to [`PasskeyRegisterRequest`].
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRegisterResponse {
    /// What happened.
    pub outcome: PasskeyRegisterOutcome,
    /// The user, when registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ResolvedUser>,
    /// The passkey's id (`pk_...`), when registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey_id: Option<String>,
}

/// Asks for the passkey with a credential id, to verify an assertion made with it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyLookupRequest {
    /// The API; it must be in the node's region.
    pub api_id: String,
    /// The credential id the browser sent, base64url.
    pub credential_id: String,
}

/// A stored passkey, as the data plane verifies an assertion against it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredPasskey {
    /// The passkey's id (`pk_...`).
    pub id: String,
    /// Its user's id.
    pub user_id: String,
    /// The user handle it was created with, base64url.
    pub user_handle: String,
    /// The credential as stored (see [`PasskeyRegisterRequest::credential`]).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Answer to [`PasskeyLookupRequest`].
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyLookupResponse {
    /// The passkey, if the API has one with this credential id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<StoredPasskey>,
}

/// A verified passkey sign-in, to record before the user is signed in.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeySignInRequest {
    /// The API; it must be in the node's region.
    pub api_id: String,
    /// The passkey that signed.
    pub passkey_id: String,
    /// The challenge's random id: a challenge serves one sign-in only.
    pub challenge_id: String,
    /// When the challenge expires; its record may be forgotten after that.
    pub challenge_expires_at: UnixTime,
    /// The credential updated with this sign-in's counter and flags.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// The signature counter the authenticator reported.
    pub sign_count: u32,
    /// Whether the credential is backed up now.
    pub backup_state: bool,
}

/// What recording a passkey sign-in came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum PasskeySignInOutcome {
    /// Recorded: the user may sign in.
    SignedIn,
    /// The user is disabled.
    Disabled,
    /// The passkey was removed meanwhile.
    UnknownPasskey,
    /// The challenge was used before: a replayed assertion.
    ChallengeUsed,
    /// The counter did not grow: the authenticator may have been cloned.
    CounterRegressed,
}

/// Answer to [`PasskeySignInRequest`].
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeySignInResponse {
    /// What happened.
    pub outcome: PasskeySignInOutcome,
    /// The user, when signed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<ResolvedUser>,
}

/// Asks for a user's passkeys.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyListRequest {
    /// The API; it must be in the node's region.
    pub api_id: String,
    /// The user.
    pub user_id: String,
}

/// One of a user's passkeys, without its key material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeySummary {
    /// Identifier (`pk_...`).
    pub id: String,
    /// The label shown to the user.
    pub name: String,
    /// The credential's id, base64url: excluded when the user adds another passkey.
    pub credential_id: String,
    /// Whether the credential may be synchronised to other devices.
    pub backup_eligible: bool,
    /// Whether it was backed up at its last use.
    pub backup_state: bool,
    /// When it was added.
    pub created_at: UnixTime,
    /// When it last signed in, if ever.
    #[serde(default)]
    pub last_used_at: Option<UnixTime>,
}

/// Answer to [`PasskeyListRequest`].
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyListResponse {
    /// Whether the user exists and is not disabled; when false the list is empty.
    pub active: bool,
    /// The user's WebAuthn user handle, base64url, if they have one yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_handle: Option<String>,
    /// The user's passkeys, oldest first.
    pub passkeys: Vec<PasskeySummary>,
}

/// A user removes one of their passkeys.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRemoveRequest {
    /// The API; it must be in the node's region.
    pub api_id: String,
    /// The user, who must own the passkey.
    pub user_id: String,
    /// The passkey (`pk_...`).
    pub passkey_id: String,
}

/// Answer to [`PasskeyRemoveRequest`].
#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRemoveResponse {
    /// Whether a passkey of the user was removed.
    pub removed: bool,
    /// The passkey was kept: it is the user's only way to sign in (no other passkey, no
    /// identity at another provider).
    #[serde(default)]
    pub only_way_in: bool,
}
