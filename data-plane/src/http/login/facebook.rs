//! Facebook Login: the OAuth 2.0 code flow, then the Graph API's `/me` for the identity.
//!
//! Facebook issues no ID token on the web flow. The code is exchanged for an access token at
//! `oauth/access_token`, and `/me?fields=id,name,email` says who signed in. Every Graph call
//! carries `appsecret_proof`, the HMAC-SHA256 of the access token keyed with the app secret,
//! so a token that leaked from elsewhere cannot be used with our app id (and apps that turn on
//! "Require App Secret" in Facebook's settings work).

use restapi_shared::push::ProviderConfig;
use restapi_shared::secret::SecretString;
use ring::hmac;
use serde::Deserialize;

use super::{ExternalIdentity, IdentitySource, LoginError, Preset};

/// Facebook: no OpenID Connect; the code flow ends at the Graph API (see [`sign_in`]).
pub(super) const PRESET: Preset = Preset {
    default_scopes: DEFAULT_SCOPES,
    identity_source: IdentitySource::GraphApi,
    ..super::GENERIC
};

/// Scopes asked for when the provider names none.
const DEFAULT_SCOPES: &[&str] = &["email", "public_profile"];

/// The fields of `/me` a sign-in reads.
const ME_FIELDS: &str = "id,name,email";

/// Largest answer read from Facebook; its token and `/me` answers are a few hundred bytes.
const RESPONSE_LIMIT: usize = 64 * 1024;

/// What can go wrong while asking Facebook who signed in.
#[derive(Debug, thiserror::Error)]
enum FacebookError {
    /// Facebook could not be reached, or its answer could not be read.
    #[error("Facebook could not be reached: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// Facebook answered with an error (a bad code, a wrong app secret, a bad proof); the text
    /// is Facebook's and goes only to the log.
    #[error("Facebook refused the {step} with status {status}: {message}")]
    Refused {
        step: &'static str,
        status: u16,
        message: String,
    },
    /// The answer is not the JSON Facebook documents.
    #[error("Facebook's answer to the {0} is not the documented JSON")]
    BadResponse(&'static str),
}

/// The request a sign-in ends with: where to exchange the code and where `/me` is.
pub(super) struct GraphSignIn<'a> {
    pub provider: &'a ProviderConfig,
    /// `oauth/access_token`.
    pub token_endpoint: &'a str,
    /// The Graph API's `/me`.
    pub me_endpoint: Option<&'a str>,
    /// The `redirect_uri` of the dialog, sent again with the code.
    pub redirect_uri: &'a str,
    /// The PKCE verifier of the challenge sent to the dialog (RFC 7636 §4.5).
    pub code_verifier: &'a str,
}

/// Exchanges the authorization `code` for an access token and reads the identity from `/me`.
pub(super) async fn sign_in(
    http: &reqwest::Client,
    request: GraphSignIn<'_>,
    code: &str,
) -> Result<ExternalIdentity, LoginError> {
    let provider = request.provider;
    let app_secret = provider
        .client_secret
        .as_ref()
        .ok_or(LoginError::Misconfigured("no app secret"))?;
    let me_endpoint = request
        .me_endpoint
        .ok_or(LoginError::Misconfigured("no /me endpoint"))?;
    let me_url = reqwest::Url::parse(me_endpoint)
        .map_err(|_| LoginError::Misconfigured("the /me endpoint is not a URL"))?;

    let access_token = exchange_code(http, &request, app_secret, code)
        .await
        .map_err(|error| {
            tracing::info!(provider = %provider.id, %error, "Facebook code exchange failed");
            match error {
                FacebookError::Refused { .. } => LoginError::CodeRefused,
                FacebookError::Unreachable(_) | FacebookError::BadResponse(_) => {
                    LoginError::ProviderUnreachable
                }
            }
        })?;
    fetch_identity(http, me_url, app_secret, &access_token)
        .await
        .map_err(|error| {
            tracing::info!(provider = %provider.id, %error, "Facebook profile request failed");
            match error {
                FacebookError::Refused { .. } => {
                    LoginError::IdTokenInvalid("Graph API refused /me")
                }
                FacebookError::Unreachable(_) | FacebookError::BadResponse(_) => {
                    LoginError::ProviderUnreachable
                }
            }
        })
}

