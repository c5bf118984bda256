//! The hosted login page and the sign-in flows of its identity providers.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::{EndpointCall, error};

/// Not built yet.
pub(super) async fn login(_call: EndpointCall<'_>, _body: Body) -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
