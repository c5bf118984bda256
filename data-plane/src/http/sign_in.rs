//! `POST _auth`: the RestAPI.com sign-in of a service account, answering `{token}`.

use axum::Json;
use axum::body::Body;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use restapi_shared::error::ErrorBody;
use restapi_shared::secret::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::body::{BodyError, MediaType, media_type, read_limited};
use super::{EndpointCall, error, no_store};
use crate::grants::{self, GrantError, IssueContext};
use crate::metrics::{GrantType, Refusal};

/// The `_auth` request of a service account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuthRequest {
    /// Always `serviceaccount`.
    #[schema(example = "serviceaccount")]
    authority: String,
    /// The service account's client id.
    client_id: String,
    /// The service account's client secret.
    #[schema(value_type = String)]
    client_secret: SecretString,
}

/// The `_auth` response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuthResponse {
    /// The access token, an ES256 JWT.
    #[schema(value_type = String)]
    token: SecretString,
}

/// `POST _auth`: a service account signs in with its client id and secret.
#[utoipa::path(
    post,
    path = "/{api}/_auth",
    tag = "restapi",
    params(("api" = String, Path,
        description = "The API's name (on its app host the path is `/api/_auth`)")),
    request_body(content = AuthRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, description = "invalid_body or unsupported_authority", body = ErrorBody),
        (status = 401, description = "invalid_credentials", body = ErrorBody),
        (status = 413, description = "payload_too_large", body = ErrorBody),
        (status = 415, description = "unsupported_media_type", body = ErrorBody),
    ),
)]
pub(crate) async fn auth(call: EndpointCall<'_>, body: Body) -> Response {
    match sign_in(&call, body).await {
        Ok(token) => {
            call.state
                .metrics
                .grant_issued(GrantType::ServiceAccountAuth);
            no_store(Json(AuthResponse { token }).into_response())
        }
        Err(error) => auth_error_response(&call, error),
    }
}

async fn sign_in(call: &EndpointCall<'_>, body: Body) -> Result<SecretString, AuthError> {
    let headers = &call.parts.headers;
    if media_type(headers) != Some(MediaType::Json) {
        return Err(AuthError::UnsupportedMediaType);
    }
    let bytes = read_limited(headers, body)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge => AuthError::TooLarge,
            BodyError::Unreadable => AuthError::InvalidBody,
        })?;
    let request: AuthRequest =
        serde_json::from_slice(&bytes).map_err(|_| AuthError::InvalidBody)?;
    if request.authority != "serviceaccount" {
        return Err(AuthError::UnsupportedAuthority);
    }
    let context = IssueContext {
        api: call.api,
        issuer: &call.issuer,
        now: call.now,
    };
    grants::service_account_sign_in(context, &request.client_id, request.client_secret.expose())
        .map_err(AuthError::Grant)
}

/// Why `_auth` failed.
#[derive(Debug)]
enum AuthError {
    UnsupportedMediaType,
    TooLarge,
    InvalidBody,
    UnsupportedAuthority,
    Grant(GrantError),
}

/// Every `_auth` refusal, mapped in one place. Credential failures all read alike, so a
/// caller cannot tell an unknown client from a wrong secret. The refusal's code is also its
/// metric label.
fn auth_error_response(call: &EndpointCall<'_>, error: AuthError) -> Response {
    let (status, refusal, message) = match error {
        AuthError::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::UnsupportedMediaType,
            "content type must be application/json",
        ),
        AuthError::TooLarge => (
            StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::PayloadTooLarge,
            "body exceeds 64 KiB",
        ),
        AuthError::InvalidBody => (
            StatusCode::BAD_REQUEST,
            Refusal::InvalidBody,
            "expected {authority, clientId, clientSecret}",
        ),
        AuthError::UnsupportedAuthority => (
            StatusCode::BAD_REQUEST,
            Refusal::UnsupportedAuthority,
            "supported authorities: serviceaccount",
        ),
        AuthError::Grant(GrantError::ClientRejected(reason)) => {
            tracing::debug!(api = %call.api.name, %reason, "sign-in refused");
            (
                StatusCode::UNAUTHORIZED,
                Refusal::InvalidCredentials,
                "wrong client id or secret",
            )
        }
        AuthError::Grant(
            error @ (GrantError::NoSigningKey
            | GrantError::InvalidRequest(_)
            | GrantError::BodyTooLarge
            | GrantError::UnsupportedGrantType
            | GrantError::RefreshRejected(_)
            | GrantError::CodeRejected(_)
            | GrantError::ControlPlaneUnavailable),
        ) => {
            tracing::warn!(api = %call.api.name, %error, "sign-in failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Refusal::ServerError,
                "sign-in failed",
            )
        }
    };
    call.state
        .metrics
        .grant_refused(Some(GrantType::ServiceAccountAuth), refusal);
    error_response(status, refusal.code(), message)
}

fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    no_store(error(status, code, message))
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use serde_json::json;

    use crate::test_support::*;

    #[tokio::test]
    async fn auth_endpoint_returns_a_token() {
        let fixture = Fixture::new();
        let body = json!({
            "authority": "serviceaccount", "clientId": "cid_billing", "clientSecret": SECRET
        });
        let answer = fixture.send(json(REGIONAL, "/shop/_auth", body)).await;

        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        let claims = fixture.verify("shop", answer.json["token"].as_str().unwrap());
        assert_eq!(claims.sub, "sa_billing");
    }

    #[tokio::test]
    async fn auth_endpoint_errors_are_plain_json_errors() {
        let fixture = Fixture::new();
        let path = "/shop/_auth";
        let cases = [
            (
                json(
                    REGIONAL,
                    path,
                    json!({
                        "authority": "serviceaccount", "clientId": "cid_billing",
                        "clientSecret": "rcs_wrong"
                    }),
                ),
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
            ),
            (
                json(
                    REGIONAL,
                    path,
                    json!({
                        "authority": "google", "clientId": "cid_billing", "clientSecret": SECRET
                    }),
                ),
                StatusCode::BAD_REQUEST,
                "unsupported_authority",
            ),
            (
                with_body(REGIONAL, path, "application/json", "{"),
                StatusCode::BAD_REQUEST,
                "invalid_body",
            ),
            (
                json(REGIONAL, path, json!({"authority": "serviceaccount"})),
                StatusCode::BAD_REQUEST,
                "invalid_body",
            ),
            (
                form(REGIONAL, path, "authority=serviceaccount"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            ),
            (
                with_body(REGIONAL, path, "application/json", &"x".repeat(70_000)),
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            ),
        ];
        for (request, status, code) in cases {
            let answer = fixture.send(request).await;
            assert_eq!(
                (answer.status, answer.json["error"].as_str()),
                (status, Some(code))
            );
            assert!(answer.json.get("token").is_none());
        }
    }
}