/// `oauth/access_token`: the code, our app id and secret, and the redirect URI used in the
/// dialog. Sent as a form POST, which Facebook accepts as well as the documented GET, so the
/// app secret stays out of URLs and their logs.
async fn exchange_code(
    http: &reqwest::Client,
    request: &GraphSignIn<'_>,
    app_secret: &SecretString,
    code: &str,
) -> Result<SecretString, FacebookError> {
    const STEP: &str = "code exchange";
    let form = [
        ("client_id", request.provider.client_id.as_str()),
        ("client_secret", app_secret.expose()),
        ("redirect_uri", request.redirect_uri),
        ("code", code),
        ("code_verifier", request.code_verifier),
    ];
    let body = serde_urlencoded::to_string(form).map_err(|_| FacebookError::BadResponse(STEP))?;
    let request = http
        .post(request.token_endpoint)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body);

    let answer: TokenAnswer = call(request, STEP).await?;
    if !answer
        .token_type
        .as_deref()
        .is_none_or(|kind| kind.eq_ignore_ascii_case("bearer"))
    {
        return Err(FacebookError::BadResponse(STEP));
    }
    Ok(SecretString::new(answer.access_token))
}

/// `GET /me?fields=id,name,email&appsecret_proof=…` with the access token as a bearer token.
async fn fetch_identity(
    http: &reqwest::Client,
    mut url: reqwest::Url,
    app_secret: &SecretString,
    access_token: &SecretString,
) -> Result<ExternalIdentity, FacebookError> {
    const STEP: &str = "profile request";
    url.query_pairs_mut()
        .append_pair("fields", ME_FIELDS)
        .append_pair(
            "appsecret_proof",
            &appsecret_proof(app_secret, access_token),
        );
    let request = http
        .get(url)
        .bearer_auth(access_token.expose())
        .header(reqwest::header::ACCEPT, "application/json");

    let me: Me = call(request, STEP).await?;
    identity_from_me(me).ok_or(FacebookError::BadResponse(STEP))
}

/// Graph API "Securing Requests": hex HMAC-SHA256 of the access token, keyed with the secret.
fn appsecret_proof(app_secret: &SecretString, access_token: &SecretString) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, app_secret.expose().as_bytes());
    hex::encode(hmac::sign(&key, access_token.expose().as_bytes()).as_ref())
}

/// Sends a request and reads its JSON answer, or Facebook's error object.
async fn call<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
    step: &'static str,
) -> Result<T, FacebookError> {
    let response = request.send().await.map_err(FacebookError::Unreachable)?;
    let status = response.status();
    let body = read_limited(response, RESPONSE_LIMIT)
        .await
        .map_err(FacebookError::Unreachable)?;
    let Some(body) = body else {
        return Err(FacebookError::BadResponse(step));
    };

    if !status.is_success() {
        let message = serde_json::from_slice::<ErrorAnswer>(&body)
            .map(|answer| answer.error.message)
            .unwrap_or_default();
        return Err(FacebookError::Refused {
            step,
            status: status.as_u16(),
            message,
        });
    }
    serde_json::from_slice(&body).map_err(|_| FacebookError::BadResponse(step))
}

/// The body of `response`, or `None` when it is longer than `limit` bytes.
async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The identity in a `/me` answer. Facebook returns only confirmed email addresses, and none
/// at all for accounts registered with a phone number or when the user declined the scope.
fn identity_from_me(me: Me) -> Option<ExternalIdentity> {
    if me.id.is_empty() {
        return None;
    }
    let email = me.email.filter(|email| email.contains('@'));
    let name = me
        .name
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty());
    Some(ExternalIdentity {
        subject: me.id,
        email_verified: email.is_some(),
        email,
        name,
    })
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
}

#[derive(Deserialize)]
struct Me {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: ErrorObject,
}

#[derive(Deserialize)]
struct ErrorObject {
    #[serde(default)]
    message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appsecret_proof_is_the_hex_hmac_of_the_token() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let proof = appsecret_proof(
            &SecretString::new("Jefe".into()),
            &SecretString::new("what do ya want for nothing?".into()),
        );
        assert_eq!(
            proof,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn me_gives_subject_name_and_a_verified_email() {
        let me: Me = serde_json::from_str(
            r#"{"id":"10158","name":"Ada Lovelace","email":"ada@example.com"}"#,
        )
        .unwrap();
        let identity = identity_from_me(me).unwrap();
        assert_eq!(identity.subject, "10158");
        assert_eq!(identity.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(identity.email.as_deref(), Some("ada@example.com"));
        assert!(identity.email_verified);
    }

    #[test]
    fn me_without_email_is_still_a_sign_in_but_an_empty_id_is_not() {
        let me: Me = serde_json::from_str(r#"{"id":"10159","name":"Phone User"}"#).unwrap();
        let identity = identity_from_me(me).unwrap();
        assert_eq!(identity.email, None);
        assert!(!identity.email_verified);

        let me: Me = serde_json::from_str(r#"{"id":""}"#).unwrap();
        assert!(identity_from_me(me).is_none());
        assert!(serde_json::from_str::<Me>(r#"{"name":"No Id"}"#).is_err());
    }
}
