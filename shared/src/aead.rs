//! Authenticated encryption (AES-256-GCM) for secrets at rest and sealed tokens.
//!
//! A sealed value is `nonce (12 bytes) || ciphertext || tag`. The associated data binds a
//! ciphertext to its place (a row, an API), so one cannot be swapped for another.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::ids::fill_random;

/// Why a sealed value could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// The value was tampered with, sealed under another key or for another place.
    #[error("sealed value failed authentication")]
    Unauthentic,
    /// The value is too short to hold a nonce and a tag.
    #[error("sealed value is truncated")]
    Truncated,
}

/// A 256-bit AES-GCM key.
pub struct SealingKey(LessSafeKey);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// A key from 32 bytes; `None` for any other length.
    pub fn new(bytes: &[u8]) -> Option<Self> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).ok()?;
        Some(Self(LessSafeKey::new(unbound)))
    }

    /// Encrypts `plaintext` bound to `context` under a fresh random nonce.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(plaintext);
        let mut body = sealed.split_off(NONCE_LEN);
        // Sealing fails only for inputs above GCM's limit of ~64 GiB, which nothing here nears.
        #[expect(
            clippy::expect_used,
            reason = "inputs are far below AES-GCM's size limit"
        )]
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut body,
            )
            .expect("AES-GCM input within limits");
        sealed.extend_from_slice(&body);
        sealed
    }

    /// Decrypts a value sealed for `context` under this key.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(OpenError::Truncated);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError::Truncated)?;
        let mut body = body.to_vec();
        let plaintext_len = self
            .0
            .open_in_place(nonce, Aad::from(context), &mut body)
            .map_err(|_| OpenError::Unauthentic)?
            .len();
        body.truncate(plaintext_len);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SealingKey {
        SealingKey::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn seals_and_opens() {
        let sealed = key(1).seal(b"row-1", b"private key");
        assert_eq!(key(1).open(b"row-1", &sealed).unwrap(), b"private key");
    }

    #[test]
    fn refuses_other_context_other_key_and_tampering() {
        let mut sealed = key(1).seal(b"row-1", b"private key");
        assert_eq!(key(1).open(b"row-2", &sealed), Err(OpenError::Unauthentic));
        assert_eq!(key(2).open(b"row-1", &sealed), Err(OpenError::Unauthentic));
        sealed[14] ^= 1;
        assert_eq!(key(1).open(b"row-1", &sealed), Err(OpenError::Unauthentic));
        assert_eq!(
            key(1).open(b"row-1", &sealed[..10]),
            Err(OpenError::Truncated)
        );
    }

    #[test]
    fn rejects_wrong_key_length() {
        assert!(SealingKey::new(&[0u8; 16]).is_none());
    }
}
