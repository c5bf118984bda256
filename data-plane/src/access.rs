//! Who may call which part of an API's upstream: its access rules, compiled once per
//! configuration change, and the other settings of the API behind the data plane.
//!
//! A rule names a role, methods and a path prefix. A request is allowed when any rule that
//! matches its method and path grants it: `_EVERYONE` grants everybody, `_AUTHENTICATED_USER`
//! and `_CREATOR` any authenticated caller (the upstream checks who created a record), any
//! other role the callers whose token lists it. No matching rule, nobody passes.
//!
//! Matching knows nothing of HTTP beyond the method: the gateway hands over the method, the
//! path relative to the API base (already normalised, see [`normalize_path`]) and the roles of
//! the caller, if authenticated.

use std::borrow::Cow;

use axum::http::Method;
use restapi_shared::push::{AccessRule, WebConfig};

/// The built-in role that grants every caller, authenticated or not.
pub const EVERYONE: &str = "_EVERYONE";
/// The built-in role that grants every authenticated caller.
pub const AUTHENTICATED_USER: &str = "_AUTHENTICATED_USER";
/// The built-in role of a record's creator: any authenticated caller here; the upstream checks
/// ownership (the `RestAPI-User-Id` header names the caller).
pub const CREATOR: &str = "_CREATOR";

/// How requests that are not platform endpoints are handled for one API, prepared once.
#[derive(Debug, Default)]
pub struct GatewayState {
    /// Base URL of the customer's backend, without a trailing slash; `None`: not configured
    /// or unusable (logged when prepared).
    pub upstream: Option<String>,
    /// Base URL of the customer's web app, without a trailing slash.
    pub web_upstream: Option<String>,
    /// The access rules, compiled.
    pub rules: AccessRules,
    /// Origins allowed to call the API from a browser.
    pub cors_origins: Vec<String>,
}

impl GatewayState {
    /// Prepares the web settings of the API named `api_name`.
    pub fn prepare(api_name: &str, web: &WebConfig) -> Self {
        Self {
            upstream: upstream_base(api_name, "upstream", web.upstream.as_deref()),
            web_upstream: upstream_base(api_name, "web_upstream", web.web_upstream.as_deref()),
            rules: AccessRules::compile(&web.access_rules),
            cors_origins: web.cors_origins.clone(),
        }
    }
}

/// A base URL usable for forwarding: absolute `http` or `https`, without query or fragment;
/// returned without its trailing slash so that a path can be appended.
fn upstream_base(api_name: &str, setting: &str, url: Option<&str>) -> Option<String> {
    let url = url?.trim();
    let usable = reqwest::Url::parse(url).is_ok_and(|parsed| {
        matches!(parsed.scheme(), "http" | "https")
            && parsed.has_host()
            && parsed.query().is_none()
            && parsed.fragment().is_none()
    });
    if !usable {
        tracing::error!(api = %api_name, setting, "upstream URL unusable; not forwarding");
        return None;
    }
    Some(url.trim_end_matches('/').to_owned())
}

/// An API's access rules, ready for matching.
#[derive(Debug, Default)]
pub struct AccessRules {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    grant: Grant,
    methods: Methods,
    /// The prefix without its trailing slash: `""` for `/`, `/products` for `/products/`.
    prefix: String,
}

#[derive(Debug, PartialEq, Eq)]
enum Grant {
    Everyone,
    Authenticated,
    Role(String),
}

#[derive(Debug)]
enum Methods {
    All,
    /// Uppercase method names; `GET` stands for `HEAD` as well.
    Listed(Vec<String>),
}

/// Who is calling, as far as the rules care.
#[derive(Clone, Copy, Debug)]
pub enum Caller<'a> {
    /// No valid credentials.
    Anonymous,
    /// A valid access token of the API holding these roles.
    Authenticated {
        /// The token's `roles`.
        roles: &'a [String],
    },
}

/// The outcome of the rules for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A matching rule grants the caller.
    Allowed,
    /// Refused, and the caller is not authenticated: credentials might help (401).
    Unauthenticated,
    /// Refused although authenticated: no matching rule grants the caller's roles (403).
    Forbidden,
}

impl AccessRules {
    /// Compiles `rules`; methods are compared in upper case, prefixes by whole segments.
    pub fn compile(rules: &[AccessRule]) -> Self {
        let rules = rules
            .iter()
            .map(|rule| Rule {
                grant: match rule.role.as_str() {
                    EVERYONE => Grant::Everyone,
                    AUTHENTICATED_USER | CREATOR => Grant::Authenticated,
                    role => Grant::Role(role.to_owned()),
                },
                methods: if rule.methods.iter().any(|method| method == "*") {
                    Methods::All
                } else {
                    Methods::Listed(
                        rule.methods
                            .iter()
                            .map(|method| method.trim().to_ascii_uppercase())
                            .collect(),
                    )
                },
                prefix: normalized_prefix(&rule.path),
            })
            .collect();
        Self { rules }
    }

