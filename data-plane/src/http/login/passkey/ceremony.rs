//! One passkey ceremony between its two steps: its state, sealed into the passkey cookie, and
//! the relying party of the host it runs on.

use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id};
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    CreationChallengeResponse, DiscoverableAuthentication, Passkey, PasskeyRegistration, Url, Uuid,
    Webauthn, WebauthnBuilder,
};

use super::super::super::EndpointCall;
use super::super::super::session::SessionCookie;
use super::super::LoginHost;
use super::super::authorization::AuthorizationRequest;
use super::super::state::{self, StateError};
use super::{CEREMONY_TTL, PasskeyError};
use crate::cookies;

/// The state of one ceremony, sealed into the passkey cookie between its two steps.
#[derive(Serialize, Deserialize)]
pub(super) struct Ceremony {
    /// The API it is for.
    pub api: String,
    /// The origin of the page that started it: the relying party it is bound to.
    pub origin: String,
    /// A random id, recorded by the control plane when a sign-in spends it.
    pub challenge_id: String,
    /// When it started.
    pub created_at: UnixTime,
    /// Where the person goes once signed in, already checked.
    pub destination: Destination,
    /// What it is for, with webauthn-rs' state of it.
    pub step: Step,
}

/// Where a passkey sign-in ends.
#[derive(Serialize, Deserialize)]
pub(super) enum Destination {
    /// The browser session: cookies, then this address on the API's site.
    Browser(String),
    /// An app's authorization request (the hosted login as its authorization endpoint): a
    /// code at the app's redirect URI, and no cookies.
    App(AuthorizationRequest),
}

impl std::fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony")
            .field("api", &self.api)
            .field("origin", &self.origin)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
pub(super) enum Step {
    /// Signing in with any of the API's passkeys (discoverable credentials).
    SignIn(DiscoverableAuthentication),
    /// Creating an account with a new passkey.
    SignUp {
        registration: PasskeyRegistration,
        name: String,
        email: Option<String>,
        user_handle: String,
    },
    /// Adding a passkey to the signed-in user's account.
    Add {
        registration: PasskeyRegistration,
        user_id: String,
        user_handle: String,
    },
}

/// The relying party of the host a request came through.
pub(super) struct RelyingParty {
    pub webauthn: Webauthn,
    pub origin: String,
}

impl RelyingParty {
    /// Its id is the host name, its only origin the page's own (`scheme://host[:port]`).
    pub(super) fn of(host: &LoginHost, name: &str) -> Result<Self, PasskeyError> {
        let origin = Url::parse(&host.own_origin).map_err(|_| PasskeyError::HostNotRelyingParty)?;
        let rp_id = origin
            .domain()
            .ok_or(PasskeyError::HostNotRelyingParty)?
            .to_owned();
        let timeout = std::time::Duration::from_secs(CEREMONY_TTL.unsigned_abs());
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .map(|builder| builder.rp_name(name).timeout(timeout))
            .and_then(WebauthnBuilder::build)
            .map_err(|_| PasskeyError::HostNotRelyingParty)?;
        Ok(Self {
            webauthn,
            origin: host.own_origin.clone(),
        })
    }
}

pub(super) fn new_ceremony(
    call: &EndpointCall<'_>,
    party: &RelyingParty,
    destination: Destination,
    step: Step,
) -> Ceremony {
    Ceremony {
        api: call.api.id.clone(),
        origin: party.origin.clone(),
        challenge_id: new_id(ids::PASSKEY_CHALLENGE),
        created_at: call.now,
        destination,
        step,
    }
}

/// The options as JSON, with the ceremony sealed into the passkey cookie.
pub(super) fn options_response<T: Serialize>(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    ceremony: &Ceremony,
    options: &T,
) -> Response {
    let sealed = state::seal_value(
        &call.api.login_key,
        &sealing_context(&call.api.id),
        ceremony,
    );
    let cookie = SessionCookie {
        name: host.scope.passkey_name,
        value: &sealed,
        path: &host.scope.path,
        max_age: CEREMONY_TTL,
        secure: host.scope.secure,
        // Only the login page's own scripts post it back.
        same_site: "Strict",
    };
    let mut response = super::super::super::no_store(axum::Json(options).into_response());
    response.headers_mut().append(SET_COOKIE, cookie.header());
    response
}

