//! `/v1/operator-tokens`: the bearer tokens of the admin API itself.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use restapi_shared::error::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Operator;
use super::error::HttpError;
use super::extract::{JsonBody, bearer_token};
use crate::store::{CreatedOperatorToken, NewOperatorToken, OperatorToken};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_operator_token, list_operator_tokens))
        .routes(routes!(delete_operator_token))
}

/// Create an operator token; its value is returned this once and stored only as a digest.
#[utoipa::path(post, path = "/v1/operator-tokens", tag = "operator-tokens",
    request_body = NewOperatorToken, security(("operator_token" = [])),
    responses(
        (status = 201, description = "The token, with `token`", body = CreatedOperatorToken),
        (status = 400, description = "invalid_body or invalid_field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn create_operator_token(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(new): JsonBody<NewOperatorToken>,
) -> Result<(StatusCode, Json<CreatedOperatorToken>), HttpError> {
    let created = state
        .store
        .create_operator_token(&new, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List operator tokens (never their values).
#[utoipa::path(get, path = "/v1/operator-tokens", tag = "operator-tokens",
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "Every operator token", body = Vec<OperatorToken>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
    ))]
async fn list_operator_tokens(
    _: Operator,
    State(state): State<AppState>,
) -> Result<Json<Vec<OperatorToken>>, HttpError> {
    Ok(Json(state.store.list_operator_tokens().await?))
}

/// Delete an operator token; it is refused from the next request on. A token cannot delete
/// itself, so an operator cannot lock themselves out by mistake.
#[utoipa::path(delete, path = "/v1/operator-tokens/{id}", tag = "operator-tokens",
    security(("operator_token" = [])),
    params(("id" = String, Path, description = "Operator token id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such operator token", body = ErrorBody),
        (status = 409, description = "conflict: the token of this request", body = ErrorBody),
    ))]
async fn delete_operator_token(
    _: Operator,
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, HttpError> {
    let caller = bearer_token(&headers).ok_or(HttpError::Unauthorized)?;
    state.store.delete_operator_token(&id, caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
