//! The state of one sign-in, kept in the login cookie between `login/start` and the
//! provider's callback.
//!
//! Nothing is stored on the server: the state is sealed with the API's login key
//! (AES-256-GCM, the API id as associated data), so it cannot be read, forged, or carried to
//! another API, and it is honoured for [`LOGIN_STATE_TTL`] by the data plane's clock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use restapi_shared::aead::SealingKey;
use restapi_shared::clock::UnixTime;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::authorization::AuthorizationRequest;

/// How long a sign-in may take from `login/start` to the callback, in seconds.
pub(crate) const LOGIN_STATE_TTL: i64 = 600;

/// What the callback needs to finish a sign-in it started.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LoginState {
    /// The API the sign-in is for.
    pub api: String,
    /// The provider the browser was sent to.
    pub provider: String,
    /// The OAuth `state` sent to the provider (RFC 6749 §10.12).
    pub state: String,
    /// The OpenID Connect `nonce` the ID token must carry (Core §3.1.2.1).
    pub nonce: String,
    /// The PKCE code verifier (RFC 7636 §4.1).
    pub verifier: String,
    /// Where the browser goes once signed in, already checked.
    pub redirect: String,
    /// When the sign-in started.
    pub created_at: UnixTime,
    /// The app's authorization request, when the sign-in is for a public client: then the
    /// callback answers the app with a code instead of setting cookies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationRequest>,
}

impl std::fmt::Debug for LoginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginState")
            .field("api", &self.api)
            .field("provider", &self.provider)
            .field("redirect", &self.redirect)
            .field("created_at", &self.created_at)
            .field(
                "client_id",
                &self
                    .authorization
                    .as_ref()
                    .map(|request| &request.client_id),
            )
            .finish_non_exhaustive()
    }
}

/// Why the login cookie was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StateError {
    /// Not sealed by this API's key for this API: tampered with, or another API's.
    #[error("login state is invalid")]
    Invalid,
    /// Older than [`LOGIN_STATE_TTL`].
    #[error("login state has expired")]
    Expired,
}

/// Seals `state` for the API `api_id` into a cookie value.
pub(crate) fn seal(key: &SealingKey, api_id: &str, state: &LoginState) -> String {
    seal_value(key, api_id.as_bytes(), state)
}

/// Seals any state into a cookie value, bound to `context` (associated data): a value sealed
/// for one context does not open in another.
pub(crate) fn seal_value<T: Serialize>(key: &SealingKey, context: &[u8], state: &T) -> String {
    // The states sealed here are plain data, whose serialisation cannot fail.
    let plaintext = serde_json::to_vec(state).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(key.seal(context, &plaintext))
}

/// Opens a value sealed by [`seal_value`] for `context`; its age is the caller's to check.
pub(crate) fn open_value<T: DeserializeOwned>(
    key: &SealingKey,
    context: &[u8],
    value: &str,
) -> Result<T, StateError> {
    let sealed = URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| StateError::Invalid)?;
    let plaintext = key
        .open(context, &sealed)
        .map_err(|_| StateError::Invalid)?;
    serde_json::from_slice(&plaintext).map_err(|_| StateError::Invalid)
}

/// Opens a login cookie of the API `api_id` and checks its age at `now`.
pub(crate) fn open(
    key: &SealingKey,
    api_id: &str,
    value: &str,
    now: UnixTime,
) -> Result<LoginState, StateError> {
    let state: LoginState = open_value(key, api_id.as_bytes(), value)?;
    if state.api != api_id {
        return Err(StateError::Invalid);
    }
    if now < state.created_at || now - state.created_at > LOGIN_STATE_TTL {
        return Err(StateError::Expired);
    }
    Ok(state)
}

/// A random value of 256 bits, base64url: for `state`, `nonce` and the PKCE verifier (whose
/// 43 characters are within RFC 7636 §4.1's 43 to 128).
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    restapi_shared::ids::fill_random(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> LoginState {
        LoginState {
            api: "api_1".into(),
            provider: "idp_1".into(),
            state: random_token(),
            nonce: random_token(),
            verifier: random_token(),
            redirect: "/".into(),
            created_at: 1_000,
            authorization: None,
        }
    }

    #[test]
    fn round_trips_within_ten_minutes() {
        let key = SealingKey::new(&[3; 32]).unwrap();
        let sealed = seal(&key, "api_1", &state());
        let opened = open(&key, "api_1", &sealed, 1_600).unwrap();
        assert_eq!(
            (opened.provider.as_str(), opened.redirect.as_str()),
            ("idp_1", "/")
        );
        assert_eq!(
            open(&key, "api_1", &sealed, 1_601),
            Err(StateError::Expired)
        );
        assert_eq!(open(&key, "api_1", &sealed, 999), Err(StateError::Expired));
    }

    #[test]
    fn refuses_tampered_foreign_and_garbage_values() {
        let key = SealingKey::new(&[3; 32]).unwrap();
        let sealed = seal(&key, "api_1", &state());
        assert_eq!(
            open(&key, "api_2", &sealed, 1_000),
            Err(StateError::Invalid)
        );
        let other = SealingKey::new(&[4; 32]).unwrap();
        assert_eq!(
            open(&other, "api_1", &sealed, 1_000),
            Err(StateError::Invalid)
        );
        let mut tampered = sealed.into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            open(&key, "api_1", &tampered, 1_000),
            Err(StateError::Invalid)
        );
        assert_eq!(open(&key, "api_1", "!!", 1_000), Err(StateError::Invalid));
    }

    #[test]
    fn debug_hides_the_secrets() {
        let state = state();
        let debug = format!("{state:?}");
        assert!(!debug.contains(&state.nonce) && !debug.contains(&state.verifier));
    }
}
