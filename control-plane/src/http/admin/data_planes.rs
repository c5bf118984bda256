//! `/v1/data-planes`: which data planes call, and how far behind they are.

use axum::Json;
use axum::extract::State;
use restapi_shared::error::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::auth::Operator;
use crate::http::error::HttpError;
use crate::store::DataPlane;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_data_planes))
}

/// List the data planes seen within the last day, with the revision each serves and its lag.
#[utoipa::path(get, path = "/v1/data-planes", tag = "data-planes",
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The data planes", body = Vec<DataPlane>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
    ))]
async fn list_data_planes(
    _: Operator,
    State(state): State<AppState>,
) -> Result<Json<Vec<DataPlane>>, HttpError> {
    Ok(Json(state.store.list_data_planes(state.clock.now()).await?))
}