    /// Whether `caller` may use `method` on `path` (relative to the API base, starting with
    /// `/`, normalised by [`normalize_path`]).
    pub fn decide(&self, method: &Method, path: &str, caller: Caller<'_>) -> Decision {
        let mut matched = self
            .rules
            .iter()
            .filter(|rule| rule.methods.matches(method) && prefix_matches(&rule.prefix, path));
        let allowed = matched.any(|rule| match (&rule.grant, caller) {
            (Grant::Everyone, _) => true,
            (_, Caller::Anonymous) => false,
            (Grant::Authenticated, Caller::Authenticated { .. }) => true,
            (Grant::Role(role), Caller::Authenticated { roles }) => roles.contains(role),
        });
        match (allowed, caller) {
            (true, _) => Decision::Allowed,
            (false, Caller::Anonymous) => Decision::Unauthenticated,
            (false, Caller::Authenticated { .. }) => Decision::Forbidden,
        }
    }
}

impl Methods {
    fn matches(&self, method: &Method) -> bool {
        // RFC 9110 §9.3.2: HEAD is GET without the body, so whoever may GET may HEAD.
        let method = if method == Method::HEAD {
            Method::GET.as_str()
        } else {
            method.as_str()
        };
        match self {
            Self::All => true,
            Self::Listed(methods) => methods.iter().any(|listed| listed == method),
        }
    }
}

/// A rule's path as a prefix: leading slash added, trailing slashes removed.
fn normalized_prefix(path: &str) -> String {
    let trimmed = path.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// Whether `path` is `prefix` or lies under it, by whole segments.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.is_empty(),
        None => false,
    }
}

/// Why a request path cannot be matched safely.
#[derive(Debug, PartialEq, Eq)]
pub struct UnsafePath;

/// The path relative to the API base in the one form that rules and the upstream both see.
///
/// Percent-encoded unreserved characters are decoded (RFC 3986 §6.2.2.2) and repeated
/// slashes collapsed, so `/%70roducts` or `//products` cannot slip past a rule for
/// `/products` that the upstream would apply them to. A `.` or `..` segment, however
/// encoded, is refused: the upstream would resolve it to a path the rules never saw.
pub fn normalize_path(path: &str) -> Result<Cow<'_, str>, UnsafePath> {
    let needs_work = path.contains('%') || path.contains("//") || !path.starts_with('/');
    let normalized = if needs_work {
        Cow::Owned(normalize_slow(path))
    } else {
        Cow::Borrowed(path)
    };
    let dot_segment = normalized
        .split('/')
        .any(|segment| segment == "." || segment == "..");
    if dot_segment {
        return Err(UnsafePath);
    }
    Ok(normalized)
}

fn normalize_slow(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len() + 1);
    if !path.starts_with('/') {
        out.push('/');
    }
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'%'
            && let Some(decoded) = hex_pair(bytes.get(index + 1..index + 3))
        {
            if is_unreserved(decoded) {
                out.push(char::from(decoded));
            } else {
                out.push('%');
                out.push_str(&format!("{decoded:02X}"));
            }
            index += 3;
            continue;
        }
        if byte == b'/' && out.ends_with('/') {
            index += 1;
            continue;
        }
        // The path of a parsed URI is ASCII; anything else is kept as it is, byte by byte.
        out.push(char::from(byte));
        index += 1;
    }
    out
}

