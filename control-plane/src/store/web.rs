//! An API's web settings: where the data plane forwards requests, who may call what, which
//! origins a browser may come from or return to, and how the hosted login page looks.
//!
//! Input is checked here once and stored normalised (origins lowercased, colours lowercased),
//! so what the data plane receives in `ApiConfig.web` never needs checking again.

use restapi_shared::push::{AccessRule, Branding, WebConfig};
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::StoreError;
use crate::names;

/// Most access rules an API may have: every request walks them.
pub const MAX_ACCESS_RULES: usize = 200;
/// Most origins in `corsOrigins` or `redirectOrigins`.
pub const MAX_ORIGINS: usize = 100;
/// Longest URL accepted anywhere in the settings.
pub const MAX_URL_LEN: usize = 2048;
/// Longest access rule path.
const MAX_RULE_PATH_LEN: usize = 1024;
/// Longest branding display name.
const MAX_BRANDING_NAME_LEN: usize = 100;
/// The methods an access rule may name; `*` stands for all of them.
const KNOWN_METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// An access rule as written to the admin API.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessRuleInput {
    /// A role of the API, or `_EVERYONE`, `_AUTHENTICATED_USER` or `_CREATOR`.
    #[schema(example = "reader")]
    pub role: String,
    /// Uppercase HTTP methods (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS), or `["*"]`.
    #[schema(example = json!(["GET", "HEAD"]))]
    pub methods: Vec<String>,
    /// A path prefix starting with `/`, matched whole segments at a time; no `?`, `#` or `..`.
    #[schema(example = "/products")]
    pub path: String,
}

/// The look of the hosted login page as written to the admin API; absent values take the
/// platform's defaults.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrandingInput {
    /// The name shown on the page (at most 100 characters); the API's name when absent.
    pub display_name: Option<String>,
    /// An `https` URL of a logo image (`http` only for `localhost` and `127.0.0.1`).
    pub logo_url: Option<String>,
    /// Colour of buttons and links, `#rrggbb`.
    #[schema(example = "#0b57d0")]
    pub primary_color: Option<String>,
    /// Colour of the page behind the sign-in card, `#rrggbb`.
    #[schema(example = "#f5f5f5")]
    pub background_color: Option<String>,
}

/// For PATCH bodies: an absent field stays `None`, an explicit `null` becomes `Some(None)`.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Checks a base URL of the customer's backend or web app (`upstream`, `webUpstream`).
pub(super) fn check_upstream(field: &str, url: &str) -> Result<String, StoreError> {
    parse_http_url(field, url).map_err(StoreError::InvalidField)?;
    Ok(url.to_owned())
}

/// Checks access rules against the API's roles.
pub(super) fn check_access_rules(
    rules: &[AccessRuleInput],
    roles: &[String],
) -> Result<Vec<AccessRule>, StoreError> {
    if rules.len() > MAX_ACCESS_RULES {
        return Err(invalid(format!(
            "accessRules may hold at most {MAX_ACCESS_RULES} rules"
        )));
    }
    rules
        .iter()
        .enumerate()
        .map(|(index, rule)| check_access_rule(index, rule, roles))
        .collect()
}

/// Checks and normalises a list of origins: `scheme://host[:port]`, lowercased, each once.
pub(super) fn check_origins(field: &str, origins: &[String]) -> Result<Vec<String>, StoreError> {
    if origins.len() > MAX_ORIGINS {
        return Err(invalid(format!(
            "{field} may hold at most {MAX_ORIGINS} origins"
        )));
    }
    let mut checked: Vec<String> = Vec::with_capacity(origins.len());
    for origin in origins {
        let origin = origin.to_ascii_lowercase();
        let url = parse_http_url(field, &origin).map_err(StoreError::InvalidField)?;
        if !url.path.is_empty() {
            return Err(invalid(format!(
                "{field} holds '{origin}', which is not an origin: scheme://host[:port] with \
                 no path and no trailing slash"
            )));
        }
        if !checked.contains(&origin) {
            checked.push(origin);
        }
    }
    Ok(checked)
}

/// Checks the branding of the login page and normalises its colours to lowercase.
pub(super) fn check_branding(input: &BrandingInput) -> Result<Branding, StoreError> {
    if let Some(name) = &input.display_name {
        names::check_text("branding.displayName", name, MAX_BRANDING_NAME_LEN)
            .map_err(StoreError::InvalidField)?;
        if name.trim().is_empty() {
            return Err(invalid("branding.displayName may not be blank"));
        }
    }
    if let Some(logo_url) = &input.logo_url {
        let url = parse_http_url("branding.logoUrl", logo_url).map_err(StoreError::InvalidField)?;
        let loopback = matches!(url.host, "localhost" | "127.0.0.1");
        if url.scheme != "https" && !loopback {
            return Err(invalid(
                "branding.logoUrl must be an https URL (http only for localhost and 127.0.0.1)",
            ));
        }
    }
    Ok(Branding {
        display_name: input.display_name.clone(),
        logo_url: input.logo_url.clone(),
        primary_color: check_color("branding.primaryColor", input.primary_color.as_deref())?,
        background_color: check_color(
            "branding.backgroundColor",
            input.background_color.as_deref(),
        )?,
    })
}

