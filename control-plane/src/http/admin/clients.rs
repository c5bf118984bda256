//! `/v1/apis/{api}/clients`: the public OAuth clients of an API, native apps and single-page
//! apps that sign people in through the hosted login page with PKCE.
//!
//! Public clients have no secret, so nothing here is ever hidden. Every write reaches the API's
//! data planes within a second.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use restapi_shared::error::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::auth::Operator;
use crate::http::error::HttpError;
use crate::http::extract::JsonBody;
use crate::store::{NewPublicClient, PublicClient, PublicClientChanges};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_client, list_clients))
        .routes(routes!(get_client, update_client, delete_client))
}

/// Register a public client; the answer's `clientId` is what the app sends.
///
/// Redirect URIs follow RFC 8252: `https://host[:port]/path`, loopback `http://127.0.0.1`,
/// `http://[::1]` or `http://localhost` (any port matches at sign-in), or a private-use scheme
/// in reverse-domain form such as `com.example.app:/callback`.
#[utoipa::path(post, path = "/v1/apis/{api}/clients", tag = "clients",
    request_body = NewPublicClient, security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 201, description = "The client", body = PublicClient),
        (status = 400, description = "invalid_body or invalid_field, naming the field",
            body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn create_client(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
    JsonBody(new): JsonBody<NewPublicClient>,
) -> Result<(StatusCode, Json<PublicClient>), HttpError> {
    let client = state
        .store
        .create_public_client(&api, &new, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(client)))
}

/// List the API's public clients in the order they were registered.
#[utoipa::path(get, path = "/v1/apis/{api}/clients", tag = "clients",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 200, description = "The clients", body = Vec<PublicClient>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ))]
async fn list_clients(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
) -> Result<Json<Vec<PublicClient>>, HttpError> {
    Ok(Json(state.store.list_public_clients(&api).await?))
}

/// Get a public client.
#[utoipa::path(get, path = "/v1/apis/{api}/clients/{id}", tag = "clients",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Client id in the admin API (`pcl_...`)")),
    responses(
        (status = 200, description = "The client", body = PublicClient),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or client", body = ErrorBody),
    ))]
async fn get_client(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
) -> Result<Json<PublicClient>, HttpError> {
    Ok(Json(state.store.public_client(&api, &id).await?))
}

/// Rename a public client or replace its redirect URIs; absent fields stay. Its `clientId`
/// never changes.
#[utoipa::path(patch, path = "/v1/apis/{api}/clients/{id}", tag = "clients",
    request_body = PublicClientChanges, security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Client id in the admin API (`pcl_...`)")),
    responses(
        (status = 200, description = "The changed client", body = PublicClient),
        (status = 400, description = "invalid_body or invalid_field, naming the field",
            body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or client", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn update_client(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
    JsonBody(changes): JsonBody<PublicClientChanges>,
) -> Result<Json<PublicClient>, HttpError> {
    let now = state.clock.now();
    Ok(Json(
        state
            .store
            .update_public_client(&api, &id, &changes, now)
            .await?,
    ))
}

/// Delete a public client; the data planes refuse its authorization requests from then on.
#[utoipa::path(delete, path = "/v1/apis/{api}/clients/{id}", tag = "clients",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Client id in the admin API (`pcl_...`)")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or client", body = ErrorBody),
    ))]
async fn delete_client(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    state
        .store
        .delete_public_client(&api, &id, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
