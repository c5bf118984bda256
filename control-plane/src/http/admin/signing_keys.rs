//! `/v1/apis/{api}/signing-keys`: an API's ES256 keys and their rotation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use restapi_shared::error::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::auth::Operator;
use crate::http::error::HttpError;
use crate::store::SigningKey;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_signing_keys))
        .routes(routes!(rotate_signing_key))
}

/// List the API's published and pending signing keys (public parts only).
#[utoipa::path(get, path = "/v1/apis/{api}/signing-keys", tag = "signing-keys",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 200, description = "The keys, oldest first", body = Vec<SigningKey>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ))]
async fn list_signing_keys(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
) -> Result<Json<Vec<SigningKey>>, HttpError> {
    Ok(Json(
        state.store.signing_keys(&api, state.clock.now()).await?,
    ))
}

/// Rotate: add a key that is published at once and signs after the publish delay; the
/// current keys stay published until every token they signed has expired.
#[utoipa::path(post, path = "/v1/apis/{api}/signing-keys/rotate", tag = "signing-keys",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 201, description = "The new key", body = SigningKey),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ))]
async fn rotate_signing_key(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
) -> Result<(StatusCode, Json<SigningKey>), HttpError> {
    let now = state.clock.now();
    let key = state
        .store
        .rotate_signing_key(&api, now, state.signing_key_publish_delay)
        .await?;
    Ok((StatusCode::CREATED, Json(key)))
}
