//! `/login` as the OAuth 2.0 authorization endpoint of the API's public clients: the
//! authorization code flow (RFC 6749 §4.1) with PKCE (RFC 7636) for native apps (RFC 8252)
//! and single-page apps.
//!
//! The request is checked before anything else. An unknown client or a redirect URI the
//! client did not register gets an error page and never a redirect (§4.1.2.1); every other
//! fault is reported to the client at its redirect URI. The checked request then travels in
//! the login cookie through the sign-in at the provider, and the callback answers the client
//! with a code: the user, the client, the redirect URI and the PKCE challenge, sealed with
//! the API's key and valid [`CODE_TTL`] seconds. Nothing is stored; the control plane
//! records the code's single use when the token endpoint redeems it.

use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Url;
use restapi_shared::clock::UnixTime;
use restapi_shared::push::ClientConfig;
use serde::{Deserialize, Serialize};

use crate::config::ApiState;

/// How long a code may wait for its exchange at the token endpoint, in seconds.
pub(crate) const CODE_TTL: i64 = 60;

/// Scopes the platform knows; others asked for are left out of the grant (RFC 6749 §3.3).
const KNOWN_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];

/// The longest `state` and `nonce` taken: both travel in the login cookie, which browsers
/// drop beyond 4 KiB.
const MAX_ECHOED_LEN: usize = 512;

/// The prefix of authorization codes, so that one is never mistaken for another token.
const CODE_PREFIX: &str = "rac_";

/// A checked authorization request, carried in the login cookie until the callback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// The client's `state`, returned as sent.
    pub state: Option<String>,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// The client's OpenID Connect `nonce`, put into the ID token.
    pub nonce: Option<String>,
    /// The S256 PKCE challenge the code's verifier must match.
    pub code_challenge: String,
}

/// Why an authorization request cannot go on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The client or its redirect URI cannot be trusted: shown on a page, never redirected.
    Page(&'static str),
    /// Reported to the client at its redirect URI (§4.1.2.1).
    Redirect {
        request: Box<AuthorizationRequest>,
        error: &'static str,
        description: &'static str,
    },
}

/// The parameters of an authorization request as sent; each at most once (§3.1).
#[derive(Default, Deserialize)]
struct Params {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    scope: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    // The hosted login's own parameter; an authorization request ignores it.
    #[serde(rename = "redirect")]
    _redirect: Option<String>,
}

/// Whether `query` is an authorization request rather than a visit of the login page.
pub(crate) fn is_authorization_request(query: &str) -> bool {
    form_urlencoded_keys(query).any(|key| key == "response_type" || key == "client_id")
}

fn form_urlencoded_keys(query: &str) -> impl Iterator<Item = &str> {
    query
        .split('&')
        .map(|pair| pair.split_once('=').map_or(pair, |(key, _)| key))
}

/// Checks the authorization request in `query` against the API's clients.
pub(crate) fn check(api: &ApiState, query: &str) -> Result<AuthorizationRequest, Refusal> {
    // A repeated parameter fails here, before the redirect URI can be trusted.
    let params: Params = serde_urlencoded::from_str(query)
        .map_err(|_| Refusal::Page("The request repeats or garbles a parameter."))?;
    let client = params
        .client_id
        .as_deref()
        .and_then(|client_id| api.client(client_id))
        .ok_or(Refusal::Page("This application is not known here."))?;
    let redirect_uri = params
        .redirect_uri
        .filter(|uri| is_registered(client, uri))
        .ok_or(Refusal::Page(
            "This application asked to return to an address it has not registered.",
        ))?;

    let scope = params
        .scope
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|scope| KNOWN_SCOPES.contains(scope))
        .collect::<Vec<_>>()
        .join(" ");
    let request = AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri,
        state: params.state,
        scope,
        nonce: params.nonce,
        code_challenge: params.code_challenge.unwrap_or_default(),
    };
    let refuse = |error, description| {
        Err(Refusal::Redirect {
            request: Box::new(request.clone()),
            error,
            description,
        })
    };
    if params.response_type.as_deref() != Some("code") {
        return refuse(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    if request.code_challenge.is_empty() {
        return refuse("invalid_request", "code_challenge is required (PKCE)");
    }
    // RFC 7636 §4.3: an absent method means `plain`, which is refused like a named one.
    if params.code_challenge_method.as_deref() != Some("S256") {
        return refuse(
            "invalid_request",
            "code_challenge_method must be S256 (plain is not supported)",
        );
    }
    if !is_s256_challenge(&request.code_challenge) {
        return refuse(
            "invalid_request",
            "code_challenge is not a base64url SHA-256",
        );
    }
    let too_long =
        |value: &Option<String>| value.as_ref().is_some_and(|v| v.len() > MAX_ECHOED_LEN);
    if too_long(&request.state) || too_long(&request.nonce) {
        return refuse(
            "invalid_request",
            "state and nonce may have 512 characters at most",
        );
    }
    Ok(request)
}

/// An error answered to the client at its redirect URI (§4.1.2.1).
pub(crate) fn error_redirect(
    request: &AuthorizationRequest,
    error: &str,
    description: &str,
    issuer: &str,
) -> Response {
    let mut pairs = vec![("error", error), ("error_description", description)];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", issuer));
    redirect_to(&request.redirect_uri, &pairs)
}

/// The successful answer (§4.1.2): the client's redirect URI with the code, its `state` and
/// the issuer (RFC 9207, so that a client talking to several servers knows which answered).
pub(crate) fn code_redirect(request: &AuthorizationRequest, code: &str, issuer: &str) -> Response {
    let mut pairs = vec![("code", code)];
    if let Some(state) = &request.state {
        pairs.push(("state", state));
    }
    pairs.push(("iss", issuer));
    redirect_to(&request.redirect_uri, &pairs)
}

fn redirect_to(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    // The URI was registered and checked, so it parses; a query it has is kept (§3.1.2).
    let Ok(mut location) = Url::parse(redirect_uri) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    location.query_pairs_mut().extend_pairs(pairs);
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location.as_str()) {
        headers.insert(LOCATION, value);
    }
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whether `requested` is one of the client's redirect URIs: the same string, or for a
/// loopback URI the same but for the port, which native apps pick at run time (RFC 8252
/// §7.3).
pub(crate) fn is_registered(client: &ClientConfig, requested: &str) -> bool {
    client
        .redirect_uris
        .iter()
        .any(|registered| registered == requested || same_loopback(registered, requested))
}

fn same_loopback(registered: &str, requested: &str) -> bool {
    let (Ok(registered), Ok(requested)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    let loopback = |url: &Url| {
        url.scheme() == "http"
            && matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
    };
    loopback(&registered)
        && loopback(&requested)
        && registered.host_str() == requested.host_str()
        && registered.path() == requested.path()
        && registered.query() == requested.query()
        && requested.username().is_empty()
        && requested.password().is_none()
        && requested.fragment().is_none()
}

/// RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters of the base64url alphabet.
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// What a code stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CodeClaims {
    /// The code's identity, whose single use the control plane records.
    pub jti: String,
    /// The refresh family the exchange starts; a second exchange revokes it.
    pub family: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    /// The user who signed in.
    pub sub: String,
    pub scope: String,
    pub nonce: Option<String>,
    /// When the user signed in.
    pub auth_time: UnixTime,
}

impl CodeClaims {
    /// When the code stops being honoured.
    pub fn expires_at(&self) -> UnixTime {
        self.auth_time + CODE_TTL
    }
}

/// Why a code was refused (`invalid_grant` alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CodeError {
    /// Not a code of this API, or tampered with.
    Invalid,
    /// Older than [`CODE_TTL`].
    Expired,
}

