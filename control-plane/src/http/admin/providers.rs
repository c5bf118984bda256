//! `/v1/apis/{api}/providers`: the identity providers of an API's hosted login page.
//!
//! Answers never carry a client secret or private key, only whether one is set. Every write
//! reaches the API's data planes within a second.

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
use crate::store::{NewProvider, Provider, ProviderChanges};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_provider, list_providers))
        .routes(routes!(get_provider, update_provider, delete_provider))
}

/// Add an identity provider to the API's login page.
///
/// `clientSecret` is required for every kind but `apple`, which takes `teamId`, `keyId` and
/// `privateKey` instead; `issuer` is required for `oidc`; `tenant` is for `microsoft` only.
/// Register the answer's `redirectUris` at the provider.
#[utoipa::path(post, path = "/v1/apis/{api}/providers", tag = "providers",
    request_body = NewProvider, security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 201, description = "The provider", body = Provider),
        (status = 400, description = "invalid_body or invalid_field, naming the field",
            body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
        (status = 409, description = "The API has the most providers allowed", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn create_provider(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
    JsonBody(new): JsonBody<NewProvider>,
) -> Result<(StatusCode, Json<Provider>), HttpError> {
    let now = state.clock.now();
    let provider = state
        .store
        .create_provider(&api, &new, &state.login_urls, now)
        .await?;
    Ok((StatusCode::CREATED, Json(provider)))
}

/// List the API's identity providers, oldest first.
#[utoipa::path(get, path = "/v1/apis/{api}/providers", tag = "providers",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 200, description = "The providers", body = Vec<Provider>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ))]
async fn list_providers(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
) -> Result<Json<Vec<Provider>>, HttpError> {
    Ok(Json(state.store.providers(&api, &state.login_urls).await?))
}

/// Get an identity provider.
#[utoipa::path(get, path = "/v1/apis/{api}/providers/{id}", tag = "providers",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Provider id (`idp_...`)")),
    responses(
        (status = 200, description = "The provider", body = Provider),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or provider", body = ErrorBody),
    ))]
async fn get_provider(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
) -> Result<Json<Provider>, HttpError> {
    Ok(Json(
        state.store.provider(&api, &id, &state.login_urls).await?,
    ))
}

/// Change an identity provider: absent fields stay, `null` clears `issuer`, `tenant` or
/// `endpoints`. The kind cannot change.
#[utoipa::path(patch, path = "/v1/apis/{api}/providers/{id}", tag = "providers",
    request_body = ProviderChanges, security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Provider id (`idp_...`)")),
    responses(
        (status = 200, description = "The changed provider", body = Provider),
        (status = 400, description = "invalid_body or invalid_field, naming the field",
            body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or provider", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn update_provider(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
    JsonBody(changes): JsonBody<ProviderChanges>,
) -> Result<Json<Provider>, HttpError> {
    let now = state.clock.now();
    Ok(Json(
        state
            .store
            .update_provider(&api, &id, &changes, &state.login_urls, now)
            .await?,
    ))
}

/// Remove an identity provider from the login page. Identities linked through it stay.
#[utoipa::path(delete, path = "/v1/apis/{api}/providers/{id}", tag = "providers",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "Provider id (`idp_...`)")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or provider", body = ErrorBody),
    ))]
async fn delete_provider(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    state
        .store
        .delete_provider(&api, &id, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
