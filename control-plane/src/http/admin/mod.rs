//! The admin API under `/v1`, authenticated by an operator bearer token.
//!
//! Every handler unpacks its extractors (the operator check runs before the body is read),
//! calls one store function and maps the result.

mod apis;
mod clients;
mod data_planes;
mod domains;
mod node_credentials;
mod providers;
mod regions;
mod service_accounts;
mod signing_keys;
mod users;

use utoipa_axum::router::OpenApiRouter;

use super::AppState;

/// Every admin route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(regions::routes())
        .merge(apis::routes())
        .merge(signing_keys::routes())
        .merge(service_accounts::routes())
        .merge(users::routes())
        .merge(providers::routes())
        .merge(clients::routes())
        .merge(domains::routes())
        .merge(node_credentials::routes())
        .merge(data_planes::routes())
}
