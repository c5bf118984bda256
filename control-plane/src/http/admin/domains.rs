//! `/v1/apis/{api}/domains`: custom domains of an API, the DNS records that prove their
//! ownership, and a check of those records on demand.
//!
//! A domain reaches the API's data planes only once its TXT record is seen; its removal reaches
//! them within a second. A DNS failure is never an error here: the domain stays `pendingDns`
//! and its `statusMessage` says what DNS showed.

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
use crate::store::{Domain, NewDomain};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_domain, list_domains))
        .routes(routes!(get_domain, delete_domain))
        .routes(routes!(verify_domain))
}

/// Add a custom domain; the answer lists the DNS records to create.
///
/// A CNAME points the domain at the API's app host; a TXT record at
/// `_restapi-challenge.<domain>` holding the returned token proves control of it. The domain
/// stays `pendingDns`, checked again with backoff (30 s doubling to 1 h), until the TXT record
/// is seen; then it is `active` and served. Refused with `invalid_field`: not a host name, a
/// wildcard, an IP address, a single label, a name over 253 characters or with a label over
/// 63, the platform's app domain, a region's host or a name under them. An internationalised
/// name is stored in its `xn--` form. A domain belongs to one API across the platform
/// (`conflict`).
#[utoipa::path(post, path = "/v1/apis/{api}/domains", tag = "domains",
    request_body = NewDomain, security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 201, description = "The domain, with the records to create", body = Domain),
        (status = 400, description = "invalid_body or invalid_field, naming the field",
            body = ErrorBody),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
        (status = 409, description = "The domain belongs to an API already", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ))]
async fn create_domain(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
    JsonBody(new): JsonBody<NewDomain>,
) -> Result<(StatusCode, Json<Domain>), HttpError> {
    let app_domain = &state.login_urls.app_domain;
    let domain = state
        .store
        .add_domain(&api, &new, app_domain, state.clock.now())
        .await?;
    Ok((StatusCode::CREATED, Json(domain)))
}

/// List the API's custom domains by name.
#[utoipa::path(get, path = "/v1/apis/{api}/domains", tag = "domains",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name")),
    responses(
        (status = 200, description = "The domains", body = Vec<Domain>),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ))]
async fn list_domains(
    _: Operator,
    State(state): State<AppState>,
    Path(api): Path<String>,
) -> Result<Json<Vec<Domain>>, HttpError> {
    let app_domain = &state.login_urls.app_domain;
    Ok(Json(state.store.list_domains(&api, app_domain).await?))
}

/// Get a custom domain: its records, status and what DNS showed at the last check.
#[utoipa::path(get, path = "/v1/apis/{api}/domains/{domain}", tag = "domains",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("domain" = String, Path, description = "The domain's host name")),
    responses(
        (status = 200, description = "The domain", body = Domain),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or domain", body = ErrorBody),
    ))]
async fn get_domain(
    _: Operator,
    State(state): State<AppState>,
    Path((api, domain)): Path<(String, String)>,
) -> Result<Json<Domain>, HttpError> {
    let app_domain = &state.login_urls.app_domain;
    Ok(Json(state.store.domain(&api, &domain, app_domain).await?))
}

/// Remove a custom domain; the API's data planes stop serving it within a second.
#[utoipa::path(delete, path = "/v1/apis/{api}/domains/{domain}", tag = "domains",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("domain" = String, Path, description = "The domain's host name")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or domain", body = ErrorBody),
    ))]
async fn delete_domain(
    _: Operator,
    State(state): State<AppState>,
    Path((api, domain)): Path<(String, String)>,
) -> Result<StatusCode, HttpError> {
    state
        .store
        .delete_domain(&api, &domain, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Check the domain's TXT record now (after creating it) instead of at the next retry.
///
/// Answers the domain as it stands after the check: `active` when the token was found,
/// otherwise still `pendingDns` with what DNS showed in `statusMessage`. A domain already
/// verified is answered unchanged.
#[utoipa::path(post, path = "/v1/apis/{api}/domains/{domain}/verify", tag = "domains",
    security(("operator_token" = [])),
    params(("api" = String, Path, description = "API name"),
        ("domain" = String, Path, description = "The domain's host name")),
    responses(
        (status = 200, description = "The domain after the check", body = Domain),
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 404, description = "No such API or domain", body = ErrorBody),
    ))]
async fn verify_domain(
    _: Operator,
    State(state): State<AppState>,
    Path((api, domain)): Path<(String, String)>,
) -> Result<Json<Domain>, HttpError> {
    let now = state.clock.now();
    Ok(Json(state.domains.verify_now(&api, &domain, now).await?))
}
