//! Who is calling: the bearer token or the access cookie, verified, and the identity headers
//! the upstream receives.

use std::sync::Arc;

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use restapi_shared::clock::UnixTime;

use crate::access::Caller;
use crate::bearer::{BearerVerifier, VerifiedToken};
use crate::config::ApiState;
use crate::cookies;

/// Bytes percent-encoded in identity header values: controls, non-ASCII (always) and `%`
/// itself, so that percent-decoding any value gives back the original exactly.
const HEADER_VALUE: &AsciiSet = &CONTROLS.add(b'%');
/// In the roles list, a comma inside a role is encoded too: commas separate roles.
const ROLE_VALUE: &AsciiSet = &HEADER_VALUE.add(b',');

/// The identity headers, in the order they are added.
pub(super) const USER_ID: HeaderName = HeaderName::from_static("restapi-user-id");
pub(super) const USER_NAME: HeaderName = HeaderName::from_static("restapi-user-name");
pub(super) const USER_EMAIL: HeaderName = HeaderName::from_static("restapi-user-email");
pub(super) const USER_ROLES: HeaderName = HeaderName::from_static("restapi-user-roles");
pub(super) const CLIENT_ID: HeaderName = HeaderName::from_static("restapi-client-id");
pub(super) const API: HeaderName = HeaderName::from_static("restapi-api");

/// Where the caller's credentials came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    /// Neither a bearer token nor an access cookie.
    Nothing,
    /// `Authorization: Bearer`; the cookie, if any, is then ignored.
    Bearer,
    /// The access cookie.
    Cookie,
}

/// The caller's credentials, checked.
#[derive(Debug)]
pub(super) struct Authentication {
    pub source: Source,
    /// The verified token; `None` when nothing was presented or it did not verify.
    pub token: Option<Arc<VerifiedToken>>,
}

impl Authentication {
    /// Nobody: what a request carries once its credentials are not to be used.
    pub(super) fn anonymous() -> Self {
        Self {
            source: Source::Nothing,
            token: None,
        }
    }

    /// The caller as the access rules see it.
    pub(super) fn caller(&self) -> Caller<'_> {
        match &self.token {
            Some(token) => Caller::Authenticated {
                roles: &token.claims.roles,
            },
            None => Caller::Anonymous,
        }
    }

    /// Whether a bearer token was presented and refused: the challenge then says so
    /// (RFC 6750 §3.1 `invalid_token`).
    pub(super) fn bearer_refused(&self) -> bool {
        self.source == Source::Bearer && self.token.is_none()
    }

    /// Whether the request is authenticated by its cookie, so a browser may have sent it on
    /// another site's behalf.
    pub(super) fn by_cookie(&self) -> bool {
        self.source == Source::Cookie && self.token.is_some()
    }
}

/// Checks the bearer token or else the access cookie named `access_cookie` against `api`.
///
/// A token of another API never verifies: its audience and keys are not this API's. An
/// invalid or expired credential leaves the caller anonymous; whether that matters is the
/// access rules' business.
pub(super) fn authenticate(
    verifier: &BearerVerifier,
    api: &ApiState,
    headers: &HeaderMap,
    access_cookie: &str,
    now: UnixTime,
) -> Authentication {
    let (source, token) = match bearer_token(headers) {
        Some(token) => (Source::Bearer, token),
        None => match cookies::read(headers, access_cookie) {
            Some(token) => (Source::Cookie, token),
            None => return Authentication::anonymous(),
        },
    };
    let token = match verifier.verify(api, token, now) {
        Ok(verified) => Some(verified),
        Err(reason) => {
            tracing::debug!(api = %api.name, ?source, %reason, "credential refused");
            None
        }
    };
    Authentication { source, token }
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1), scheme case-insensitive.
/// Another scheme (such as Basic, meant for the upstream) is no bearer token.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Adds the trusted identity headers of `authentication` (if it holds a token) and the API's
/// name. The caller's own `restapi-*` headers must already be gone.
pub(super) fn add_identity_headers(
    headers: &mut HeaderMap,
    authentication: &Authentication,
    api_name: &str,
) {
    headers.insert(API, encoded(api_name, HEADER_VALUE));
    let Some(token) = &authentication.token else {
        return;
    };
    let claims = &token.claims;
    headers.insert(USER_ID, encoded(&claims.sub, HEADER_VALUE));
    headers.insert(USER_NAME, encoded(&claims.name, HEADER_VALUE));
    if let Some(email) = &claims.email {
        headers.insert(USER_EMAIL, encoded(email, HEADER_VALUE));
    }
    let roles: Vec<String> = claims
        .roles
        .iter()
        .map(|role| utf8_percent_encode(role, ROLE_VALUE).to_string())
        .collect();
    headers.insert(USER_ROLES, encoded(&roles.join(","), HEADER_VALUE));
    if let Some(client_id) = &claims.client_id {
        headers.insert(CLIENT_ID, encoded(client_id, HEADER_VALUE));
    }
}

/// `value` percent-encoded with `set`, which always yields visible ASCII and spaces: a valid
/// header value.
fn encoded(value: &str, set: &'static AsciiSet) -> HeaderValue {
    let text = utf8_percent_encode(value, set).to_string();
    // Only bytes 0x20..=0x7E remain, all valid in a header value; the fallback cannot happen.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_that_are_not_visible_ascii_are_percent_encoded_not_dropped() {
        assert_eq!(encoded("Zoë 100%", HEADER_VALUE), "Zo%C3%AB 100%25");
        assert_eq!(encoded("a\r\nb", HEADER_VALUE), "a%0D%0Ab");
        assert_eq!(
            encoded("plain@example.com", HEADER_VALUE),
            "plain@example.com"
        );
        // A comma survives in a single value but not inside one role of the list.
        assert_eq!(encoded("a,b", HEADER_VALUE), "a,b");
        assert_eq!(utf8_percent_encode("a,b", ROLE_VALUE).to_string(), "a%2Cb");
    }

    #[test]
    fn only_the_bearer_scheme_counts_as_a_bearer_token() {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert_eq!(bearer_token(&headers), Some(""));
    }
}
