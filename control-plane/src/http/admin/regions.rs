//! `/v1/regions`: where APIs are served from.

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
use crate::store::{NewRegion, Region, RegionChanges};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_region, list_regions))
        .routes(routes!(get_region, update_region, delete_region))
}

/// Create a region.
#[utoipa::path(post, path = "/v1/regions", tag = "regions", request_body = NewRegion,
    security(("operator_token" = [])),
    responses(
        (status = 201, description = "The region", body = Region),
        (status = 400, description = "Bad body, name or field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn create_region(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewRegion>,
) -> Result<(StatusCode, Json<Region>), HttpError> {
    let region = state.store.create_region(&new, state.clock.now()).await?;
    Ok((StatusCode::CREATED, Json(region)))
}

/// List regions.
#[utoipa::path(get, path = "/v1/regions", tag = "regions", security(("operator_token" = [])),
    responses(
        (status = 200, description = "Every region", body = Vec<Region>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
    ))]
async fn list_regions(
    _: Operator,
    State(state): State<AppState>,
) -> Result<Json<Vec<Region>>, HttpError> {
    Ok(Json(state.store.list_regions().await?))
}

/// Get a region by name.
#[utoipa::path(get, path = "/v1/regions/{region}", tag = "regions",
    security(("operator_token" = [])),
    params(("region" = String, Path, description = "Region name")),
    responses(
        (status = 200, description = "The region", body = Region),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such region", body = ErrorBody),
    ))]
async fn get_region(
    _: Operator,
    State(state): State<AppState>,
    Path(region): Path<String>,
) -> Result<Json<Region>, HttpError> {
    Ok(Json(state.store.region(&region).await?))
}

/// Rename a region or change its host.
#[utoipa::path(patch, path = "/v1/regions/{region}", tag = "regions",
    request_body = RegionChanges, security(("operator_token" = [])),
    params(("region" = String, Path, description = "Region name")),
    responses(
        (status = 200, description = "The changed region", body = Region),
        (status = 400, description = "Bad body, name or field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such region", body = ErrorBody),
        (status = 409, description = "The new name is taken", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn update_region(
    _: Operator,
    State(state): State<AppState>,
    Path(region): Path<String>,
    JsonBody(changes): JsonBody<RegionChanges>,
) -> Result<Json<Region>, HttpError> {
    Ok(Json(
        state
            .store
            .update_region(&region, &changes, state.clock.now())
            .await?,
    ))
}

/// Delete a region; refused while APIs live there. Its node credentials are deleted too.
#[utoipa::path(delete, path = "/v1/regions/{region}", tag = "regions",
    security(("operator_token" = [])),
    params(("region" = String, Path, description = "Region name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such region", body = ErrorBody),
        (status = 409, description = "APIs still live in the region", body = ErrorBody),
    ))]
async fn delete_region(
    _: Operator,
    State(state): State<AppState>,
    Path(region): Path<String>,
) -> Result<StatusCode, HttpError> {
    state
        .store
        .delete_region(&region, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
