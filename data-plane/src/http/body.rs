//! Reading request bodies with a size limit, and recognising their media type.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http_body_util::LengthLimitError;

/// The largest body the platform endpoints accept.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Larger than [`BODY_LIMIT`].
    TooLarge,
    /// The client stopped sending, or the connection failed.
    Unreadable,
}

/// The media types the token endpoints understand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MediaType {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// Reads the whole body, refusing more than [`BODY_LIMIT`] bytes.
pub(crate) async fn read_limited(headers: &HeaderMap, body: Body) -> Result<Bytes, BodyError> {
    // A declared length over the limit is refused before reading anything.
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > BODY_LIMIT as u64) {
        return Err(BodyError::TooLarge);
    }
    axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|error| {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<LengthLimitError>());
            if too_large {
                BodyError::TooLarge
            } else {
                BodyError::Unreadable
            }
        })
}

/// The body's media type, ignoring parameters such as `charset`.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<MediaType> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Some(MediaType::Json)
    } else if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(MediaType::Form)
    } else {
        None
    }
}
