//! The end of a token's life and questions about it: `POST _revoke` (RFC 7009) for the API's
//! clients and `POST _introspect` (RFC 7662) for its service accounts.
//!
//! Revoking any token of a refresh family revokes the family on the control plane, so no
//! token of it is refreshed again, and the region's data planes are told, so that its access
//! tokens are refused at once too. A client may revoke only what was issued to it.

use axum::Json;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use restapi_shared::error::OAuthErrorBody;
use restapi_shared::node::{RefreshStatusRequest, RevokeRefreshRequest};
use restapi_shared::refresh;
use restapi_shared::secret::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::token::{
    basic_credentials, client_credentials, oauth_error_response, omitted_if_empty,
    parse_parameters, secret_omitted_if_empty,
};
use super::{EndpointCall, no_store};
use crate::grants::{self, ClientCredentials, ClientRejection, GrantError};

/// A revocation or introspection request (RFC 7009 §2.1, RFC 7662 §2.1), as a form (or
/// JSON), with the client's credentials in the body or by HTTP Basic.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct TokenQuestion {
    /// The token: an access token or a refresh token.
    #[serde(default, deserialize_with = "secret_omitted_if_empty")]
    #[schema(value_type = String)]
    token: Option<SecretString>,
    /// `access_token` or `refresh_token`: accepted and not needed, since the two kinds are
    /// told apart by their form (RFC 7009 §2.1 lets the server ignore it).
    #[serde(
        default,
        rename = "token_type_hint",
        deserialize_with = "omitted_if_empty"
    )]
    _token_type_hint: Option<String>,
    /// The client id, unless sent by HTTP Basic.
    #[serde(default, deserialize_with = "omitted_if_empty")]
    client_id: Option<String>,
    /// The client secret of a service account, unless sent by HTTP Basic.
    #[serde(default, deserialize_with = "secret_omitted_if_empty")]
    #[schema(value_type = Option<String>)]
    client_secret: Option<SecretString>,
}

/// An introspection answer (RFC 7662 §2.2): `active` alone when the token is not.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct Introspection {
    /// Whether the token is valid now, for this API.
    active: bool,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    /// The subject: a user or service account identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    /// The client the token was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// The subject's display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    /// The API's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<String>,
    /// The issuer of an access token.
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<String>,
    /// When the token expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    /// When the token was issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<i64>,
    /// The roles of an access token's subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
}

/// `POST _revoke`: ends a refresh family and its access tokens; 200 whatever the token was
/// (RFC 7009 §2.2).
#[utoipa::path(
    post,
    path = "/{api}/_revoke",
    tag = "oauth",
    params(("api" = String, Path,
        description = "The API's name (on its app host the path is `/api/_revoke`)")),
    request_body(content(
        (TokenQuestion = "application/x-www-form-urlencoded"),
        (TokenQuestion = "application/json"),
    )),
    responses(
        (status = 200, description = "Revoked, or nothing to revoke"),
        (status = 400, description = "invalid_request", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
        (status = 503, description = "temporarily_unavailable", body = OAuthErrorBody),
    ),
    security((), ("client_secret_basic" = [])),
)]
pub(crate) async fn revoke(call: EndpointCall<'_>, body: Body) -> Response {
    let question = match parse_parameters::<TokenQuestion>(&call.parts.headers, body).await {
        Ok(question) => question,
        Err(error) => return error_response(&call, error),
    };
    let client_id = match authenticate(&call, &question, ClientKinds::Any) {
        Ok(client_id) => client_id,
        Err(error) => return error_response(&call, error),
    };
    let Some(token) = question.token.as_ref().map(SecretString::expose) else {
        return error_response(&call, GrantError::InvalidRequest("token is required"));
    };
    let Some(family) = own_family(&call, &client_id, token) else {
        // RFC 7009 §2.2: an invalid token, or one of another client, is answered alike.
        return no_store(StatusCode::OK.into_response());
    };
    let Some(control_plane) = &call.state.control_plane else {
        return error_response(&call, GrantError::ControlPlaneUnavailable);
    };
    let request = RevokeRefreshRequest {
        api_id: call.api.id.clone(),
        family,
    };
    match control_plane.revoke_family(&request).await {
        Ok(()) => {
            // Refused here at once; the other data planes hear of it through the feed.
            call.api.revoked_sessions.insert(request.family);
            no_store(StatusCode::OK.into_response())
        }
        Err(error) => {
            let error = crate::node_client::error_chain(&error);
            tracing::warn!(api = %call.api.name, error, "revocation not recorded");
            // RFC 7009 §2.2.1: the client may retry later.
            error_response(&call, GrantError::ControlPlaneUnavailable)
        }
    }
}