/// The passkey cookie, opened and checked: this API's, fresh, and started on this origin.
pub(super) fn opened_ceremony(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    party: &RelyingParty,
) -> Result<Ceremony, PasskeyError> {
    let cookie = cookies::read(&call.parts.headers, host.scope.passkey_name)
        .ok_or(PasskeyError::ChallengeMissing)?;
    let context = sealing_context(&call.api.id);
    let ceremony: Ceremony = state::open_value(&call.api.login_key, &context, cookie).map_err(
        |failure| match failure {
            StateError::Invalid | StateError::Expired => PasskeyError::ChallengeInvalid,
        },
    )?;
    if ceremony.api != call.api.id {
        return Err(PasskeyError::ChallengeInvalid);
    }
    if call.now < ceremony.created_at || call.now - ceremony.created_at > CEREMONY_TTL {
        return Err(PasskeyError::ChallengeExpired);
    }
    if ceremony.origin != party.origin {
        return Err(PasskeyError::HostMismatch);
    }
    Ok(ceremony)
}

/// The associated data of passkey cookies: distinct from the login cookie's, so that one
/// cannot be passed off as the other.
fn sealing_context(api_id: &str) -> Vec<u8> {
    format!("{api_id}/passkey").into_bytes()
}

/// The creation options as JSON, asking for a discoverable credential (a passkey the browser
/// can offer without a user name): WebAuthn §5.4.4 `residentKey` `required`, and Level 1's
/// `requireResidentKey` for older browsers.
pub(super) fn discoverable(
    options: CreationChallengeResponse,
) -> Result<serde_json::Value, PasskeyError> {
    let mut options = serde_json::to_value(options).map_err(|_| PasskeyError::Unavailable)?;
    let selection = &mut options["publicKey"]["authenticatorSelection"];
    selection["residentKey"] = "required".into();
    selection["requireResidentKey"] = true.into();
    // User verification stays `required`, as webauthn-rs asks and checks: a passkey is the
    // only factor of the sign-in, so the authenticator must have verified the person (PIN or
    // biometrics), not merely seen a touch.
    Ok(options)
}

/// A fresh random user handle: WebAuthn §14.6.1 wants no personal data in it.
pub(super) fn new_user_handle() -> Uuid {
    let mut bytes = [0u8; 16];
    restapi_shared::ids::fill_random(&mut bytes);
    Uuid::from_bytes(bytes)
}

pub(super) fn decode_user_handle(handle: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(handle).ok()?;
    Uuid::from_slice(&bytes).ok()
}

pub(super) fn credential_json(passkey: &Passkey) -> Result<serde_json::Value, PasskeyError> {
    serde_json::to_value(passkey).map_err(|_| PasskeyError::Unavailable)
}

#[cfg(test)]
mod tests {
    use restapi_shared::aead::SealingKey;

    use super::*;

    #[test]
    fn options_ask_for_a_discoverable_credential() {
        let party = RelyingParty {
            webauthn: WebauthnBuilder::new(
                "shop.apps.test",
                &Url::parse("https://shop.apps.test").unwrap(),
            )
            .unwrap()
            .build()
            .unwrap(),
            origin: "https://shop.apps.test".to_owned(),
        };
        let (options, _) = party
            .webauthn
            .start_passkey_registration(new_user_handle(), "ada", "Ada", None)
            .unwrap();
        let options = discoverable(options).unwrap();
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["requireResidentKey"], true);
        assert_eq!(options["publicKey"]["rp"]["id"], "shop.apps.test");
    }

    #[test]
    fn user_handles_are_random_and_round_trip() {
        let (first, second) = (new_user_handle(), new_user_handle());
        assert_ne!(first, second);
        let encoded = URL_SAFE_NO_PAD.encode(first.as_bytes());
        assert_eq!(decode_user_handle(&encoded), Some(first));
        assert_eq!(decode_user_handle("not base64!"), None);
        assert_eq!(decode_user_handle("AAAA"), None);
    }

    #[test]
    fn a_ceremony_sealed_for_one_api_opens_for_no_other_and_not_as_a_login_state() {
        let key = SealingKey::new(&[7; 32]).unwrap();
        let sealed = state::seal_value(&key, &sealing_context("api_1"), &"ceremony");
        let opened: Result<String, _> = state::open_value(&key, &sealing_context("api_1"), &sealed);
        assert_eq!(opened.unwrap(), "ceremony");
        let foreign: Result<String, _> =
            state::open_value(&key, &sealing_context("api_2"), &sealed);
        assert_eq!(foreign, Err(StateError::Invalid));
        // The login cookie of the same API is sealed with the API id alone.
        assert_eq!(
            state::open(&key, "api_1", &sealed, 0).map(|_| ()),
            Err(StateError::Invalid)
        );
    }
}
