//! The HTTP surface: thin handlers over the store, one error mapping, one router.

mod admin;
mod auth;
mod error;
mod extract;
mod health;
mod node;
mod operator_tokens;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, Response};
use restapi_shared::Clock;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::metrics::{self, Metrics};
use crate::store::Store;

pub use error::HttpError;
pub use extract::BODY_LIMIT;

/// Header carrying the request id, set when the client sent none and echoed in the response.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The time source.
    pub clock: Clock,
    /// How long a new signing key is published before it signs, in seconds.
    pub signing_key_publish_delay: i64,
    /// The counters served at `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The public scheme and app domain, for identity providers' callback URLs.
    pub login_urls: crate::store::LoginUrls,
    /// Checks custom domains' DNS.
    pub domains: crate::domain_verification::DomainVerifier,
}

/// The whole router: admin API, node API, health, OpenAPI document and its UI.
pub fn router(state: AppState) -> Router {
    let counted = Arc::clone(&state.metrics);
    let (routes, openapi) = routes().split_for_parts();
    routes
        .with_state(state)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi))
        .fallback(|| async { HttpError::NoRoute })
        .method_not_allowed_fallback(|| async { HttpError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::map_response(
            restapi_data_plane::close_after_payload_too_large,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(
                    move |response: &Response<Body>, latency: Duration, span: &Span| {
                        counted.response(response.status());
                        span.record("status", response.status().as_u16());
                        tracing::debug!(latency_ms = latency.as_millis() as u64, "answered");
                    },
                ),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The OpenAPI document of every endpoint.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::base_document())
        .merge(admin::routes())
        .merge(operator_tokens::routes())
        .merge(node::routes())
        .merge(health::routes())
        .merge(metrics::routes())
}

/// One span per request; the region (node API) and the status are filled in when known.
fn request_span(request: &Request<Body>) -> Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        path = request.uri().path(),
        region = tracing::field::Empty,
        status = tracing::field::Empty,
    )
}
