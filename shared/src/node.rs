//! The node API: what a data plane asks of the control plane.
//!
//! Every call is authenticated with the node's bearer credential, which belongs to exactly one
//! region; the control plane refuses anything about another region's APIs.

use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;

/// Path of the region snapshot.
pub const SNAPSHOT_PATH: &str = "/node/v1/snapshot";
/// Path of the change feed (long poll).
pub const CHANGES_PATH: &str = "/node/v1/changes";
/// Path where a refresh token is redeemed before it is rotated.
pub const REDEEM_REFRESH_PATH: &str = "/node/v1/refresh-tokens/redeem";

/// Header naming the region a data plane serves.
pub const REGION_HEADER: &str = "restapi-region";
/// Header naming one data plane process, stable for its lifetime.
pub const INSTANCE_HEADER: &str = "restapi-node-instance";
/// Header carrying the revision a data plane serves.
pub const REVISION_HEADER: &str = "restapi-node-revision";

/// How long the control plane holds a change request open when nothing changes.
pub const LONG_POLL_SECONDS: u64 = 25;

/// Query of the change feed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangesQuery {
    /// The revision the data plane holds; changes after it are returned.
    pub after: i64,
    /// How long to wait for a change before answering with none, in seconds.
    #[serde(default)]
    pub wait_seconds: Option<u64>,
}

/// A refresh token about to be rotated.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
}

/// The outcome of redeeming a refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedeemOutcome {
    /// First use: the data plane may issue the next token of the family.
    Redeemed,
    /// The token was used before: the family is now revoked.
    Reused,
    /// The family was revoked earlier.
    Revoked,
}

/// Answer to [`RedeemRefreshRequest`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedeemRefreshResponse {
    /// What happened.
    pub outcome: RedeemOutcome,
}
