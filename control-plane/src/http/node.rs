//! The node API: what data planes call, authenticated by a node credential and limited to
//! that credential's region.

use std::time::Duration;

use axum::extract::State;
use axum::{Extension, Json};
use restapi_shared::error::ErrorBody;
use restapi_shared::node::{
    ChangesQuery, LONG_POLL_SECONDS, PasskeyListRequest, PasskeyListResponse, PasskeyLookupRequest,
    PasskeyLookupResponse, PasskeyRegisterRequest, PasskeyRegisterResponse, PasskeyRemoveRequest,
    PasskeyRemoveResponse, PasskeySignInRequest, PasskeySignInResponse, RedeemRefreshRequest,
    RedeemRefreshResponse, RefreshStatusRequest, RefreshStatusResponse, ResolveUserRequest,
    ResolveUserResponse, RevokeRefreshRequest,
};
use restapi_shared::push::{ChangeBatch, RegionSnapshot};
use utoipa::{IntoParams, IntoResponses};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::auth::Node;
use super::error::HttpError;
use super::extract::{JsonBody, Query};
use crate::metrics::NodeCall;
use crate::push::{Draining, wait_for_changes};

/// The headers every node call carries, as documented; [`Node`] reads and checks them.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code, reason = "documentation of the headers; never built")]
struct NodeHeaders {
    /// The region the data plane serves
    #[param(rename = "restapi-region")]
    region: String,
    /// The data plane process
    #[param(rename = "restapi-node-instance")]
    instance: String,
    /// The revision it serves
    #[param(rename = "restapi-node-revision")]
    revision: Option<i64>,
}

/// The refusals every node call with a JSON body about an API may answer, as documented.
#[derive(Debug, IntoResponses)]
#[allow(dead_code, reason = "documentation of the responses; never built")]
enum BodyCallRefusals {
    /// Missing or unknown node token
    #[response(status = 401)]
    Unauthenticated(ErrorBody),
    /// The API is not in the caller's region
    #[response(status = 403)]
    OtherRegion(ErrorBody),
    /// Body larger than 1 MiB
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// Body is not JSON
    #[response(status = 415)]
    NotJson(ErrorBody),
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_snapshot))
        .routes(routes!(get_changes))
        .routes(routes!(redeem_refresh_token))
        .routes(routes!(revoke_refresh_family))
        .routes(routes!(refresh_token_status))
        .routes(routes!(resolve_user))
        .routes(routes!(register_passkey))
        .routes(routes!(lookup_passkey))
        .routes(routes!(passkey_signed_in))
        .routes(routes!(list_passkeys))
        .routes(routes!(remove_passkey))
}

/// The whole configuration of the caller's region (`RegionSnapshot` of the shared crate).
#[utoipa::path(get, path = "/node/v1/snapshot", tag = "node", security(("node_token" = [])),
    params(NodeHeaders),
    responses(
        (status = 200, description = "The snapshot", body = RegionSnapshot),
        (status = 400, description = "A node header is missing", body = ErrorBody),
        (status = 401, description = "Missing or unknown node token", body = ErrorBody),
        (status = 403, description = "The credential belongs to another region", body = ErrorBody),
    ))]
async fn get_snapshot(
    node: Node,
    State(state): State<AppState>,
) -> Result<Json<RegionSnapshot>, HttpError> {
    state.metrics.node_request(NodeCall::Snapshot);
    Ok(Json(state.store.snapshot(&node.identity.region_id).await?))
}

/// The changes to the caller's region after `after` (`ChangeBatch` of the shared crate).
///
/// When nothing changed, the request is held open up to `waitSeconds` (at most 25) and then
/// answered with no changes and the current revision.
#[utoipa::path(get, path = "/node/v1/changes", tag = "node", security(("node_token" = [])),
    params(
        ("after" = i64, Query, description = "The revision the data plane holds"),
        ("waitSeconds" = Option<u64>, Query, description = "How long to wait for a change"),
        NodeHeaders,
    ),
    responses(
        (status = 200, description = "The changes", body = ChangeBatch),
        (status = 400, description = "A parameter or node header is missing", body = ErrorBody),
        (status = 401, description = "Missing or unknown node token", body = ErrorBody),
        (status = 403, description = "The credential belongs to another region", body = ErrorBody),
        (status = 410, description = "revision_gone: take a new snapshot", body = ErrorBody),
    ))]
async fn get_changes(
    node: Node,
    State(state): State<AppState>,
    draining: Option<Extension<Draining>>,
    Query(query): Query<ChangesQuery>,
) -> Result<Json<ChangeBatch>, HttpError> {
    state.metrics.node_request(NodeCall::Changes);
    let wait = Duration::from_secs(query.wait_seconds.unwrap_or(0).min(LONG_POLL_SECONDS));
    let draining = draining.map_or_else(Draining::never, |Extension(draining)| draining);
    let region_id = &node.identity.region_id;
    let batch = wait_for_changes(&state.store, region_id, query.after, wait, draining).await?;
    Ok(Json(batch))
}