/// The first access rule that names one of `removed`, as `(role, path)`.
pub(super) fn rule_using<'a>(
    rules: &'a [AccessRule],
    removed: &[&String],
) -> Option<&'a AccessRule> {
    rules
        .iter()
        .find(|rule| removed.iter().any(|role| **role == rule.role))
}

/// Web settings as stored in the columns of `apis`.
pub(super) struct WebColumns {
    pub(super) upstream: Option<String>,
    pub(super) web_upstream: Option<String>,
    pub(super) access_rules: String,
    pub(super) cors_origins: String,
    pub(super) redirect_origins: String,
    pub(super) branding: String,
}

impl WebColumns {
    /// The columns of `web`.
    pub(super) fn of(web: &WebConfig) -> Self {
        Self {
            upstream: web.upstream.clone(),
            web_upstream: web.web_upstream.clone(),
            access_rules: to_json(&web.access_rules),
            cors_origins: to_json(&web.cors_origins),
            redirect_origins: to_json(&web.redirect_origins),
            branding: to_json(&web.branding),
        }
    }

    /// The settings these columns hold.
    pub(super) fn into_web(self) -> Result<WebConfig, StoreError> {
        Ok(WebConfig {
            upstream: self.upstream,
            web_upstream: self.web_upstream,
            access_rules: from_json("access rules", &self.access_rules)?,
            cors_origins: from_json("CORS origins", &self.cors_origins)?,
            redirect_origins: from_json("redirect origins", &self.redirect_origins)?,
            branding: from_json("branding", &self.branding)?,
        })
    }
}

/// The parts of an absolute `http` or `https` URL that the checks look at.
#[derive(Debug)]
pub(crate) struct HttpUrl<'a> {
    /// `http` or `https`.
    pub(crate) scheme: &'a str,
    /// The host, without port (an IPv6 address keeps its brackets).
    pub(crate) host: &'a str,
    /// Everything after the authority: empty or starting with `/`.
    pub(crate) path: &'a str,
}

/// Parses an absolute `http`/`https` URL with a host, no user info, query or fragment.
pub(crate) fn parse_http_url<'a>(field: &str, url: &'a str) -> Result<HttpUrl<'a>, String> {
    let refuse = |why: &str| {
        Err(format!(
            "{field} must be an absolute http or https URL {why}: '{}'",
            url.chars().take(200).collect::<String>()
        ))
    };
    if url.len() > MAX_URL_LEN {
        return Err(format!(
            "{field} must be at most {MAX_URL_LEN} characters long"
        ));
    }
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("http", rest)
    } else {
        return refuse("(starting with https:// or http://)");
    };
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\' || !c.is_ascii())
    {
        return refuse("without spaces, backslashes or non-ASCII characters");
    }
    if url.contains(['?', '#']) {
        return refuse("without query or fragment");
    }
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let Some(host) = host_of(authority) else {
        return refuse("with a valid host and port");
    };
    Ok(HttpUrl { scheme, host, path })
}

/// The host of `host[:port]`, if both parts are well formed (no user info).
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, after) = authority.split_at(end + 1);
        host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().ok()?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|port| port > 0)
    {
        return None;
    }
    let labels_fine = host.starts_with('[')
        || (!host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
            }));
    labels_fine.then_some(host)
}

fn check_access_rule(
    index: usize,
    rule: &AccessRuleInput,
    roles: &[String],
) -> Result<AccessRule, StoreError> {
    let field = format!("accessRules[{index}]");
    let known_role =
        roles.contains(&rule.role) || names::BUILT_IN_ROLES.contains(&rule.role.as_str());
    if !known_role {
        return Err(invalid(format!(
            "{field}.role '{}' is neither a role of the API nor one of {}",
            rule.role,
            names::BUILT_IN_ROLES.join(", ")
        )));
    }

    let all = rule.methods.len() == 1 && rule.methods[0] == "*";
    if rule.methods.is_empty() {
        return Err(invalid(format!("{field}.methods may not be empty")));
    }
    if !all {
        for (position, method) in rule.methods.iter().enumerate() {
            if !KNOWN_METHODS.contains(&method.as_str()) {
                return Err(invalid(format!(
                    "{field}.methods holds '{method}': use uppercase {} or [\"*\"] alone",
                    KNOWN_METHODS.join(", ")
                )));
            }
            if rule.methods[..position].contains(method) {
                return Err(invalid(format!("{field}.methods lists '{method}' twice")));
            }
        }
    }

    let path = &rule.path;
    if !path.starts_with('/') {
        return Err(invalid(format!("{field}.path must start with '/'")));
    }
    if path.len() > MAX_RULE_PATH_LEN {
        return Err(invalid(format!(
            "{field}.path must be at most {MAX_RULE_PATH_LEN} characters long"
        )));
    }
    if path.contains(['?', '#']) || path.contains("..") {
        return Err(invalid(format!(
            "{field}.path may not contain '?', '#' or '..'"
        )));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!(
            "{field}.path may not contain spaces or control characters"
        )));
    }
    Ok(AccessRule {
        role: rule.role.clone(),
        methods: rule.methods.clone(),
        path: path.clone(),
    })
}

