//! Secrets that never reach a log, and digests compared in constant time.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;

/// A secret string, such as a client secret or a bearer token.
///
/// Its `Debug` output is `<redacted>`, so a secret inside a logged struct stays secret. The
/// value is reached only through [`SecretString::expose`], which makes every use visible.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret value itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 digest under which this secret is stored.
    pub fn digest(&self) -> SecretDigest {
        SecretDigest::of(&self.0)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Secret bytes, such as a private key, carried as base64url in JSON.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps secret bytes.
    pub fn new(value: Vec<u8>) -> Self {
        Self(value)
    }

    /// The secret bytes themselves.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let encoded = String::deserialize(deserializer)?;
        URL_SAFE_NO_PAD
            .decode(encoded.as_bytes())
            .map(Self)
            .map_err(|_| serde::de::Error::custom("secret bytes are not base64url"))
    }
}

/// The SHA-256 digest of a high-entropy secret, as stored and pushed (hex in JSON).
///
/// A plain hash is enough for values with 256 bits of entropy: nobody can guess a preimage,
/// and a slow password hash would only cost every token request its speed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// The digest of `secret`.
    pub fn of(secret: &str) -> Self {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest(&SHA256, secret.as_bytes()).as_ref());
        Self(bytes)
    }

    /// Parses a digest from its hex form.
    pub fn from_hex(hex_digest: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_digest, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// The hex form, as stored.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Whether `presented` hashes to this digest, compared in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        let candidate = Self::of(presented);
        self.0.ct_eq(&candidate.0).into()
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(<redacted>)")
    }
}

impl Serialize for SecretDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for SecretDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let encoded = String::deserialize(deserializer)?;
        Self::from_hex(&encoded).ok_or_else(|| serde::de::Error::custom("digest is not 64 hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_secrets() {
        let secret = SecretString::new("rcs_super-secret".to_owned());
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(
            format!("{:?}", SecretBytes::new(vec![1, 2, 3])),
            "<redacted>"
        );
        assert!(!format!("{:?}", secret.digest()).contains(&secret.digest().to_hex()));
    }

    #[test]
    fn digest_matches_only_its_secret() {
        let digest = SecretDigest::of("right");
        assert!(digest.matches("right"));
        assert!(!digest.matches("wrong"));
        assert!(!digest.matches(""));
    }

    #[test]
    fn digest_round_trips_through_hex_and_rejects_garbage() {
        let digest = SecretDigest::of("value");
        assert_eq!(SecretDigest::from_hex(&digest.to_hex()), Some(digest));
        assert_eq!(SecretDigest::from_hex("zz"), None);
    }
}
