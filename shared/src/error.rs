//! Error bodies as clients see them.
//!
//! Two shapes exist. OAuth endpoints answer RFC 6749 §5.2 bodies (`error`,
//! `error_description`) because OAuth libraries parse exactly that. Every other endpoint
//! answers [`ErrorBody`]: a stable, machine-readable `error` code and a short message for
//! people. Neither ever carries internal error text.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The error body of every non-OAuth endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code such as `not_found` or `invalid_body`, safe to match on.
    #[schema(example = "not_found")]
    pub error: String,
    /// A short explanation for people; may change between versions.
    #[schema(example = "no API named 'shop'")]
    pub message: String,
}

impl ErrorBody {
    /// An error body with `code` and `message`.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: code.to_owned(),
            message: message.into(),
        }
    }
}

/// The error codes of RFC 6749 §5.2 (and §4.1.2.1) that this platform answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant (refresh token, code) is invalid, expired, revoked or reused.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The requested scope is invalid.
    InvalidScope,
    /// The server cannot handle the request right now; try again later.
    TemporarilyUnavailable,
    /// An unexpected condition prevented the server from answering.
    ServerError,
}

/// The error body of OAuth endpoints (RFC 6749 §5.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OAuthErrorBody {
    /// The RFC 6749 error code.
    pub error: OAuthErrorCode,
    /// A short explanation for developers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}