/// Records the use of a refresh token (`RedeemRefreshRequest` of the shared crate): first use
/// (or a repeat within 30 seconds of it), reuse (which revokes the family) or a use of a
/// revoked family.
#[utoipa::path(post, path = "/node/v1/refresh-tokens/redeem", tag = "node",
    security(("node_token" = [])), request_body = RedeemRefreshRequest,
    params(NodeHeaders),
    responses(
        (status = 200, description = "The outcome", body = RedeemRefreshResponse),
        (status = 400, description = "invalid_body, or a node header is missing", body = ErrorBody),
        BodyCallRefusals,
    ))]
async fn redeem_refresh_token(
    node: Node,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<RedeemRefreshRequest>,
) -> Result<Json<RedeemRefreshResponse>, HttpError> {
    state.metrics.node_request(NodeCall::Redeem);
    let (region_id, now) = (&node.identity.region_id, state.clock.now());
    let (outcome, user) = match &request.user_id {
        Some(user_id) => {
            let store = &state.store;
            store
                .redeem_session_token(region_id, &request, user_id, now)
                .await?
        }
        None => {
            let outcome = state
                .store
                .redeem_refresh_token(region_id, &request, now)
                .await?;
            (outcome, None)
        }
    };
    state.metrics.refresh_redeemed(outcome);
    Ok(Json(RedeemRefreshResponse { outcome, user }))
}

/// Revokes a refresh family (`RevokeRefreshRequest` of the shared crate): a browser session
/// signed out, and no token of the family may be redeemed any more.
#[utoipa::path(post, path = "/node/v1/refresh-tokens/revoke", tag = "node",
    security(("node_token" = [])), request_body = RevokeRefreshRequest,
    params(NodeHeaders),
    responses(
        (status = 204, description = "The family is revoked"),
        (status = 400, description = "invalid_body, or a node header is missing", body = ErrorBody),
        BodyCallRefusals,
    ))]
async fn revoke_refresh_family(
    node: Node,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<RevokeRefreshRequest>,
) -> Result<axum::http::StatusCode, HttpError> {
    state
        .store
        .revoke_refresh_family(&node.identity.region_id, &request, state.clock.now())
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Reads a refresh token's state (`RefreshStatusRequest` of the shared crate) for
/// introspection: whether it was redeemed and whether its family is revoked.
#[utoipa::path(post, path = "/node/v1/refresh-tokens/status", tag = "node",
    security(("node_token" = [])), request_body = RefreshStatusRequest,
    params(NodeHeaders),
    responses(
        (status = 200, description = "The token's state", body = RefreshStatusResponse),
        (status = 400, description = "invalid_body, or a node header is missing", body = ErrorBody),
        BodyCallRefusals,
    ))]
async fn refresh_token_status(
    node: Node,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<RefreshStatusRequest>,
) -> Result<Json<RefreshStatusResponse>, HttpError> {
    let region_id = &node.identity.region_id;
    let status = state
        .store
        .refresh_token_status(region_id, &request)
        .await?;
    Ok(Json(status))
}

/// Resolves an identity that signed in at a provider to a user of the API
/// (`ResolveUserRequest` of the shared crate), in one transaction: the linked user; else the
/// user pre-registered with the same verified address, now linked; else, when `autoCreate`, a
/// new user with the API's default roles; else `notRegistered`. A disabled user is `disabled`.
#[utoipa::path(post, path = "/node/v1/users/resolve", tag = "node",
    security(("node_token" = [])), request_body = ResolveUserRequest,
    params(NodeHeaders),
    responses(
        (status = 200, description = "The outcome; the user when signed in",
            body = ResolveUserResponse),
        (status = 400, description = "invalid_body, invalid_field, or a node header is missing",
            body = ErrorBody),
        BodyCallRefusals,
    ))]
async fn resolve_user(
    node: Node,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ResolveUserRequest>,
) -> Result<Json<ResolveUserResponse>, HttpError> {
    let now = state.clock.now();
    let resolved = state
        .store
        .resolve_user(&node.identity.region_id, &request, now)
        .await?;
    Ok(Json(resolved))
}

