//! Requests that are not platform endpoints: authorised by the API's access rules and
//! forwarded to its upstream or web app.

use axum::body::Body;
use axum::http::StatusCode;
use axum::response::Response;

use super::{EndpointCall, error};

/// Not built yet.
pub(super) async fn forward_api(_call: EndpointCall<'_>, _body: Body) -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// Not built yet.
pub(super) async fn forward_web(_call: EndpointCall<'_>, _body: Body) -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