fn check_color(field: &str, color: Option<&str>) -> Result<Option<String>, StoreError> {
    let Some(color) = color else {
        return Ok(None);
    };
    let hex = color.strip_prefix('#').unwrap_or_default();
    if hex.len() != 6 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(invalid(format!(
            "{field} must be a colour written #rrggbb, such as #0b57d0"
        )));
    }
    Ok(Some(color.to_ascii_lowercase()))
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::InvalidField(message.into())
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    // Plain data of strings, lists and options: serialising cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt(format!("{what}: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(role: &str, methods: &[&str], path: &str) -> AccessRuleInput {
        AccessRuleInput {
            role: role.to_owned(),
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            path: path.to_owned(),
        }
    }

    fn message(error: StoreError) -> String {
        match error {
            StoreError::InvalidField(message) => message,
            other => panic!("not a field error: {other:?}"),
        }
    }

    #[test]
    fn urls_need_a_scheme_and_host_and_no_query() {
        for good in [
            "https://backend.example.com",
            "http://127.0.0.1:8000/api",
            "https://[::1]:8443/x",
            "https://login.microsoftonline.com/{tenantid}/v2.0",
        ] {
            assert!(parse_http_url("upstream", good).is_ok(), "{good}");
        }
        for bad in [
            "backend.example.com",
            "ftp://x.example",
            "https://",
            "https://a.example?x=1",
            "https://a.example/#top",
            "https://user@a.example",
            "https://a.example:0",
            "https://a.example:99999",
            "https://a .example",
            "https://-a.example",
        ] {
            let error = parse_http_url("upstream", bad).unwrap_err();
            assert!(error.starts_with("upstream"), "{bad}: {error}");
        }
    }

    #[test]
    fn origins_are_lowercased_deduplicated_and_pathless() {
        let origins = check_origins(
            "corsOrigins",
            &[
                "https://App.Example.com".to_owned(),
                "https://app.example.com".to_owned(),
                "http://localhost:3000".to_owned(),
            ],
        )
        .unwrap();
        assert_eq!(
            origins,
            ["https://app.example.com", "http://localhost:3000"]
        );
        for bad in [
            "https://app.example.com/",
            "https://a.example/x",
            "app.example",
        ] {
            let error = message(check_origins("corsOrigins", &[bad.to_owned()]).unwrap_err());
            assert!(error.contains("corsOrigins"), "{bad}: {error}");
        }
    }

    #[test]
    fn access_rules_name_roles_methods_and_paths() {
        let roles = vec!["reader".to_owned()];
        let rules = [
            rule("reader", &["GET", "HEAD"], "/products"),
            rule("_EVERYONE", &["*"], "/"),
        ];
        assert_eq!(check_access_rules(&rules, &roles).unwrap().len(), 2);
        let cases = [
            (rule("writer", &["GET"], "/"), "accessRules[0].role"),
            (rule("reader", &[], "/"), "accessRules[0].methods"),
            (rule("reader", &["get"], "/"), "accessRules[0].methods"),
            (rule("reader", &["GET", "*"], "/"), "accessRules[0].methods"),
            (
                rule("reader", &["GET", "GET"], "/"),
                "accessRules[0].methods",
            ),
            (rule("reader", &["GET"], "products"), "accessRules[0].path"),
            (rule("reader", &["GET"], "/a?b"), "accessRules[0].path"),
            (rule("reader", &["GET"], "/a/../b"), "accessRules[0].path"),
        ];
        for (bad, field) in cases {
            let error = message(check_access_rules(&[bad], &roles).unwrap_err());
            assert!(error.contains(field), "{error}");
        }
    }

    #[test]
    fn branding_checks_colours_and_logo_scheme() {
        let branding = check_branding(&BrandingInput {
            display_name: Some("Shop".to_owned()),
            logo_url: Some("http://localhost:3000/logo.png".to_owned()),
            primary_color: Some("#0B57D0".to_owned()),
            background_color: None,
        })
        .unwrap();
        assert_eq!(branding.primary_color.as_deref(), Some("#0b57d0"));
        let bad = [
            BrandingInput {
                logo_url: Some("http://cdn.example/logo.png".to_owned()),
                ..BrandingInput::default()
            },
            BrandingInput {
                primary_color: Some("blue".to_owned()),
                ..BrandingInput::default()
            },
            BrandingInput {
                background_color: Some("#12345".to_owned()),
                ..BrandingInput::default()
            },
            BrandingInput {
                display_name: Some("x".repeat(101)),
                ..BrandingInput::default()
            },
        ];
        for input in bad {
            assert!(message(check_branding(&input).unwrap_err()).starts_with("branding."));
        }
    }
}
