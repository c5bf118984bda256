//! The control plane's settings: defaults, then the layered sources of
//! [`restapi_shared::settings::layered`], validated once at start.

use std::net::SocketAddr;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::Env;
use restapi_data_plane::settings::PublicScheme;
use restapi_shared::secret::SecretString;
use restapi_shared::telemetry::LogFormat;
use serde::Deserialize;

use crate::master_key::MasterKey;

/// Every key the control plane reads, as written in a TOML file (lowercase) or as
/// `RESTAPI_<KEY>` in the environment.
pub const KEYS: &[&str] = &[
    "control_plane_listen",
    "database_url",
    "data_dir",
    "admin_token",
    "master_key",
    "signing_key_publish_delay_seconds",
    "change_log_retention_seconds",
    "app_domain",
    "public_scheme",
    "public_port",
    "log_format",
    "dns_server",
    "acme_directory_url",
    "acme_roots_file",
];

/// The keys that may also be given as `RESTAPI_<KEY>_FILE`, naming a file that holds the value.
pub const SECRET_KEYS: &[&str] = &["admin_token", "master_key", "database_url"];

/// The shortest operator token accepted from configuration.
const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// The control plane's settings.
///
/// Unknown keys are refused by the layered loader before this struct is built, so it does not
/// deny unknown fields itself: dev mode reads the data plane's settings from the same sources.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address of the admin and node API.
    pub control_plane_listen: SocketAddr,
    /// `postgres://...` for PostgreSQL, `sqlite://...` for a SQLite file; unset means the
    /// SQLite file `restapi.db` in `data_dir`. The plain `DATABASE_URL` variable is honoured
    /// when `RESTAPI_DATABASE_URL` is unset.
    pub database_url: Option<SecretString>,
    /// Directory for the default SQLite database (and dev mode's master key).
    pub data_dir: PathBuf,
    /// The bootstrap operator token. Without it, one is generated on first start.
    pub admin_token: Option<SecretString>,
    /// Base64 of 32 bytes: the AES-256-GCM key that encrypts private keys at rest.
    pub master_key: Option<SecretString>,
    /// How long a new signing key is published before it signs, so every data plane has it.
    pub signing_key_publish_delay_seconds: u64,
    /// How long the change log reaches back; older data planes take a new snapshot.
    pub change_log_retention_seconds: u64,
    /// Domain under which every API has its app host `<api>.<app_domain>`: the data planes'
    /// setting of the same name, needed here for the callback URLs shown to operators.
    pub app_domain: String,
    /// Scheme clients use to reach the data planes (`https`, or `http` on loopback): the data
    /// planes' setting of the same name.
    pub public_scheme: PublicScheme,
    /// The port browsers reach the data planes on, when it is not the scheme's default (dev
    /// mode, a test): it then appears in the callback URLs shown to operators.
    pub public_port: Option<u16>,
    /// `text` or `json` log lines.
    pub log_format: LogFormat,
    /// The DNS server (`ip:port`) that custom domains' ownership records are looked up at;
    /// the system's resolver (`/etc/resolv.conf`) when unset.
    pub dns_server: Option<SocketAddr>,
    /// The ACME directory custom domains' certificates are ordered from: a URL, or
    /// `letsencrypt` / `letsencrypt-staging`. Unset, verified domains are served without
    /// certificates of their own.
    pub acme_directory_url: Option<String>,
    /// A PEM file of extra roots trusted when talking to the ACME CA (a private or test CA).
    pub acme_roots_file: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            control_plane_listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            database_url: None,
            data_dir: PathBuf::from("./data"),
            admin_token: None,
            master_key: None,
            signing_key_publish_delay_seconds: 300,
            change_log_retention_seconds: 7 * 24 * 3600,
            app_domain: "restapi.cloud".to_owned(),
            public_scheme: PublicScheme::Https,
            public_port: None,
            log_format: LogFormat::Text,
            dns_server: None,
            acme_directory_url: None,
            acme_roots_file: None,
        }
    }
}

