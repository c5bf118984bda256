//! `GET .well-known/openid-configuration` and `GET .well-known/jwks.json`.

use axum::http::StatusCode;
use axum::response::Response;
use restapi_shared::token::{ALGORITHM, Jwks};
use serde::Serialize;
use utoipa::ToSchema;

use super::{EndpointCall, json_with_cache_control};
use crate::routing::{HostKind, LOGIN_SEGMENT};

/// Short enough that a rotated key reaches verifiers before it signs: the control plane
/// publishes a new key 300 seconds (by default) before using it.
const METADATA_CACHE_CONTROL: &str = "public, max-age=300";

/// The OpenID Provider metadata (OpenID Connect Discovery 1.0 §3), also served as OAuth 2.0
/// Authorization Server Metadata (RFC 8414 §2), so that a library configures itself from the
/// issuer alone.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DiscoveryDocument {
    /// The issuer: the API's base URL on the host that was asked.
    issuer: String,
    /// The hosted login page, which is also the authorization endpoint of public clients.
    authorization_endpoint: String,
    /// The token endpoint.
    token_endpoint: String,
    /// Token revocation (RFC 7009).
    revocation_endpoint: String,
    /// Token introspection (RFC 7662), for the API's service accounts.
    introspection_endpoint: String,
    /// How clients authenticate at the revocation endpoint: public clients by id alone.
    #[schema(value_type = Vec<String>)]
    revocation_endpoint_auth_methods_supported: &'static [&'static str],
    /// How service accounts authenticate at the introspection endpoint.
    #[schema(value_type = Vec<String>)]
    introspection_endpoint_auth_methods_supported: &'static [&'static str],
    /// The JWKS of the API's published keys.
    jwks_uri: String,
    /// The userinfo endpoint.
    userinfo_endpoint: String,
    /// `code`: the authorization code flow, with PKCE.
    #[schema(value_type = Vec<String>)]
    response_types_supported: &'static [&'static str],
    /// `query`: the code comes back in the redirect URI's query.
    #[schema(value_type = Vec<String>)]
    response_modes_supported: &'static [&'static str],
    /// `S256` only (RFC 7636 §4.2; `plain` is refused).
    #[schema(value_type = Vec<String>)]
    code_challenge_methods_supported: &'static [&'static str],
    /// The scopes an app may ask for.
    #[schema(value_type = Vec<String>)]
    scopes_supported: &'static [&'static str],
    /// The authorization response names its issuer in `iss` (RFC 9207).
    authorization_response_iss_parameter_supported: bool,
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
    params(("api" = String, Path,
        description = "The API's name (on its app host: `/api/.well-known/openid-configuration`)")),
    responses((status = 200, description = "OpenID Provider metadata", body = DiscoveryDocument)),
)]
pub(crate) fn discovery(call: EndpointCall<'_>) -> Response {
    let endpoint = |path: &str| format!("{}/{path}", call.issuer);
    // The login page sits beside `/api` on an app host, under the API's base elsewhere.
    let authorization_endpoint = match call.target.host_kind {
        HostKind::App => format!("{}/{LOGIN_SEGMENT}", call.own_origin()),
        HostKind::Regional => endpoint(LOGIN_SEGMENT),
    };
    let document = DiscoveryDocument {
        authorization_endpoint,
        token_endpoint: endpoint("_token"),
        revocation_endpoint: endpoint("_revoke"),
        introspection_endpoint: endpoint("_introspect"),
        revocation_endpoint_auth_methods_supported: &[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported: &[
            "client_secret_basic",
            "client_secret_post",
        ],
        jwks_uri: endpoint(".well-known/jwks.json"),
        userinfo_endpoint: endpoint("_userinfo"),
        issuer: call.issuer,
        response_types_supported: &["code"],
        response_modes_supported: &["query"],
        code_challenge_methods_supported: &["S256"],
        scopes_supported: &["openid", "profile", "email", "offline_access"],
        authorization_response_iss_parameter_supported: true,
        subject_types_supported: &["public"],
        id_token_signing_alg_values_supported: &[ALGORITHM],
        grant_types_supported: &["authorization_code", "client_credentials", "refresh_token"],
        // `none`: public clients send only their `client_id`.
        token_endpoint_auth_methods_supported: &[
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        claims_supported: &[
            "iss",
            "aud",
            "sub",
            "exp",
            "iat",
            "jti",
            "auth_time",
            "nonce",
            "azp",
            "sid",
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
    params(("api" = String, Path,
        description = "The API's name (on its app host the path is `/api/.well-known/jwks.json`)")),
    responses((status = 200, description = "The API's published keys (RFC 7517)", body = Jwks)),
)]
pub(crate) fn jwks(call: EndpointCall<'_>) -> Response {
    let jwks = call.api.keys.at(call.now).jwks.clone();
    json_with_cache_control(jwks, METADATA_CACHE_CONTROL)
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use restapi_shared::token::Jwks;

    use crate::test_support::*;

    #[tokio::test]
    async fn discovery_names_the_endpoints_of_the_host_that_was_asked() {
        let fixture = Fixture::new();
        let cases = [
            (
                REGIONAL,
                "/shop/.well-known/openid-configuration",
                "http://eu.localhost/shop",
                "http://eu.localhost/shop/login",
            ),
            (
                REGIONAL,
                "/shop/.well-known/oauth-authorization-server",
                "http://eu.localhost/shop",
                "http://eu.localhost/shop/login",
            ),
            (
                "shop.restapi.localhost:8080",
                "/api/.well-known/openid-configuration",
                "http://shop.restapi.localhost:8080/api",
                "http://shop.restapi.localhost:8080/login",
            ),
        ];
        for (host, path, issuer, authorization_endpoint) in cases {
            let answer = fixture.send(get(host, path)).await;
            assert_eq!(answer.status, StatusCode::OK);
            assert_eq!(answer.header("cache-control"), "public, max-age=300");
            assert_eq!(answer.json["issuer"], issuer);
            assert_eq!(answer.json["token_endpoint"], format!("{issuer}/_token"));
            assert_eq!(
                answer.json["jwks_uri"],
                format!("{issuer}/.well-known/jwks.json")
            );
            assert_eq!(
                answer.json["userinfo_endpoint"],
                format!("{issuer}/_userinfo")
            );
            assert_eq!(
                answer.json["id_token_signing_alg_values_supported"],
                serde_json::json!(["ES256"])
            );
            assert_eq!(
                answer.json["authorization_endpoint"],
                authorization_endpoint
            );
            assert_eq!(
                answer.json["response_types_supported"],
                serde_json::json!(["code"])
            );
            assert_eq!(
                answer.json["code_challenge_methods_supported"],
                serde_json::json!(["S256"])
            );
        }
    }

    #[tokio::test]
    async fn a_custom_domain_is_its_own_issuer_and_keeps_operational_paths_for_the_web_app() {
        let mut snapshot = snapshot();
        snapshot.apis[0].domains = vec![restapi_shared::push::DomainConfig {
            name: "login.example.com".into(),
            ..Default::default()
        }];
        let fixture = Fixture::with(settings(None), snapshot);
        let answer = fixture
            .send(get(
                "login.example.com",
                "/api/.well-known/openid-configuration",
            ))
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.json["issuer"], "http://login.example.com/api");
        assert_eq!(
            answer.json["authorization_endpoint"],
            "http://login.example.com/login"
        );
        // `/healthz` on a custom domain is the web app's path, like on the app host.
        let answer = fixture.send(get("login.example.com", "/healthz")).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.header("content-type"), "text/html; charset=utf-8");
    }

    #[tokio::test]
    async fn pending_key_is_published_before_it_signs_and_retired_key_is_withdrawn() {
        let mut snapshot = snapshot();
        snapshot.apis[0].signing_keys = vec![
            signing_key("key_old", 0, Some(NOW + 1_000)),
            signing_key("key_pending", NOW + 300, None),
        ];
        let fixture = Fixture::with(settings(None), snapshot);
        let kids = |jwks: &serde_json::Value| -> Vec<String> {
            let jwks: Jwks = serde_json::from_value(jwks.clone()).unwrap();
            jwks.keys.into_iter().map(|key| key.kid).collect()
        };
        let signing_kid = |token: &str| -> String {
            let header = token.split('.').next().unwrap();
            let header =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                    .unwrap();
            serde_json::from_slice::<serde_json::Value>(&header).unwrap()["kid"]
                .as_str()
                .unwrap()
                .to_owned()
        };

        let jwks = fixture
            .send(get(REGIONAL, "/shop/.well-known/jwks.json"))
            .await;
        assert_eq!(jwks.header("cache-control"), "public, max-age=300");
        assert_eq!(kids(&jwks.json), ["key_old", "key_pending"]);
        let token = fixture.client_credentials("shop", "cid_billing").await;
        assert_eq!(
            signing_kid(token["access_token"].as_str().unwrap()),
            "key_old"
        );

        fixture.clock.advance(300);
        let token = fixture.client_credentials("shop", "cid_billing").await;
        assert_eq!(
            signing_kid(token["access_token"].as_str().unwrap()),
            "key_pending"
        );

        fixture.clock.advance(700);
        let jwks = fixture
            .send(get("shop.restapi.localhost", "/api/.well-known/jwks.json"))
            .await;
        assert_eq!(kids(&jwks.json), ["key_pending"]);
    }
}
