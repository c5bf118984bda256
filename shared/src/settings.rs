//! Layered configuration, shared by both planes' binaries.
//!
//! Layers, later ones winning: built-in defaults, an optional TOML file, `RESTAPI_*`
//! environment variables, then `RESTAPI_*_FILE` variables for secrets (the file's contents,
//! trimmed, become the value). A key that no plane knows, in the file or the environment,
//! stops the start with a message naming it, so a typo never silently falls back to a default.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};

/// Prefix of every environment variable the platform reads.
pub const ENV_PREFIX: &str = "RESTAPI_";

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A key that no setting has.
    #[error("unknown setting '{key}' in {source_name}")]
    UnknownKey {
        /// The unknown key.
        key: String,
        /// Where it was found.
        source_name: String,
    },
    /// A `*_FILE` variable names a file that cannot be read.
    #[error("cannot read {variable}={}: {reason}", path.display())]
    SecretFile {
        /// The variable.
        variable: String,
        /// The file it names.
        path: PathBuf,
        /// Why reading failed.
        reason: String,
    },
    /// The TOML file cannot be read or parsed.
    #[error("cannot read configuration file {}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// A value has the wrong type or is out of range.
    #[error("invalid setting: {0}")]
    Invalid(String),
}

impl From<figment::Error> for SettingsError {
    fn from(error: figment::Error) -> Self {
        // figment's message names the key and the source of the bad value.
        Self::Invalid(error.to_string())
    }
}

/// Builds the layered figment for a process whose settings have the keys in `known`.
///
/// `secrets` lists the keys that may also be given as `RESTAPI_<KEY>_FILE`.
pub fn layered(
    file: Option<&Path>,
    known: &[&str],
    secrets: &[&str],
) -> Result<Figment, SettingsError> {
    let mut figment = Figment::new();

    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|error| SettingsError::File {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        let table: toml_keys::Table =
            toml_keys::parse(&text).map_err(|reason| SettingsError::File {
                path: path.to_owned(),
                reason,
            })?;
        if let Some(key) = table.into_iter().find(|key| !known.contains(&key.as_str())) {
            return Err(SettingsError::UnknownKey {
                key,
                source_name: path.display().to_string(),
            });
        }
        figment = figment.merge(Toml::string(&text));
    }

    let secret_files: Vec<String> = secrets.iter().map(|key| format!("{key}_file")).collect();
    for (name, _) in std::env::vars() {
        let Some(key) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if !known.contains(&key.as_str()) && !secret_files.contains(&key) && key != "config" {
            return Err(SettingsError::UnknownKey {
                key: name,
                source_name: "the environment".into(),
            });
        }
    }
    figment = figment.merge(Env::prefixed(ENV_PREFIX).only(known));

    for key in secrets {
        let variable = format!("{ENV_PREFIX}{}_FILE", key.to_ascii_uppercase());
        let Some(path) = std::env::var_os(&variable) else {
            continue;
        };
        let path = PathBuf::from(path);
        let value = std::fs::read_to_string(&path).map_err(|error| SettingsError::SecretFile {
            variable: variable.clone(),
            path: path.clone(),
            reason: error.to_string(),
        })?;
        figment = figment.merge((*key, value.trim().to_owned()));
    }
    Ok(figment)
}

/// The top-level keys of a TOML document, without pulling in a second TOML parser.
mod toml_keys {
    use figment::Provider;
    use figment::providers::{Format, Toml};

    pub type Table = Vec<String>;

    pub fn parse(text: &str) -> Result<Table, String> {
        let value: figment::value::Dict = Toml::string(text)
            .data()
            .map_err(|error| error.to_string())?
            .into_values()
            .next()
            .unwrap_or_default();
        Ok(value.into_keys().collect())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    const KNOWN: &[&str] = &["listen", "region", "node_token"];

    #[derive(Debug, Deserialize)]
    struct Example {
        listen: String,
        #[serde(default)]
        region: Option<String>,
        #[serde(default)]
        node_token: Option<String>,
    }

    /// A TOML file in a fresh temporary directory, removed with the returned guard.
    struct TomlFile(PathBuf);

    impl TomlFile {
        fn new(text: &str) -> Self {
            let directory = std::env::temp_dir().join(crate::ids::new_id("settings"));
            std::fs::create_dir_all(&directory).unwrap();
            let path = directory.join("settings.toml");
            std::fs::write(&path, text).unwrap();
            Self(path)
        }
    }

    impl Drop for TomlFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(self.0.parent().unwrap());
        }
    }

    #[test]
    fn reads_known_keys_from_the_file() {
        let file = TomlFile::new("listen = \"127.0.0.1:1\"\nregion = \"eu\"\n");
        let figment = layered(Some(&file.0), KNOWN, &["node_token"]).unwrap();
        let example: Example = figment.extract().unwrap();
        assert_eq!(example.listen, "127.0.0.1:1");
        assert_eq!(example.region.as_deref(), Some("eu"));
        assert_eq!(example.node_token, None);
    }

    #[test]
    fn refuses_an_unknown_key_naming_it_and_the_file() {
        let file = TomlFile::new("listen = \"127.0.0.1:1\"\nregoin = \"eu\"\n");
        let error = layered(Some(&file.0), KNOWN, &[]).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, SettingsError::UnknownKey { ref key, .. } if key == "regoin"));
        assert!(
            message.contains("regoin") && message.contains("settings.toml"),
            "{message}"
        );
    }

    #[test]
    fn names_the_field_of_a_value_of_the_wrong_type() {
        let file = TomlFile::new("listen = 8080\n");
        let figment = layered(Some(&file.0), KNOWN, &[]).unwrap();
        let error = SettingsError::from(figment.extract::<Example>().unwrap_err());
        assert!(error.to_string().contains("listen"), "{error}");
    }

    #[test]
    fn refuses_a_file_that_is_not_toml_or_not_there() {
        let file = TomlFile::new("listen = \n");
        assert!(matches!(
            layered(Some(&file.0), KNOWN, &[]),
            Err(SettingsError::File { .. })
        ));
        let missing = Path::new("/nonexistent/restapi.toml");
        assert!(matches!(
            layered(Some(missing), KNOWN, &[]),
            Err(SettingsError::File { .. })
        ));
    }
}