/// The associated data of codes: the API's id, and the kind of value, so that a code is
/// never opened as another sealed value of the API.
fn code_context(api: &ApiState) -> Vec<u8> {
    format!("{}#code", api.id).into_bytes()
}

/// Seals `claims` into a code of `api`.
pub(crate) fn seal_code(api: &ApiState, claims: &CodeClaims) -> String {
    // Serialising a struct of strings and an integer cannot fail.
    let plaintext = serde_json::to_vec(claims).unwrap_or_default();
    let sealed = api.sealing_key.seal(&code_context(api), &plaintext);
    let mut code = String::from(CODE_PREFIX);
    URL_SAFE_NO_PAD.encode_string(sealed, &mut code);
    code
}

/// Opens a code of `api` and checks its age at `now`.
pub(crate) fn open_code(
    api: &ApiState,
    code: &str,
    now: UnixTime,
) -> Result<CodeClaims, CodeError> {
    let encoded = code.strip_prefix(CODE_PREFIX).ok_or(CodeError::Invalid)?;
    let sealed = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| CodeError::Invalid)?;
    let plaintext = api
        .sealing_key
        .open(&code_context(api), &sealed)
        .map_err(|_| CodeError::Invalid)?;
    let claims: CodeClaims = serde_json::from_slice(&plaintext).map_err(|_| CodeError::Invalid)?;
    if now < claims.auth_time || now >= claims.expires_at() {
        return Err(CodeError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(uris: &[&str]) -> ClientConfig {
        ClientConfig {
            client_id: "app_1".into(),
            name: "App".into(),
            redirect_uris: uris.iter().map(|uri| (*uri).to_owned()).collect(),
        }
    }

    #[test]
    fn loopback_uris_match_on_any_port_and_nothing_else_does() {
        let app = client(&[
            "http://127.0.0.1/callback",
            "http://[::1]:8000/cb",
            "com.example.app:/oauth",
            "https://app.example.com/cb",
        ]);
        for allowed in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:51234/callback",
            "http://[::1]:9/cb",
            "com.example.app:/oauth",
            "https://app.example.com/cb",
        ] {
            assert!(is_registered(&app, allowed), "{allowed}");
        }
        for refused in [
            "http://127.0.0.1:51234/other",
            "http://localhost:51234/callback",
            "http://127.0.0.1:5/callback?x=1",
            "https://127.0.0.1/callback",
            "http://user@127.0.0.1:5/callback",
            "com.example.app:/oauth/x",
            "https://app.example.com:444/cb",
            "https://app.example.com/cb#x",
            "https://evil.example/cb",
        ] {
            assert!(!is_registered(&app, refused), "{refused}");
        }
    }

    #[test]
    fn only_s256_challenges_of_the_right_shape_pass() {
        assert!(is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"
        ));
        assert!(!is_s256_challenge(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"
        ));
    }

    #[test]
    fn authorization_requests_are_told_from_visits() {
        assert!(is_authorization_request("response_type=code&client_id=x"));
        assert!(is_authorization_request("client_id=x"));
        assert!(!is_authorization_request("redirect=%2F"));
        assert!(!is_authorization_request(""));
    }
}
