//! `/v1/apis`: the tenants' APIs.

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
use crate::store::{Api, ApiChanges, NewApi};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_api, list_apis))
        .routes(routes!(get_api, update_api, delete_api))
}

/// Create an API, with its first signing key.
///
/// The name is a lowercase DNS label (a-z, 0-9, '-', 1 to 63 characters, no leading or
/// trailing '-'), neither reserved by the platform nor the name of a region.
#[utoipa::path(post, path = "/v1/apis", tag = "apis", request_body = NewApi,
    security(("operator_token" = [])),
    responses(
        (status = 201, description = "The API", body = Api),
        (status = 400, description = "Bad body, name or field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn create_api(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewApi>,
) -> Result<(StatusCode, Json<Api>), HttpError> {
    let api = state.store.create_api(&new, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(api)))
}

/// List APIs.
#[utoipa::path(get, path = "/v1/apis", tag = "apis", security(("operator_token" = [])),
    responses(
        (status = 200, description = "Every API", body = Vec<Api>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
    ))]
async fn list_apis(
    _: Operator,
    State(state): State<AppState>,
) -> Result<Json<Vec<Api>>, HttpError> {
    Ok(Json(state.store.list_apis().await?))
}

/// Get an API by name.
#[utoipa::path(get, path = "/v1/apis/{api}", tag = "apis", security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 200, description = "The API", body = Api),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ))]
async fn get_api(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
) -> Result<Json<Api>, HttpError> {
    Ok(Json(state.store.api(&api).await?))
}

/// Change an API: name, region, description, roles, claims or web settings.
///
/// Lists replace the old ones entirely; `null` clears `upstream`, `webUpstream` and `branding`.
/// Removing a role still held by a service account or user, or named by an access rule that
/// this change keeps, is refused.
#[utoipa::path(patch, path = "/v1/apis/{api}", tag = "apis", request_body = ApiChanges,
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 200, description = "The changed API", body = Api),
        (status = 400, description = "Bad body, name or field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
        (status = 409, description = "Name taken, or a removed role still held or used by an \
            access rule", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn update_api(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
    JsonBody(changes): JsonBody<ApiChanges>,
) -> Result<Json<Api>, HttpError> {
    Ok(Json(
        state
            .store
            .update_api(&api, &changes, state.clock.now())
            .await?,
    ))
}

/// Delete an API with its keys, service accounts and secrets.
#[utoipa::path(delete, path = "/v1/apis/{api}", tag = "apis", security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ))]
async fn delete_api(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
) -> Result<StatusCode, HttpError> {
    state.store.delete_api(&api, state.clock.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
