//! `GET .well-known/openid-configuration` and `GET .well-known/jwks.json`.

use axum::http::StatusCode;
use axum::response::Response;
use restapi_shared::token::{ALGORITHM, Jwks};
use serde::Serialize;
use utoipa::ToSchema;

use super::{EndpointCall, json_with_cache_control};

/// Short enough that a rotated key reaches verifiers before it signs: the control plane
/// publishes a new key 300 seconds (by default) before using it.
const METADATA_CACHE_CONTROL: &str = "public, max-age=300";

/// The OpenID Provider metadata (OpenID Connect Discovery 1.0 §3), limited to what exists.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DiscoveryDocument {
    /// The issuer: the API's base URL on the host that was asked.
    issuer: String,
    // TODO(#4): authorization_endpoint (REQUIRED by Discovery §3) once `/login` and the
    // authorization code flow with PKCE exist; it is left out rather than pointing nowhere.
    /// The token endpoint.
    token_endpoint: String,
    /// The JWKS of the API's published keys.
    jwks_uri: String,
    /// The userinfo endpoint.
    userinfo_endpoint: String,
    /// Empty: no authorization endpoint yet (TODO(#4): `code`).
    #[schema(value_type = Vec<String>)]
    response_types_supported: &'static [&'static str],
    /// `public`: the `sub` is the same for every client of the API.
    #[schema(value_type = Vec<String>)]
    subject_types_supported: &'static [&'static str],
    /// `ES256`, the only algorithm the platform signs with.
    #[schema(value_type = Vec<String>)]
    id_token_signing_alg_values_supported: &'static [&'static str],
    /// The grants of the token endpoint.
    #[schema(value_type = Vec<String>)]
    grant_types_supported: &'static [&'static str],
    /// How clients authenticate at the token endpoint.
    #[schema(value_type = Vec<String>)]
    token_endpoint_auth_methods_supported: &'static [&'static str],
    /// The claims of access tokens and userinfo.
    #[schema(value_type = Vec<String>)]
    claims_supported: &'static [&'static str],
}

/// `GET .well-known/openid-configuration`: built per request, since the issuer follows the
/// host the client used (a handful of string copies, no key material).
#[utoipa::path(
    get,
    path = "/{api}/.well-known/openid-configuration",
    tag = "oauth",
    params(("api" = String, Path, description = "The API's name; on its app host the path is `/api/.well-known/openid-configuration`")),
    responses((status = 200, description = "OpenID Provider metadata", body = DiscoveryDocument)),
)]
pub(crate) fn discovery(call: EndpointCall<'_>) -> Response {
    let endpoint = |path: &str| format!("{}/{path}", call.issuer);
    let document = DiscoveryDocument {
        token_endpoint: endpoint("_token"),
        jwks_uri: endpoint(".well-known/jwks.json"),
        userinfo_endpoint: endpoint("_userinfo"),
        issuer: call.issuer,
        response_types_supported: &[],
        subject_types_supported: &["public"],
        id_token_signing_alg_values_supported: &[ALGORITHM],
        grant_types_supported: &["client_credentials", "refresh_token"],
        token_endpoint_auth_methods_supported: &["client_secret_basic", "client_secret_post"],
        claims_supported: &[
            "iss",
            "aud",
            "sub",
            "exp",
            "iat",
            "jti",
            "name",
            "email",
            "roles",
            "client_id",
        ],
    };
    match serde_json::to_vec(&document) {
        Ok(body) => json_with_cache_control(body, METADATA_CACHE_CONTROL),
        Err(error) => {
            tracing::error!(%error, "discovery document not serialisable");
            super::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal error",
            )
        }
    }
}

/// `GET .well-known/jwks.json`: the published keys, serialised when the configuration
/// changed, not per request.
#[utoipa::path(
    get,
    path = "/{api}/.well-known/jwks.json",
    tag = "oauth",
    params(("api" = String, Path, description = "The API's name; on its app host the path is `/api/.well-known/jwks.json`")),
    responses((status = 200, description = "The API's published keys (RFC 7517)", body = Jwks)),
)]
pub(crate) fn jwks(call: EndpointCall<'_>) -> Response {
    let jwks = call.api.keys.at(call.now).jwks.clone();
    json_with_cache_control(jwks, METADATA_CACHE_CONTROL)
}
