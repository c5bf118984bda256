//! The data plane's configuration: what an operator sets, validated once at start.
//!
//! A production data plane needs exactly three things: the control plane's URL, its region
//! and its node credential. Everything else has a default.

use std::net::SocketAddr;
use std::path::PathBuf;

use restapi_shared::secret::SecretString;
use restapi_shared::telemetry::LogFormat;
use serde::Deserialize;

/// Every key of [`Settings`], lowercase, as the layered loader expects them.
pub const KEYS: &[&str] = &[
    "data_plane_listen",
    "control_plane_url",
    "region",
    "node_token",
    "app_domain",
    "public_scheme",
    "data_plane_https_listen",
    "tls_certificate_file",
    "tls_key_file",
    "log_format",
];

/// The keys that may also be given as `RESTAPI_<KEY>_FILE`.
pub const SECRET_KEYS: &[&str] = &["node_token"];

/// The data plane's settings.
///
/// Unknown keys are refused by `restapi_shared::settings::layered`, which knows the keys of
/// every plane; the struct itself accepts other planes' keys so that dev mode can extract
/// both planes' settings from one figment.
#[derive(Clone, Debug, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Address the public endpoints listen on.
    pub data_plane_listen: SocketAddr,
    /// Base URL of the control plane's node API, such as `https://control.example`.
    pub control_plane_url: Option<String>,
    /// Name of the region this data plane serves, such as `eu`.
    pub region: Option<String>,
    /// The node credential (`rnt_...`) issued for this region.
    pub node_token: Option<SecretString>,
    /// Domain under which every API has its app host `<api>.<app_domain>`.
    pub app_domain: String,
    /// Scheme clients use to reach this data plane, part of every issuer URL.
    pub public_scheme: PublicScheme,
    /// Address of the HTTPS listener, if the data plane terminates TLS itself; the plain
    /// listener then sends browsers there.
    pub data_plane_https_listen: Option<SocketAddr>,
    /// PEM certificate chain (leaf first) of the platform's names: the regional host and the
    /// app hosts, typically `*.<app_domain>` and the regional host in one certificate. Read
    /// again every minute, so a renewal needs no restart.
    pub tls_certificate_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub tls_key_file: Option<PathBuf>,
    /// How log lines are written.
    pub log_format: LogFormat,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_plane_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            control_plane_url: None,
            region: None,
            node_token: None,
            app_domain: "restapi.cloud".to_owned(),
            public_scheme: PublicScheme::Https,
            data_plane_https_listen: None,
            tls_certificate_file: None,
            tls_key_file: None,
            log_format: LogFormat::Text,
        }
    }
}

/// The scheme of the public URLs (issuers, discovery documents).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublicScheme {
    /// Behind TLS, as in production.
    #[default]
    Https,
    /// Plain HTTP, for development on loopback.
    Http,
}

impl PublicScheme {
    /// The scheme as it appears in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::Http => "http",
        }
    }
}

/// A setting that is missing or malformed; the message names the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// A setting the data plane cannot start without.
    #[error("setting '{0}' is required")]
    Missing(&'static str),
    /// A setting whose value is malformed.
    #[error("setting '{field}' is invalid: {reason}")]
    Invalid {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// What [`Settings::connection`] returns: the three values the sync client needs.
#[derive(Clone, Debug)]
pub struct Connection {
    /// Base URL of the control plane, without a trailing slash.
    pub control_plane_url: String,
    /// The region's name.
    pub region: String,
    /// The node credential.
    pub node_token: SecretString,
}

impl Settings {
    /// Checks the values that are present.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if let Some(region) = &self.region
            && !is_dns_label(region)
        {
            return Err(SettingsError::Invalid {
                field: "region",
                reason: "must be a lowercase DNS label such as 'eu'",
            });
        }
        if let Some(url) = &self.control_plane_url {
            validate_url(url)?;
        }
        if let Some(token) = &self.node_token
            && token.expose().trim().is_empty()
        {
            return Err(SettingsError::Invalid {
                field: "node_token",
                reason: "is empty",
            });
        }
        if !self.app_domain.split('.').all(is_dns_label) {
            return Err(SettingsError::Invalid {
                field: "app_domain",
                reason: "must be a lowercase domain name such as 'restapi.cloud'",
            });
        }
        let tls_files = self.tls_certificate_file.is_some() && self.tls_key_file.is_some();
        if self.data_plane_https_listen.is_some() && !tls_files {
            return Err(SettingsError::Invalid {
                field: "data_plane_https_listen",
                reason: "needs tls_certificate_file and tls_key_file",
            });
        }
        Ok(())
    }

    /// The connection to the control plane, or the first required setting that is missing.
    pub fn connection(&self) -> Result<Connection, SettingsError> {
        self.validate()?;
        let url = self
            .control_plane_url
            .as_ref()
            .ok_or(SettingsError::Missing("control_plane_url"))?;
        let region = self
            .region
            .clone()
            .ok_or(SettingsError::Missing("region"))?;
        let node_token = self
            .node_token
            .clone()
            .ok_or(SettingsError::Missing("node_token"))?;
        Ok(Connection {
            control_plane_url: url.trim_end_matches('/').to_owned(),
            region,
            node_token,
        })
    }
}

fn validate_url(url: &str) -> Result<(), SettingsError> {
    let invalid = |reason| SettingsError::Invalid {
        field: "control_plane_url",
        reason,
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("must start with http:// or https://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains(char::is_whitespace) {
        return Err(invalid("must name a host"));
    }
    if rest.contains(['?', '#']) {
        return Err(invalid("must not have a query or a fragment"));
    }
    Ok(())
}

/// Whether `label` is a lowercase DNS label (RFC 1035 §2.3.1, with digits allowed first).
fn is_dns_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Settings {
        Settings {
            control_plane_url: Some("http://127.0.0.1:8090/".to_owned()),
            region: Some("eu".to_owned()),
            node_token: Some(SecretString::new("rnt_x".to_owned())),
            ..Settings::default()
        }
    }

    #[test]
    fn defaults_and_a_complete_connection_validate() {
        assert_eq!(Settings::default().validate(), Ok(()));
        let connection = valid().connection().unwrap();
        assert_eq!(connection.control_plane_url, "http://127.0.0.1:8090");
        assert_eq!(connection.region, "eu");
    }

    #[test]
    fn errors_name_the_field() {
        let bad_region = Settings {
            region: Some("EU!".to_owned()),
            ..valid()
        };
        assert!(
            bad_region
                .validate()
                .unwrap_err()
                .to_string()
                .contains("'region'")
        );

        let bad_url = Settings {
            control_plane_url: Some("ftp://x".to_owned()),
            ..valid()
        };
        assert!(
            bad_url
                .validate()
                .unwrap_err()
                .to_string()
                .contains("'control_plane_url'")
        );

        let bad_domain = Settings {
            app_domain: "-x.cloud".to_owned(),
            ..valid()
        };
        assert!(
            bad_domain
                .validate()
                .unwrap_err()
                .to_string()
                .contains("'app_domain'")
        );

        let missing = Settings {
            node_token: None,
            ..valid()
        };
        assert_eq!(
            missing.connection().unwrap_err(),
            SettingsError::Missing("node_token")
        );
    }

    #[test]
    fn bad_scheme_is_refused_by_the_loader_naming_the_key() {
        let figment = figment::Figment::new().merge(("public_scheme", "ftp"));
        let error = figment.extract::<Settings>().unwrap_err().to_string();
        assert!(error.contains("public_scheme"), "{error}");
    }
}