/// `POST _introspect`: whether a token of this API is active, and what it says.
#[utoipa::path(
    post,
    path = "/{api}/_introspect",
    tag = "oauth",
    params(("api" = String, Path,
        description = "The API's name (on its app host the path is `/api/_introspect`)")),
    request_body(content(
        (TokenQuestion = "application/x-www-form-urlencoded"),
        (TokenQuestion = "application/json"),
    )),
    responses(
        (status = 200, description = "The token's state", body = Introspection),
        (status = 400, description = "invalid_request", body = OAuthErrorBody),
        (status = 401, description = "invalid_client: only the API's service accounts may ask",
            body = OAuthErrorBody),
        (status = 503, description = "temporarily_unavailable", body = OAuthErrorBody),
    ),
    security((), ("client_secret_basic" = [])),
)]
pub(crate) async fn introspect(call: EndpointCall<'_>, body: Body) -> Response {
    let question = match parse_parameters::<TokenQuestion>(&call.parts.headers, body).await {
        Ok(question) => question,
        Err(error) => return error_response(&call, error),
    };
    if let Err(error) = authenticate(&call, &question, ClientKinds::ServiceAccounts) {
        return error_response(&call, error);
    }
    let Some(token) = question.token.as_ref().map(SecretString::expose) else {
        return error_response(&call, GrantError::InvalidRequest("token is required"));
    };
    match inspect(&call, token).await {
        Ok(answer) => no_store(Json(answer).into_response()),
        Err(error) => error_response(&call, error),
    }
}

async fn inspect(call: &EndpointCall<'_>, token: &str) -> Result<Introspection, GrantError> {
    if let Ok(verified) = call.state.bearer.verify(call.api, token, call.now) {
        let claims = &verified.claims;
        return Ok(Introspection {
            active: true,
            token_type: Some("access_token"),
            sub: Some(claims.sub.clone()),
            client_id: claims.client_id.clone(),
            username: Some(claims.name.clone()),
            aud: Some(claims.aud.clone()),
            iss: Some(claims.iss.clone()),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            roles: Some(claims.roles.clone()),
        });
    }
    let api = call.api;
    let Ok(claims) = refresh::open(&api.sealing_key, &api.id, token, call.now) else {
        return Ok(Introspection::default());
    };
    let Some(control_plane) = &call.state.control_plane else {
        return Err(GrantError::ControlPlaneUnavailable);
    };
    let request = RefreshStatusRequest {
        api_id: api.id.clone(),
        token_id: claims.jti.clone(),
        family: claims.family.clone(),
    };
    let status = control_plane
        .refresh_status(&request)
        .await
        .map_err(|error| {
            let error = crate::node_client::error_chain(&error);
            tracing::warn!(api = %api.name, error, "refresh token state unknown");
            GrantError::ControlPlaneUnavailable
        })?;
    if status.used || status.revoked {
        return Ok(Introspection::default());
    }
    Ok(Introspection {
        active: true,
        token_type: Some("refresh_token"),
        sub: Some(claims.sub.clone()),
        client_id: Some(claims.client_id.clone()),
        aud: Some(api.name.clone()),
        exp: Some(claims.expires_at()),
        iat: Some(claims.iat),
        ..Introspection::default()
    })
}

/// The refresh family of `token` if it was issued to `client_id`: a refresh token's own, or
/// an access token's `sid`.
fn own_family(call: &EndpointCall<'_>, client_id: &str, token: &str) -> Option<String> {
    let api = call.api;
    if let Ok(claims) = refresh::open(&api.sealing_key, &api.id, token, call.now) {
        return (claims.client_id == client_id).then_some(claims.family);
    }
    let verified = call.state.bearer.verify(api, token, call.now).ok()?;
    let claims = &verified.claims;
    if claims.client_id.as_deref() != Some(client_id) {
        return None;
    }
    claims.extra.get("sid")?.as_str().map(str::to_owned)
}

/// Which clients an endpoint serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientKinds {
    /// Public clients by their id, service accounts by their secret.
    Any,
    /// Service accounts only.
    ServiceAccounts,
}

/// The authenticated client's id (RFC 7009 §2.1, RFC 7662 §2.1).
fn authenticate(
    call: &EndpointCall<'_>,
    question: &TokenQuestion,
    kinds: ClientKinds,
) -> Result<String, GrantError> {
    let basic = basic_credentials(&call.parts.headers)?;
    let credentials = client_credentials(
        basic.as_ref(),
        question.client_id.as_deref(),
        question.client_secret.as_ref().map(SecretString::expose),
    )?;
    let rejected = |reason| Err(GrantError::ClientRejected(reason));
    match credentials {
        None => rejected(ClientRejection::Missing),
        Some(ClientCredentials {
            client_id,
            client_secret: Some(secret),
        }) => {
            grants::authenticate_client(call.api, client_id, secret, call.now)?;
            Ok(client_id.to_owned())
        }
        Some(ClientCredentials {
            client_id,
            client_secret: None,
        }) if kinds == ClientKinds::Any && call.api.client(client_id).is_some() => {
            Ok(client_id.to_owned())
        }
        Some(_) => rejected(ClientRejection::UnknownClient),
    }
}

fn error_response(call: &EndpointCall<'_>, error: GrantError) -> Response {
    tracing::debug!(api = %call.api.name, %error, "token question refused");
    oauth_error_response(call, &error).0
}