/// A setting that is present but unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value has the wrong type (figment names the key and the source).
    #[error("invalid setting: {0}")]
    Invalid(String),
    /// A value has the right type but is not acceptable.
    #[error("invalid setting '{field}': {reason}")]
    Field {
        /// The key of the setting.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl Settings {
    /// Extracts and validates the settings from a layered figment.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        // `join` only fills what no earlier layer set: `RESTAPI_DATABASE_URL` wins over the
        // conventional `DATABASE_URL`.
        let figment = figment.clone().join(Env::raw().only(&["database_url"]));
        let settings: Self = figment
            .extract()
            .map_err(|error| ConfigError::Invalid(error.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks values that deserialise but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(master_key) = &self.master_key {
            MasterKey::parse(master_key).map_err(|reason| ConfigError::Field {
                field: "master_key",
                reason,
            })?;
        }
        if let Some(token) = &self.admin_token
            && token.expose().len() < MIN_ADMIN_TOKEN_LEN
        {
            return Err(ConfigError::Field {
                field: "admin_token",
                reason: format!("must be at least {MIN_ADMIN_TOKEN_LEN} characters long"),
            });
        }
        if let Some(url) = &self.database_url {
            crate::store::Backend::of_url(url.expose()).map_err(|reason| ConfigError::Field {
                field: "database_url",
                reason,
            })?;
        }
        if self.signing_key_publish_delay_seconds > 7 * 24 * 3600 {
            return Err(ConfigError::Field {
                field: "signing_key_publish_delay_seconds",
                reason: "must be at most one week (604800)".to_owned(),
            });
        }
        if self.change_log_retention_seconds < 60 {
            return Err(ConfigError::Field {
                field: "change_log_retention_seconds",
                reason: "must be at least 60".to_owned(),
            });
        }
        if let Some(url) = &self.acme_directory_url {
            acme_directory(url).map_err(|reason| ConfigError::Field {
                field: "acme_directory_url",
                reason,
            })?;
        }
        if self.acme_roots_file.is_some() && self.acme_directory_url.is_none() {
            return Err(ConfigError::Field {
                field: "acme_roots_file",
                reason: "is only used with acme_directory_url, which is not set".to_owned(),
            });
        }
        crate::names::check_host(&self.app_domain).map_err(|_| ConfigError::Field {
            field: "app_domain",
            reason: "must be a lowercase domain name such as 'restapi.cloud'".to_owned(),
        })?;
        Ok(())
    }

    /// The public hosts' scheme and app domain, from which callback URLs are made.
    pub fn login_urls(&self) -> crate::store::LoginUrls {
        crate::store::LoginUrls {
            scheme: self.public_scheme.as_str().to_owned(),
            app_domain: self.app_domain.clone(),
            port: self.public_port,
        }
    }

    /// The ACME directory to order certificates from, presets resolved; `None` when unset.
    pub fn acme_directory(&self) -> Option<String> {
        self.acme_directory_url
            .as_deref()
            .and_then(|url| acme_directory(url).ok())
    }

    /// The database to connect to: the configured URL, or the SQLite file in `data_dir`.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}", self.data_dir.join("restapi.db").display()),
        }
    }
}

