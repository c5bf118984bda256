//! `/v1/node-credentials`: the credentials data planes call the node API with.

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
use crate::store::{CreatedNodeCredential, NewNodeCredential, NodeCredential};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_node_credential, list_node_credentials))
        .routes(routes!(delete_node_credential))
}

/// Create a credential for one region's data planes; its token is returned this once.
#[utoipa::path(post, path = "/v1/node-credentials", tag = "node-credentials",
    request_body = NewNodeCredential, security(("operator_token" = [])),
    responses(
        (status = 201, description = "The credential, with `token`", body = CreatedNodeCredential),
        (status = 400, description = "invalid_body or invalid_field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn create_node_credential(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewNodeCredential>,
) -> Result<(StatusCode, Json<CreatedNodeCredential>), HttpError> {
    let created = state
        .store
        .create_node_credential(&new, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List node credentials (never their tokens).
#[utoipa::path(get, path = "/v1/node-credentials", tag = "node-credentials",
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "Every credential", body = Vec<NodeCredential>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
    ))]
async fn list_node_credentials(
    _: Operator,
    State(state): State<AppState>,
) -> Result<Json<Vec<NodeCredential>>, HttpError> {
    Ok(Json(state.store.list_node_credentials().await?))
}

/// Delete a credential; data planes using it are refused from their next call.
#[utoipa::path(delete, path = "/v1/node-credentials/{id}", tag = "node-credentials",
    security(("operator_token" = [])),
    params(("id" = String, Path, description = "Credential id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such credential", body = ErrorBody),
    ))]
async fn delete_node_credential(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    state.store.delete_node_credential(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
