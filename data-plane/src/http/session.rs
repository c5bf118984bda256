//! The browser session's own endpoints: `_refresh` and `_logout`.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::{EndpointCall, error};

/// Not built yet.
pub(super) async fn refresh(_call: EndpointCall<'_>, _body: Body) -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Not built yet.
pub(super) async fn logout(_call: EndpointCall<'_>, _body: Body) -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
