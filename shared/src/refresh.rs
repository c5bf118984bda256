//! Refresh tokens: sealed, self-contained, and rotated on every use.
//!
//! Issuing a refresh token costs no write: everything needed to honour it later is sealed
//! inside it with the API's refresh key (AES-256-GCM), so it is opaque to clients and cannot
//! be forged or moved to another API. State is written only when a token is used: the control
//! plane records each redeemed token, so a second use is detected and ends the whole family
//! (RFC 9700 §4.14.2, refresh token rotation).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::aead::SealingKey;
use crate::clock::UnixTime;
use crate::token::REFRESH_CHAIN_TTL;

/// Prefix and format version of refresh tokens.
const PREFIX: &str = "rrt1_";

/// What a refresh token carries, readable only by the data planes of its API's region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshClaims {
    /// Unique identifier of this token; recorded when it is redeemed.
    pub jti: String,
    /// The family: every token rotated from the same first sign-in.
    pub family: String,
    /// When the family started; the chain ends [`REFRESH_CHAIN_TTL`] later.
    pub family_started: UnixTime,
    /// When this token was issued.
    pub iat: UnixTime,
    /// The subject the access tokens are for.
    pub sub: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// The client secret used to obtain the family, for confidential clients: disabling that
    /// secret also ends the family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_id: Option<String>,
}

impl RefreshClaims {
    /// When the family, and so this token, stops being honoured.
    pub fn expires_at(&self) -> UnixTime {
        self.family_started + REFRESH_CHAIN_TTL
    }
}

/// Why a presented refresh token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RefreshError {
    /// Not a token of ours, tampered with, or sealed for another API.
    #[error("refresh token is invalid")]
    Invalid,
    /// The family's 70 days are over.
    #[error("refresh token chain has expired")]
    Expired,
}

/// Seals `claims` into an opaque refresh token for the API `api_id`.
pub fn seal(key: &SealingKey, api_id: &str, claims: &RefreshClaims) -> String {
    // Serialising a struct of strings and integers cannot fail.
    let plaintext = serde_json::to_vec(claims).unwrap_or_default();
    let sealed = key.seal(api_id.as_bytes(), &plaintext);
    let mut token = String::with_capacity(PREFIX.len() + sealed.len() * 4 / 3 + 4);
    token.push_str(PREFIX);
    URL_SAFE_NO_PAD.encode_string(sealed, &mut token);
    token
}

/// Opens a refresh token of the API `api_id` and checks that its chain is still alive.
pub fn open(
    key: &SealingKey,
    api_id: &str,
    token: &str,
    now: UnixTime,
) -> Result<RefreshClaims, RefreshError> {
    let encoded = token.strip_prefix(PREFIX).ok_or(RefreshError::Invalid)?;
    let sealed = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| RefreshError::Invalid)?;
    let plaintext = key
        .open(api_id.as_bytes(), &sealed)
        .map_err(|_| RefreshError::Invalid)?;
    let claims: RefreshClaims =
        serde_json::from_slice(&plaintext).map_err(|_| RefreshError::Invalid)?;
    if now >= claims.expires_at() {
        return Err(RefreshError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> RefreshClaims {
        RefreshClaims {
            jti: "tok_1".to_owned(),
            family: "fam_1".to_owned(),
            family_started: 1_000,
            iat: 1_000,
            sub: "sa_1".to_owned(),
            client_id: "cid_1".to_owned(),
            secret_id: Some("sec_1".to_owned()),
        }
    }

    #[test]
    fn round_trips_while_the_chain_lives() {
        let key = SealingKey::new(&[7; 32]).unwrap();
        let token = seal(&key, "api_1", &claims());
        assert!(token.starts_with(PREFIX));
        assert_eq!(open(&key, "api_1", &token, 2_000), Ok(claims()));
    }

    #[test]
    fn chain_ends_seventy_days_after_it_started() {
        let key = SealingKey::new(&[7; 32]).unwrap();
        let token = seal(&key, "api_1", &claims());
        let end = 1_000 + 70 * 24 * 3600;
        assert!(open(&key, "api_1", &token, end - 1).is_ok());
        assert_eq!(open(&key, "api_1", &token, end), Err(RefreshError::Expired));
    }

    #[test]
    fn refuses_other_api_other_key_and_garbage() {
        let key = SealingKey::new(&[7; 32]).unwrap();
        let token = seal(&key, "api_1", &claims());
        assert_eq!(
            open(&key, "api_2", &token, 2_000),
            Err(RefreshError::Invalid)
        );
        let other = SealingKey::new(&[8; 32]).unwrap();
        assert_eq!(
            open(&other, "api_1", &token, 2_000),
            Err(RefreshError::Invalid)
        );
        assert_eq!(
            open(&key, "api_1", "rrt1_!!", 2_000),
            Err(RefreshError::Invalid)
        );
        assert_eq!(
            open(&key, "api_1", "eyJ", 2_000),
            Err(RefreshError::Invalid)
        );
    }
}
