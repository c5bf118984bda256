//! `/v1/apis/{api}/service-accounts`: machine clients of an API and their secrets.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use restapi_shared::error::ErrorBody;
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::auth::Operator;
use crate::http::error::HttpError;
use crate::http::extract::{JsonBody, OptionalJsonBody};
use crate::store::{
    ClientSecret, CreatedSecret, CreatedServiceAccount, NewServiceAccount, SecretChanges,
    ServiceAccount, ServiceAccountChanges,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_service_account, list_service_accounts))
        .routes(routes!(
            get_service_account,
            update_service_account,
            delete_service_account
        ))
        .routes(routes!(create_client_secret))
        .routes(routes!(update_client_secret, delete_client_secret))
}

/// A secret to create; the body may be left out.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewClientSecret {
    /// When the secret stops being accepted (RFC 3339); two years from now when absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// Changes to a secret; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientSecretChanges {
    /// Enable or disable the secret.
    pub enabled: Option<bool>,
    /// A new expiry (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// Create a service account; its first secret is returned this once.
#[utoipa::path(post, path = "/v1/apis/{api}/service-accounts", tag = "service-accounts",
    request_body = NewServiceAccount, security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 201, description = "Its secret, shown once", body = CreatedServiceAccount),
        (status = 400, description = "invalid_body or invalid_field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn create_service_account(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
    JsonBody(new): JsonBody<NewServiceAccount>,
) -> Result<(StatusCode, Json<CreatedServiceAccount>), HttpError> {
    let created = state
        .store
        .create_service_account(&api, &new, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// List the API's service accounts (never their secrets).
#[utoipa::path(get, path = "/v1/apis/{api}/service-accounts", tag = "service-accounts",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 200, description = "The accounts", body = Vec<ServiceAccount>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ))]
async fn list_service_accounts(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
) -> Result<Json<Vec<ServiceAccount>>, HttpError> {
    Ok(Json(state.store.list_service_accounts(&api).await?))
}

/// Get a service account.
#[utoipa::path(get, path = "/v1/apis/{api}/service-accounts/{id}", tag = "service-accounts",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Service account id")),
    responses(
        (status = 200, description = "The account", body = ServiceAccount),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or account", body = ErrorBody),
    ))]
async fn get_service_account(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
) -> Result<Json<ServiceAccount>, HttpError> {
    Ok(Json(state.store.service_account(&api, &id).await?))
}

/// Change a service account's name, description, roles or switch.
#[utoipa::path(patch, path = "/v1/apis/{api}/service-accounts/{id}", tag = "service-accounts",
    request_body = ServiceAccountChanges, security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Service account id")),
    responses(
        (status = 200, description = "The changed account", body = ServiceAccount),
        (status = 400, description = "invalid_body or invalid_field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or account", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn update_service_account(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
    JsonBody(changes): JsonBody<ServiceAccountChanges>,
) -> Result<Json<ServiceAccount>, HttpError> {
    let now = state.clock.now();
    Ok(Json(
        state
            .store
            .update_service_account(&api, &id, &changes, now)
            .await?,
    ))
}

/// Delete a service account and its secrets.
#[utoipa::path(delete, path = "/v1/apis/{api}/service-accounts/{id}", tag = "service-accounts",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Service account id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or account", body = ErrorBody),
    ))]
async fn delete_service_account(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    state
        .store
        .delete_service_account(&api, &id, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Add a secret to a service account; its value is returned this once.
#[utoipa::path(post, path = "/v1/apis/{api}/service-accounts/{id}/secrets",
    tag = "service-accounts", request_body(content = Option<NewClientSecret>),
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Service account id")),
    responses(
        (status = 201, description = "The secret, with `clientSecret`", body = CreatedSecret),
        (status = 400, description = "invalid_body or invalid_field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or account", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn create_client_secret(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
    OptionalJsonBody(new): OptionalJsonBody<NewClientSecret>,
) -> Result<(StatusCode, Json<CreatedSecret>), HttpError> {
    let expires_at = new.expires_at.map(OffsetDateTime::unix_timestamp);
    let secret = state
        .store
        .create_client_secret(&api, &id, expires_at, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(secret)))
}

/// Enable, disable or re-date a secret.
#[utoipa::path(patch, path = "/v1/apis/{api}/service-accounts/{id}/secrets/{secretId}",
    tag = "service-accounts", request_body = ClientSecretChanges,
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Service account id"),
        ("secretId" = String, Path, description = "Secret id")),
    responses(
        (status = 200, description = "The changed secret (without its value)", body = ClientSecret),
        (status = 400, description = "invalid_body or invalid_field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API, account or secret", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn update_client_secret(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id, secret_id)): Path<(String, String, String)>,
    JsonBody(changes): JsonBody<ClientSecretChanges>,
) -> Result<Json<ClientSecret>, HttpError> {
    let changes = SecretChanges {
        enabled: changes.enabled,
        expires_at: changes.expires_at.map(OffsetDateTime::unix_timestamp),
    };
    let now = state.clock.now();
    Ok(Json(
        state
            .store
            .update_client_secret(&api, &id, &secret_id, &changes, now)
            .await?,
    ))
}

/// Delete a secret.
#[utoipa::path(delete, path = "/v1/apis/{api}/service-accounts/{id}/secrets/{secretId}",
    tag = "service-accounts", security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Service account id"),
        ("secretId" = String, Path, description = "Secret id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API, account or secret", body = ErrorBody),
    ))]
async fn delete_client_secret(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id, secret_id)): Path<(String, String, String)>,
) -> Result<StatusCode, HttpError> {
    state
        .store
        .delete_client_secret(&api, &id, &secret_id, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
