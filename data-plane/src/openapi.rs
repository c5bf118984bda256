//! The OpenAPI description of the data plane's endpoints, committed as
//! `openapi/data-plane.json`.

use restapi_shared::error::{ErrorBody, OAuthErrorBody, OAuthErrorCode};
use restapi_shared::token::{Jwk, Jwks};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::lifecycle::{Introspection, TokenQuestion};
use crate::http::{
    AuthRequest, AuthResponse, DiscoveryDocument, TokenRequest, TokenResponse, UserInfo,
};

/// The OpenAPI document of the data plane.
///
/// Paths are written in their regional-host form (`/{api}/_token` on `eu.restapi.com`); on an
/// API's app host (`<api>.restapi.cloud`) the same endpoints live under `/api`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    DataPlaneApi::openapi()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "RestAPI data plane",
        description = "Per-API token and browser session endpoints served by every regional data plane. Paths are \
            shown on the regional host (`https://<region host>/{api}/...`); on the API's app \
            host (`https://<api>.<app domain>/api/...`) the same endpoints live under `/api`.",
    ),
    paths(
        crate::http::token::token,
        crate::http::sign_in::auth,
        crate::http::metadata::discovery,
        crate::http::metadata::jwks,
        crate::http::userinfo::userinfo,
        crate::http::session::refresh,
        crate::http::session::logout,
        crate::http::lifecycle::revoke,
        crate::http::lifecycle::introspect,
        crate::http::healthz,
        crate::http::readyz,
        crate::metrics::get_metrics,
    ),
    components(schemas(
        TokenRequest,
        TokenResponse,
        AuthRequest,
        AuthResponse,
        DiscoveryDocument,
        UserInfo,
        TokenQuestion,
        Introspection,
        Jwks,
        Jwk,
        ErrorBody,
        OAuthErrorBody,
        OAuthErrorCode,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "oauth", description = "OAuth 2.0 and OpenID Connect endpoints"),
        (name = "restapi", description = "RestAPI.com sign-in"),
        (name = "operations", description = "Health, readiness and metrics"),
    ),
)]
struct DataPlaneApi;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // `__Host-restapi-access` on an app host over HTTPS, `__Secure-restapi-access` on a
        // regional host, `restapi-access` over plain HTTP.
        components.add_security_scheme(
            "access_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("__Host-restapi-access"))),
        );
        components.add_security_scheme(
            "refresh_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("__Secure-restapi-refresh"))),
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn committed_document_matches_the_code() {
        let generated = format!("{}\n", super::openapi().to_pretty_json().unwrap());
        let committed = include_str!("../../openapi/data-plane.json");
        assert!(
            generated == committed,
            "openapi/data-plane.json is stale: regenerate it with \
             `cargo run -p restapi-data-plane -- openapi > openapi/data-plane.json`"
        );
    }
}