fn hex_pair(pair: Option<&[u8]>) -> Option<u8> {
    let pair = std::str::from_utf8(pair?).ok()?;
    u8::from_str_radix(pair, 16).ok()
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(role: &str, methods: &[&str], path: &str) -> AccessRule {
        AccessRule {
            role: role.to_owned(),
            methods: methods.iter().map(|method| (*method).to_owned()).collect(),
            path: path.to_owned(),
        }
    }

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn prefixes_match_whole_segments_only() {
        let rules = AccessRules::compile(&[rule(EVERYONE, &["GET"], "/products")]);
        let decide = |path| rules.decide(&Method::GET, path, Caller::Anonymous);
        assert_eq!(decide("/products"), Decision::Allowed);
        assert_eq!(decide("/products/7"), Decision::Allowed);
        assert_eq!(decide("/products/7/reviews"), Decision::Allowed);
        assert_eq!(decide("/productsx"), Decision::Unauthenticated);
        assert_eq!(decide("/"), Decision::Unauthenticated);
        assert_eq!(decide("/orders/products"), Decision::Unauthenticated);

        let trailing = AccessRules::compile(&[rule(EVERYONE, &["GET"], "products/")]);
        let decide = |path| trailing.decide(&Method::GET, path, Caller::Anonymous);
        assert_eq!(decide("/products/7"), Decision::Allowed);
        assert_eq!(decide("/productsx"), Decision::Unauthenticated);
    }

    #[test]
    fn root_matches_everything() {
        let rules = AccessRules::compile(&[rule(EVERYONE, &["*"], "/")]);
        for path in ["/", "/a", "/a/b/c"] {
            assert_eq!(
                rules.decide(&Method::DELETE, path, Caller::Anonymous),
                Decision::Allowed,
                "{path}"
            );
        }
    }

    #[test]
    fn methods_are_listed_or_any_and_head_counts_as_get() {
        let rules = AccessRules::compile(&[
            rule(EVERYONE, &["get"], "/read"),
            rule(EVERYONE, &["POST", "PUT"], "/write"),
            rule(EVERYONE, &["*"], "/any"),
        ]);
        let decide = |method: Method, path| rules.decide(&method, path, Caller::Anonymous);
        assert_eq!(decide(Method::GET, "/read"), Decision::Allowed);
        assert_eq!(decide(Method::HEAD, "/read"), Decision::Allowed);
        assert_eq!(decide(Method::POST, "/read"), Decision::Unauthenticated);
        assert_eq!(decide(Method::PUT, "/write/1"), Decision::Allowed);
        assert_eq!(decide(Method::HEAD, "/write"), Decision::Unauthenticated);
        assert_eq!(decide(Method::PATCH, "/any"), Decision::Allowed);
        let custom = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(decide(custom, "/any"), Decision::Allowed);
    }

    #[test]
    fn built_in_roles_and_token_roles() {
        let rules = AccessRules::compile(&[
            rule(AUTHENTICATED_USER, &["GET"], "/me"),
            rule(CREATOR, &["PUT"], "/posts"),
            rule("writer", &["POST"], "/posts"),
        ]);
        let reader = roles(&["reader"]);
        let writer = roles(&["writer"]);
        let as_reader = Caller::Authenticated { roles: &reader };
        let as_writer = Caller::Authenticated { roles: &writer };

        assert_eq!(
            rules.decide(&Method::GET, "/me", Caller::Anonymous),
            Decision::Unauthenticated
        );
        assert_eq!(
            rules.decide(&Method::GET, "/me", as_reader),
            Decision::Allowed
        );
        assert_eq!(
            rules.decide(&Method::PUT, "/posts/1", as_reader),
            Decision::Allowed
        );
        assert_eq!(
            rules.decide(&Method::POST, "/posts", as_reader),
            Decision::Forbidden
        );
        assert_eq!(
            rules.decide(&Method::POST, "/posts", as_writer),
            Decision::Allowed
        );
        assert_eq!(
            rules.decide(&Method::POST, "/posts", Caller::Anonymous),
            Decision::Unauthenticated
        );
    }

    #[test]
    fn no_rules_refuse_everything() {
        let rules = AccessRules::default();
        let admin = roles(&["admin"]);
        assert_eq!(
            rules.decide(&Method::GET, "/", Caller::Anonymous),
            Decision::Unauthenticated
        );
        assert_eq!(
            rules.decide(&Method::GET, "/", Caller::Authenticated { roles: &admin }),
            Decision::Forbidden
        );
    }

    #[test]
    fn a_role_named_like_a_built_in_one_only_by_case_is_a_plain_role() {
        let rules = AccessRules::compile(&[rule("_everyone", &["GET"], "/")]);
        assert_eq!(
            rules.decide(&Method::GET, "/", Caller::Anonymous),
            Decision::Unauthenticated
        );
    }

    #[test]
    fn paths_are_normalised_before_matching() {
        assert_eq!(normalize_path("/products/7").unwrap(), "/products/7");
        assert_eq!(normalize_path("/%70roducts").unwrap(), "/products");
        assert_eq!(normalize_path("//products///7").unwrap(), "/products/7");
        assert_eq!(normalize_path("/a%2fb").unwrap(), "/a%2Fb");
        assert_eq!(normalize_path("/a%zz").unwrap(), "/a%zz");
        assert_eq!(normalize_path("").unwrap(), "/");
        assert_eq!(normalize_path("/a/..").unwrap_err(), UnsafePath);
        assert_eq!(normalize_path("/a/%2e%2E/admin").unwrap_err(), UnsafePath);
        assert_eq!(normalize_path("/./a").unwrap_err(), UnsafePath);
        assert_eq!(normalize_path("/a/...").unwrap(), "/a/...");
    }

    #[test]
    fn upstream_urls_are_checked_and_lose_their_trailing_slash() {
        let base = |url| upstream_base("shop", "upstream", Some(url));
        assert_eq!(
            base("http://127.0.0.1:8080/v1/"),
            Some("http://127.0.0.1:8080/v1".to_owned())
        );
        assert_eq!(
            base("https://backend.example.com"),
            Some("https://backend.example.com".to_owned())
        );
        assert_eq!(base("ftp://backend.example.com"), None);
        assert_eq!(base("http://backend.example.com/?a=1"), None);
        assert_eq!(base("not a url"), None);
    }
}
