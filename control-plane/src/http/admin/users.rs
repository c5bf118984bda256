//! `/v1/apis/{api}/users`: the people who sign in to an API, their linked identities and
//! their passkeys.
//!
//! Users are not configuration: these writes bump no revision and reach no data plane.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use restapi_shared::error::ErrorBody;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::http::auth::Operator;
use crate::http::error::HttpError;
use crate::http::extract::{JsonBody, Query};
use crate::store::{
    Identity, NewIdentity, NewUser, Passkey, User, UserChanges, UserListQuery, UserPage,
};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_user, list_users))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(list_identities, link_identity))
        .routes(routes!(unlink_identity))
        .routes(routes!(list_passkeys))
        .routes(routes!(remove_passkey))
}

/// Pre-register a user; their first sign-in with a verified address links them.
///
/// The email address is stored as given and must be unique in the API regardless of case.
/// Roles must be roles of the API.
#[utoipa::path(post, path = "/v1/apis/{api}/users", tag = "users", request_body = NewUser,
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 201, description = "The user", body = User),
        (status = 400, description = "invalid_body or invalid_field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
        (status = 409, description = "The email address is taken", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn create_user(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
    JsonBody(new): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<User>), HttpError> {
    let user = state
        .store
        .create_user(&api, &new, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// List the API's users a page at a time, in order of creation, or find one by email.
#[utoipa::path(get, path = "/v1/apis/{api}/users", tag = "users",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"), UserListQuery),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "invalid_request or invalid_field (limit, cursor)",
            body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ))]
async fn list_users(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
    Query(query): Query<UserListQuery>,
) -> Result<Json<UserPage>, HttpError> {
    Ok(Json(state.store.list_users(&api, &query).await?))
}

/// Get a user.
#[utoipa::path(get, path = "/v1/apis/{api}/users/{id}", tag = "users",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = User),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or user", body = ErrorBody),
    ))]
async fn get_user(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
) -> Result<Json<User>, HttpError> {
    Ok(Json(state.store.user(&api, &id).await?))
}

/// Change a user's name, email address, roles, attributes, or disable them.
#[utoipa::path(patch, path = "/v1/apis/{api}/users/{id}", tag = "users",
    request_body = UserChanges, security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The changed user", body = User),
        (status = 400, description = "invalid_body or invalid_field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or user", body = ErrorBody),
        (status = 409, description = "The email address is taken", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn update_user(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
    JsonBody(changes): JsonBody<UserChanges>,
) -> Result<Json<User>, HttpError> {
    let now = state.clock.now();
    Ok(Json(
        state.store.update_user(&api, &id, &changes, now).await?,
    ))
}

/// Delete a user and unlink their identities.
#[utoipa::path(delete, path = "/v1/apis/{api}/users/{id}", tag = "users",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "User id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or user", body = ErrorBody),
    ))]
async fn delete_user(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    state.store.delete_user(&api, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List the external identities linked to a user.
#[utoipa::path(get, path = "/v1/apis/{api}/users/{id}/identities", tag = "users",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The identities", body = Vec<Identity>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or user", body = ErrorBody),
    ))]
async fn list_identities(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
) -> Result<Json<Vec<Identity>>, HttpError> {
    Ok(Json(state.store.identities(&api, &id).await?))
}

/// Link an external identity to a user, such as a Google account (`authority` `google` and
/// the account's `sub`). An identity belongs to one user of the API.
#[utoipa::path(post, path = "/v1/apis/{api}/users/{id}/identities", tag = "users",
    request_body = NewIdentity, security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "User id")),
    responses(
        (status = 201, description = "The linked identity", body = Identity),
        (status = 400, description = "invalid_body or invalid_field", body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or user", body = ErrorBody),
        (status = 409, description = "The identity is linked to a user already", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn link_identity(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
    JsonBody(new): JsonBody<NewIdentity>,
) -> Result<(StatusCode, Json<Identity>), HttpError> {
    let now = state.clock.now();
    let identity = state.store.link_identity(&api, &id, &new, now).await?;
    Ok((StatusCode::CREATED, Json(identity)))
}

/// Unlink an external identity from a user.
#[utoipa::path(delete, path = "/v1/apis/{api}/users/{id}/identities/{identityId}",
    tag = "users", security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "User id"),
        ("identityId" = String, Path, description = "Identity id")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API, user or identity", body = ErrorBody),
    ))]
async fn unlink_identity(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id, identity_id)): Path<(String, String, String)>,
) -> Result<StatusCode, HttpError> {
    state.store.unlink_identity(&api, &id, &identity_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List a user's passkeys, oldest first: labels, flags and times, never key material.
#[utoipa::path(get, path = "/v1/apis/{api}/users/{id}/passkeys", tag = "users",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "The passkeys", body = Vec<Passkey>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or user", body = ErrorBody),
    ))]
async fn list_passkeys(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id)): Path<(String, String)>,
) -> Result<Json<Vec<Passkey>>, HttpError> {
    Ok(Json(state.store.passkeys(&api, &id).await?))
}

/// Remove a user's passkey: it signs in no more (a lost device, a departed person).
#[utoipa::path(delete, path = "/v1/apis/{api}/users/{id}/passkeys/{passkey}", tag = "users",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("id" = String, Path, description = "User id"),
        ("passkey" = String, Path, description = "Passkey id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API, user or passkey", body = ErrorBody),
    ))]
async fn remove_passkey(
    _: Operator,
    State(state): State<AppState>,
    Path((api, id, passkey)): Path<(String, String, String)>,
) -> Result<StatusCode, HttpError> {
    state.store.remove_passkey(&api, &id, &passkey).await?;
    Ok(StatusCode::NO_CONTENT)
}