/// Stores a passkey the data plane verified (`PasskeyRegisterRequest` of the shared crate):
/// for a sign-up, with the user it creates in the same transaction (resolved like a first
/// sign-in: default roles, only when the provider creates users); for a signed-in user, under
/// their user handle. A credential id registered already is refused, and nothing is written.
#[utoipa::path(post, path = "/node/v1/passkeys/register", tag = "node",
    security(("node_token" = [])), request_body = PasskeyRegisterRequest,
    params(NodeHeaders),
    responses(
        (status = 200, description = "The outcome; the user when registered",
            body = PasskeyRegisterResponse),
        (status = 400, description = "invalid_body, invalid_field, or a node header is missing",
            body = ErrorBody),
        (status = 409, description = "The user has the most passkeys allowed", body = ErrorBody),
        BodyCallRefusals,
    ))]
async fn register_passkey(
    node: Node,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<PasskeyRegisterRequest>,
) -> Result<Json<PasskeyRegisterResponse>, HttpError> {
    let now = state.clock.now();
    let region_id = &node.identity.region_id;
    Ok(Json(
        state
            .store
            .register_passkey(region_id, &request, now)
            .await?,
    ))
}

/// The passkey of an API with a credential id (`PasskeyLookupRequest` of the shared crate),
/// for the data plane to verify an assertion against; absent when the API has none.
#[utoipa::path(post, path = "/node/v1/passkeys/lookup", tag = "node",
    security(("node_token" = [])), request_body = PasskeyLookupRequest,
    params(NodeHeaders),
    responses(
        (status = 200, description = "The passkey, if any", body = PasskeyLookupResponse),
        (status = 400, description = "invalid_body, or a node header is missing",
            body = ErrorBody),
        BodyCallRefusals,
    ))]
async fn lookup_passkey(
    node: Node,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<PasskeyLookupRequest>,
) -> Result<Json<PasskeyLookupResponse>, HttpError> {
    let region_id = &node.identity.region_id;
    let passkey = state.store.lookup_passkey(region_id, &request).await?;
    Ok(Json(PasskeyLookupResponse { passkey }))
}

/// Records a passkey sign-in the data plane verified (`PasskeySignInRequest` of the shared
/// crate), in one transaction: its challenge is spent (a second use is refused as a replay),
/// the counter must grow when the authenticator keeps one, and a disabled user is refused.
#[utoipa::path(post, path = "/node/v1/passkeys/sign-in", tag = "node",
    security(("node_token" = [])), request_body = PasskeySignInRequest,
    params(NodeHeaders),
    responses(
        (status = 200, description = "The outcome; the user when signed in",
            body = PasskeySignInResponse),
        (status = 400, description = "invalid_body, or a node header is missing",
            body = ErrorBody),
        BodyCallRefusals,
    ))]
async fn passkey_signed_in(
    node: Node,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<PasskeySignInRequest>,
) -> Result<Json<PasskeySignInResponse>, HttpError> {
    let now = state.clock.now();
    let region_id = &node.identity.region_id;
    Ok(Json(
        state
            .store
            .passkey_signed_in(region_id, &request, now)
            .await?,
    ))
}

/// A user's passkeys and user handle (`PasskeyListRequest` of the shared crate), for their
/// own page and before they add one; empty and inactive for a missing or disabled user.
#[utoipa::path(post, path = "/node/v1/passkeys/list", tag = "node",
    security(("node_token" = [])), request_body = PasskeyListRequest,
    params(NodeHeaders),
    responses(
        (status = 200, description = "The user's passkeys", body = PasskeyListResponse),
        (status = 400, description = "invalid_body, or a node header is missing",
            body = ErrorBody),
        BodyCallRefusals,
    ))]
async fn list_passkeys(
    node: Node,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<PasskeyListRequest>,
) -> Result<Json<PasskeyListResponse>, HttpError> {
    let region_id = &node.identity.region_id;
    let store = &state.store;
    Ok(Json(
        store
            .node_passkeys(region_id, &request.api_id, &request.user_id)
            .await?,
    ))
}

/// Removes one of a user's passkeys at their request (`PasskeyRemoveRequest` of the shared
/// crate); `removed` is false when the user has no such passkey.
#[utoipa::path(post, path = "/node/v1/passkeys/remove", tag = "node",
    security(("node_token" = [])), request_body = PasskeyRemoveRequest,
    params(NodeHeaders),
    responses(
        (status = 200, description = "Whether a passkey was removed",
            body = PasskeyRemoveResponse),
        (status = 400, description = "invalid_body, or a node header is missing",
            body = ErrorBody),
        BodyCallRefusals,
    ))]
async fn remove_passkey(
    node: Node,
    State(state): State<AppState>,
    JsonBody(request): JsonBody<PasskeyRemoveRequest>,
) -> Result<Json<PasskeyRemoveResponse>, HttpError> {
    let region_id = &node.identity.region_id;
    let (api_id, user_id) = (&request.api_id, &request.user_id);
    let answer = state
        .store
        .node_remove_passkey(region_id, api_id, user_id, &request.passkey_id)
        .await?;
    Ok(Json(answer))
}
