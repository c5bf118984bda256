//! The master key: AES-256-GCM under which private signing keys and refresh token sealing keys
//! are stored, so a copy of the database alone reveals no key material.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use restapi_shared::aead::{OpenError, SealingKey};
use restapi_shared::ids::new_key_bytes;
use restapi_shared::secret::{SecretBytes, SecretString};

/// Name of the dev-mode master key file inside the data directory.
const DEV_MASTER_KEY_FILE: &str = "master.key";

/// The key that encrypts secrets at rest.
#[derive(Debug)]
pub struct MasterKey(SealingKey);

impl MasterKey {
    /// Parses the base64 (standard or URL-safe) of 32 bytes.
    pub fn parse(encoded: &SecretString) -> Result<Self, String> {
        let text = encoded.expose().trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| "is not base64; expected the base64 of 32 random bytes".to_owned())?;
        let key = SealingKey::new(&bytes).ok_or_else(|| {
            format!(
                "decodes to {} bytes; expected the base64 of 32 bytes",
                bytes.len()
            )
        })?;
        Ok(Self(key))
    }

    /// Encrypts `plaintext` for the place named by `context` (such as `signing-key:<kid>`).
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        self.0.seal(context.as_bytes(), plaintext)
    }

    /// Decrypts a value sealed for `context`.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<SecretBytes, OpenError> {
        self.0
            .open(context.as_bytes(), sealed)
            .map(SecretBytes::new)
    }
}

/// Why the dev master key could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("master key file {}: {reason}", path.display())]
pub struct DevMasterKeyError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// Reads `<data_dir>/master.key`, creating it (mode 0600) with a new random key when missing.
///
/// For dev mode only: production passes the key through `RESTAPI_MASTER_KEY` or
/// `RESTAPI_MASTER_KEY_FILE` so that it never sits next to the database.
pub fn load_or_create_dev_master_key(data_dir: &Path) -> Result<SecretString, DevMasterKeyError> {
    let path = data_dir.join(DEV_MASTER_KEY_FILE);
    let failed = |reason: String| DevMasterKeyError {
        path: path.clone(),
        reason,
    };

    if path.exists() {
        let text = std::fs::read_to_string(&path).map_err(|error| failed(error.to_string()))?;
        let key = SecretString::new(text.trim().to_owned());
        MasterKey::parse(&key).map_err(failed)?;
        return Ok(key);
    }

    std::fs::create_dir_all(data_dir).map_err(|error| failed(error.to_string()))?;
    let key = SecretString::new(STANDARD.encode(new_key_bytes()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .map_err(|error| failed(error.to_string()))?;
    writeln!(file, "{}", key.expose()).map_err(|error| failed(error.to_string()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_standard_and_url_safe_base64_of_32_bytes() {
        let bytes = [9u8; 32];
        assert!(MasterKey::parse(&SecretString::new(STANDARD.encode(bytes))).is_ok());
        assert!(MasterKey::parse(&SecretString::new(URL_SAFE_NO_PAD.encode(bytes))).is_ok());
        let short = MasterKey::parse(&SecretString::new(STANDARD.encode([1u8; 16]))).unwrap_err();
        assert!(short.contains("16 bytes"));
        assert!(MasterKey::parse(&SecretString::new("not base64!".to_owned())).is_err());
    }

    #[test]
    fn sealed_values_open_only_in_their_context() {
        let key = MasterKey::parse(&SecretString::new(STANDARD.encode([3u8; 32]))).unwrap();
        let sealed = key.seal("signing-key:key_1", b"pkcs8");
        assert_eq!(
            key.open("signing-key:key_1", &sealed).unwrap().expose(),
            b"pkcs8"
        );
        assert!(key.open("signing-key:key_2", &sealed).is_err());
    }

    #[test]
    fn dev_master_key_is_created_once_with_private_permissions() {
        let dir = std::env::temp_dir().join(restapi_shared::ids::new_id("cp-test"));
        let first = load_or_create_dev_master_key(&dir).unwrap();
        let second = load_or_create_dev_master_key(&dir).unwrap();
        assert_eq!(first.expose(), second.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