/// The directory URL a setting names: a preset's, or the HTTPS URL given (RFC 8555 §6.1).
fn acme_directory(setting: &str) -> Result<String, String> {
    match setting {
        "letsencrypt" => return Ok(crate::acme::LETS_ENCRYPT.to_owned()),
        "letsencrypt-staging" => return Ok(crate::acme::LETS_ENCRYPT_STAGING.to_owned()),
        _ => {}
    }
    let url = reqwest::Url::parse(setting).map_err(|_| {
        "must be an https:// URL of an ACME directory, or letsencrypt or letsencrypt-staging"
            .to_owned()
    })?;
    if url.scheme() != "https" || url.host_str().is_none() {
        return Err("must be an https:// URL (ACME is spoken over HTTPS only)".to_owned());
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings_from(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut figment = Figment::new();
        for (key, value) in pairs {
            figment = figment.merge((*key, *value));
        }
        Settings::from_figment(&figment)
    }

    #[test]
    fn defaults_are_valid() {
        let settings = settings_from(&[]).unwrap();
        assert_eq!(settings.control_plane_listen.port(), 8090);
        assert_eq!(settings.signing_key_publish_delay_seconds, 300);
        assert!(settings.effective_database_url().ends_with("restapi.db"));
    }

    #[test]
    fn bad_master_key_is_refused_naming_the_field() {
        let error = settings_from(&[("master_key", "c2hvcnQ=")]).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("master_key"), "{message}");
        assert!(message.contains("32 bytes"), "{message}");
    }

    #[test]
    fn short_admin_token_and_odd_database_urls_are_refused() {
        let error = settings_from(&[("admin_token", "short")]).unwrap_err();
        assert!(error.to_string().contains("admin_token"));
        let error = settings_from(&[("database_url", "mysql://x")]).unwrap_err();
        assert!(error.to_string().contains("database_url"));
    }

    #[test]
    fn app_domain_and_scheme_match_the_data_plane() {
        let settings = settings_from(&[]).unwrap();
        let data_plane = restapi_data_plane::Settings::default();
        assert_eq!(settings.app_domain, data_plane.app_domain);
        assert_eq!(settings.public_scheme, data_plane.public_scheme);

        let settings =
            settings_from(&[("app_domain", "apps.test"), ("public_scheme", "http")]).unwrap();
        assert_eq!(settings.login_urls().scheme, "http");
        assert_eq!(settings.login_urls().app_domain, "apps.test");
        let error = settings_from(&[("app_domain", "-x.cloud")]).unwrap_err();
        assert!(error.to_string().contains("app_domain"), "{error}");
        let error = settings_from(&[("public_scheme", "ftp")]).unwrap_err();
        assert!(error.to_string().contains("public_scheme"), "{error}");
    }

    #[test]
    fn dns_server_is_an_address_and_port() {
        assert_eq!(settings_from(&[]).unwrap().dns_server, None);
        let settings = settings_from(&[("dns_server", "127.0.0.1:5353")]).unwrap();
        assert_eq!(
            settings.dns_server,
            Some(SocketAddr::from(([127, 0, 0, 1], 5353)))
        );
        let error = settings_from(&[("dns_server", "127.0.0.1")]).unwrap_err();
        assert!(error.to_string().contains("dns_server"), "{error}");
    }

    #[test]
    fn acme_directories_are_presets_or_https_urls() {
        assert_eq!(settings_from(&[]).unwrap().acme_directory(), None);
        for (given, directory) in [
            ("letsencrypt", crate::acme::LETS_ENCRYPT),
            ("letsencrypt-staging", crate::acme::LETS_ENCRYPT_STAGING),
            ("https://127.0.0.1:14000/dir", "https://127.0.0.1:14000/dir"),
        ] {
            let settings = settings_from(&[("acme_directory_url", given)]).unwrap();
            assert_eq!(settings.acme_directory().as_deref(), Some(directory));
        }
        for bad in ["http://ca.example/dir", "ca.example", "lets-encrypt", ""] {
            let error = settings_from(&[("acme_directory_url", bad)]).unwrap_err();
            assert!(
                error.to_string().contains("acme_directory_url"),
                "{bad}: {error}"
            );
        }
        let error = settings_from(&[("acme_roots_file", "/etc/ssl/roots.pem")]).unwrap_err();
        assert!(error.to_string().contains("acme_roots_file"), "{error}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let error = settings_from(&[("signing_key_publish_delay_seconds", "soon")]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("signing_key_publish_delay_seconds")
        );
    }
}
