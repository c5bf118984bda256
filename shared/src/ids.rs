//! Identifiers and high-entropy secrets.
//!
//! Identifiers are opaque and random, with a short prefix that tells a reader what kind of
//! object one names (`api_`, `sa_`, ...). Secrets carry a prefix too, so that secret scanners
//! can recognise a leaked one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};

use crate::secret::SecretString;

/// Prefix of API identifiers.
pub const API: &str = "api";
/// Prefix of region identifiers.
pub const REGION: &str = "reg";
/// Prefix of service account identifiers.
pub const SERVICE_ACCOUNT: &str = "sa";
/// Prefix of client secret identifiers (not the secret itself).
pub const CLIENT_SECRET: &str = "sec";
/// Prefix of signing key identifiers, which are also the JWT `kid`.
pub const SIGNING_KEY: &str = "key";
/// Prefix of node credential identifiers.
pub const NODE_CREDENTIAL: &str = "node";
/// Prefix of operator token identifiers.
pub const OPERATOR_TOKEN: &str = "op";
/// Prefix of OAuth client identifiers of service accounts.
pub const CLIENT_ID: &str = "cid";
/// Prefix of refresh token families.
pub const REFRESH_FAMILY: &str = "fam";
/// Prefix of token identifiers (`jti`).
pub const TOKEN: &str = "tok";
/// Prefix of identity provider identifiers.
pub const IDENTITY_PROVIDER: &str = "idp";
/// Prefix of public client identifiers.
pub const PUBLIC_CLIENT: &str = "pcl";
/// Prefix of the `client_id` of public clients, distinct from service accounts' `cid`.
pub const PUBLIC_CLIENT_ID: &str = "app";
/// Prefix of passkey identifiers.
pub const PASSKEY: &str = "pk";
/// Prefix of the random id of a WebAuthn challenge, recorded when it is used.
pub const PASSKEY_CHALLENGE: &str = "pkc";

/// Prefix of client secrets.
pub const CLIENT_SECRET_VALUE: &str = "rcs";
/// Prefix of node credential tokens.
pub const NODE_TOKEN_VALUE: &str = "rnt";
/// Prefix of operator tokens.
pub const OPERATOR_TOKEN_VALUE: &str = "rot";

/// Fills `buf` from the operating system's secure random source.
///
/// The system source only fails when the operating system cannot provide randomness at all,
/// in which case no identifier or key can be made safely; the process aborts rather than
/// continue with predictable values.
pub fn fill_random(buf: &mut [u8]) {
    #[expect(
        clippy::expect_used,
        reason = "no safe way to go on without randomness"
    )]
    SystemRandom::new()
        .fill(buf)
        .expect("the operating system's random source failed");
}

/// A new random identifier such as `api_3f9c0d...` (96 random bits, hex).
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    fill_random(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// A new secret such as `rcs_...` (256 random bits, base64url).
pub fn new_secret(prefix: &str) -> SecretString {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    SecretString::new(format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// 32 random bytes, for symmetric keys.
pub fn new_key_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    fill_random(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_prefixed_and_distinct() {
        let first = new_id(API);
        assert!(first.starts_with("api_"));
        assert_eq!(first.len(), 4 + 24);
        assert_ne!(first, new_id(API));
    }

    #[test]
    fn secrets_are_long_and_prefixed() {
        let secret = new_secret(CLIENT_SECRET_VALUE);
        assert!(secret.expose().starts_with("rcs_"));
        assert_eq!(secret.expose().len(), 4 + 43);
    }
}
