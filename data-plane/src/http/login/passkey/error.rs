//! Why a passkey step did not go through, and how each reason is answered: a stable code and
//! a short message, the same on a JSON answer and on a page.

use axum::http::StatusCode;
use axum::response::Response;
use webauthn_rs::prelude::WebauthnError;

use super::super::super::{error, no_store};
use crate::metrics::SignInOutcome;

/// Why a passkey step did not go through; each maps to one stable error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PasskeyError {
    /// The API has no enabled passkey provider.
    #[error("passkeys are not enabled")]
    NotEnabled,
    /// The host is no domain name (an IP address), so it cannot be a relying party id.
    #[error("host cannot be a relying party")]
    HostNotRelyingParty,
    /// The ceremony was started on another host than the one finishing it.
    #[error("ceremony started on another host")]
    HostMismatch,
    /// The browser says the credential was made for another origin.
    #[error("origin mismatch")]
    OriginMismatch,
    /// The authenticator signed for another relying party id.
    #[error("relying party id mismatch")]
    RelyingPartyIdMismatch,
    /// No passkey cookie came with the credential.
    #[error("challenge missing")]
    ChallengeMissing,
    /// The passkey cookie was tampered with, is another API's or another step's, or the
    /// credential answers another challenge.
    #[error("challenge invalid")]
    ChallengeInvalid,
    /// The ceremony took longer than [`CEREMONY_TTL`].
    #[error("challenge expired")]
    ChallengeExpired,
    /// The challenge was used already: a replayed assertion.
    #[error("challenge used")]
    ChallengeUsed,
    /// The body is not what the step expects.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
    /// The credential did not verify (signature, flags, counter, user handle).
    #[error("passkey refused")]
    Refused,
    /// The API has no passkey with this credential id: removed, or another API's.
    #[error("unknown passkey")]
    UnknownPasskey,
    /// The passkey is the user's only way to sign in, so it stays.
    #[error("only way in")]
    OnlyWayIn,
    /// The credential is registered already.
    #[error("passkey exists")]
    CredentialTaken,
    /// The provider creates no users and the person has none.
    #[error("not registered")]
    NotRegistered,
    /// The user is disabled.
    #[error("user disabled")]
    Disabled,
    /// The step needs a signed-in session and there is none.
    #[error("not signed in")]
    SignInRequired,
    /// Adding a passkey needs a sign-in within [`RECENT_SIGN_IN`].
    #[error("recent sign-in required")]
    ReauthenticationRequired,
    /// The request did not come from the login page's own origin.
    #[error("cross-site request")]
    CrossSite,
    /// The control plane could not be reached, or no token could be signed.
    #[error("temporarily unavailable")]
    Unavailable,
}

impl PasskeyError {
    /// The JSON answer: a stable code and a short message, never a library's text.
    pub(crate) fn response(self, host: &str) -> Response {
        let (status, code, message) = self.describe(host);
        no_store(error(status, code, &message))
    }

    /// The status and message of a page that reports this refusal.
    pub(crate) fn status_and_message(self, host: &str) -> (StatusCode, String) {
        let (status, _, message) = self.describe(host);
        (status, message)
    }

    /// The status, the stable code and the message; `host` is the host as sent.
    fn describe(self, host: &str) -> (StatusCode, &'static str, String) {
        match self {
            Self::NotEnabled => (
                StatusCode::NOT_FOUND,
                "not_found",
                "passkeys are not enabled for this application".to_owned(),
            ),
            Self::HostNotRelyingParty => (
                StatusCode::BAD_REQUEST,
                "relying_party_mismatch",
                format!("passkeys need a domain name; {host} is not one"),
            ),
            Self::HostMismatch | Self::RelyingPartyIdMismatch => (
                StatusCode::BAD_REQUEST,
                "relying_party_mismatch",
                format!("the passkey was not made for {host}; use it where it was made"),
            ),
            Self::OriginMismatch => (
                StatusCode::BAD_REQUEST,
                "origin_mismatch",
                format!("the browser made this passkey response for another origin than {host}"),
            ),
            Self::ChallengeMissing => (
                StatusCode::BAD_REQUEST,
                "challenge_missing",
                "no passkey ceremony was started here; please start again".to_owned(),
            ),
            Self::ChallengeInvalid => (
                StatusCode::BAD_REQUEST,
                "challenge_invalid",
                "the passkey response does not answer this ceremony; please start again".to_owned(),
            ),
            Self::ChallengeExpired => (
                StatusCode::BAD_REQUEST,
                "challenge_expired",
                "the passkey ceremony took too long; please start again".to_owned(),
            ),
            Self::ChallengeUsed => (
                StatusCode::BAD_REQUEST,
                "challenge_used",
                "this passkey response was used already; please start again".to_owned(),
            ),
            Self::InvalidRequest(what) => {
                (StatusCode::BAD_REQUEST, "invalid_request", what.to_owned())
            }
            Self::Refused => (
                StatusCode::UNAUTHORIZED,
                "passkey_refused",
                "the passkey could not be verified".to_owned(),
            ),
            Self::UnknownPasskey => (
                StatusCode::UNAUTHORIZED,
                "unknown_passkey",
                "this passkey is not registered for this application".to_owned(),
            ),
            Self::CredentialTaken => (
                StatusCode::CONFLICT,
                "passkey_exists",
                "this passkey is registered already".to_owned(),
            ),
            Self::NotRegistered => (
                StatusCode::FORBIDDEN,
                "not_registered",
                "this application does not create accounts with passkeys".to_owned(),
            ),
            Self::Disabled => (
                StatusCode::FORBIDDEN,
                "user_disabled",
                "this account is disabled".to_owned(),
            ),
            Self::SignInRequired => (
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "sign in first".to_owned(),
            ),
            Self::ReauthenticationRequired => (
                StatusCode::FORBIDDEN,
                "reauthentication_required",
                "sign in again to add a passkey: the last sign-in is too long ago".to_owned(),
            ),
            Self::OnlyWayIn => (
                StatusCode::CONFLICT,
                "last_passkey",
                "this passkey is your only way to sign in; add another one before removing it"
                    .to_owned(),
            ),
            Self::CrossSite => (
                StatusCode::FORBIDDEN,
                "csrf",
                "cross-site request refused: Origin is not this page's".to_owned(),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "passkeys are temporarily unavailable; please try again in a moment".to_owned(),
            ),
        }
    }

    pub(super) fn outcome(self) -> SignInOutcome {
        match self {
            Self::NotRegistered => SignInOutcome::NotRegistered,
            Self::Disabled => SignInOutcome::Disabled,
            _ => SignInOutcome::Failed,
        }
    }
}

/// What a failed verification means for the person; the library's text stays in the log.
pub(super) fn verification_error(failure: WebauthnError) -> PasskeyError {
    tracing::debug!(error = ?failure, "passkey verification failed");
    match failure {
        WebauthnError::InvalidRPOrigin => PasskeyError::OriginMismatch,
        WebauthnError::InvalidRPIDHash => PasskeyError::RelyingPartyIdMismatch,
        WebauthnError::MismatchedChallenge => PasskeyError::ChallengeInvalid,
        _ => PasskeyError::Refused,
    }
}
