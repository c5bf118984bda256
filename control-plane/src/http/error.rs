//! The HTTP layer's errors and their one mapping to status codes and JSON bodies.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use restapi_shared::error::ErrorBody;

use crate::store::StoreError;

/// Everything a request of the admin or node API can fail with.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No bearer token, or not a valid one.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// The node's region header does not name its credential's region.
    #[error("the credential belongs to another region")]
    WrongRegionHeader,
    /// The body is not the JSON the endpoint expects.
    #[error("{0}")]
    InvalidBody(String),
    /// A query parameter or header is missing or malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The body exceeds the limit.
    #[error("request body is larger than 1 MiB")]
    PayloadTooLarge,
    /// The body is not declared as JSON.
    #[error("request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// No route matches the path.
    #[error("no such endpoint")]
    NoRoute,
    /// The route exists, but not for this method.
    #[error("method not allowed on this endpoint")]
    MethodNotAllowed,
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Self::Store(error) => match error {
                StoreError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                StoreError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
                StoreError::InvalidName(_) => (StatusCode::BAD_REQUEST, "invalid_name"),
                StoreError::InvalidField(_) => (StatusCode::BAD_REQUEST, "invalid_field"),
                StoreError::RevisionGone(_) => (StatusCode::GONE, "revision_gone"),
                StoreError::WrongRegion => (StatusCode::FORBIDDEN, "wrong_region"),
                StoreError::Undecryptable | StoreError::Corrupt(_) | StoreError::Database(_) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal_error")
                }
            },
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::WrongRegionHeader => (StatusCode::FORBIDDEN, "wrong_region"),
            Self::InvalidBody(_) => (StatusCode::BAD_REQUEST, "invalid_body"),
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            Self::NoRoute => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        };

        // Internal failures are logged in full and answered with a fixed message.
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
            "internal error; see the control plane's log".to_owned()
        } else {
            self.to_string()
        };
        let mut response = (status, axum::Json(ErrorBody::new(code, message))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: tell the client which scheme to use.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: HttpError) -> (StatusCode, ErrorBody, Option<HeaderValue>) {
        let response = error.into_response();
        let status = response.status();
        let challenge = response.headers().get(header::WWW_AUTHENTICATE).cloned();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap(), challenge)
    }

    #[tokio::test]
    async fn store_errors_map_to_stable_codes() {
        let cases = [
            (
                StoreError::NotFound("no API named 'x'".into()),
                404,
                "not_found",
            ),
            (StoreError::Conflict("taken".into()), 409, "conflict"),
            (
                StoreError::InvalidName("reserved".into()),
                400,
                "invalid_name",
            ),
            (StoreError::InvalidField("bad".into()), 400, "invalid_field"),
            (StoreError::RevisionGone(3), 410, "revision_gone"),
            (StoreError::WrongRegion, 403, "wrong_region"),
        ];
        for (error, status, code) in cases {
            let (actual_status, body, _) = body_of(HttpError::Store(error)).await;
            assert_eq!(actual_status.as_u16(), status);
            assert_eq!(body.error, code);
        }
    }

    #[tokio::test]
    async fn internal_errors_hide_their_text() {
        let error = StoreError::Database(sqlx::Error::Protocol("secret SQL detail".into()));
        let (status, body, _) = body_of(HttpError::Store(error)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body.error, "internal_error");
        assert!(!body.message.contains("secret SQL detail"));
    }

    #[tokio::test]
    async fn unauthorized_carries_a_bearer_challenge() {
        let (status, body, challenge) = body_of(HttpError::Unauthorized).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body.error, "unauthorized");
        assert_eq!(challenge.unwrap(), "Bearer");
    }

    #[tokio::test]
    async fn body_problems_have_their_own_codes() {
        assert_eq!(
            body_of(HttpError::PayloadTooLarge).await.1.error,
            "payload_too_large"
        );
        assert_eq!(
            body_of(HttpError::UnsupportedMediaType).await.0.as_u16(),
            415
        );
        assert_eq!(
            body_of(HttpError::InvalidBody("x".into())).await.1.error,
            "invalid_body"
        );
    }
}
