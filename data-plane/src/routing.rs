//! Step one of every request: which API, on which kind of host, and which platform endpoint.
//!
//! Pure functions over the configuration in memory: no I/O, no allocation on the common path.

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::Method;

use crate::config::{ApiState, RegionState};

/// The two ways an API is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// The region's shared host, the API named by the first path segment: `eu.restapi.com/shop`.
    Regional,
    /// The API's own host under the app domain, the API under `/api`: `shop.restapi.cloud/api`;
    /// or one of its custom domains, which serve it the same way.
    App,
}

/// The base path of every API on its app host.
pub const APP_BASE: &str = "/api";

/// The path segment of the hosted login page: `/login` on the app host, `/<api>/login` on
/// the regional host.
pub const LOGIN_SEGMENT: &str = "login";

/// Which part of the platform a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// Under the API base: a platform endpoint, or the API's upstream.
    Api,
    /// The hosted login page and its callbacks.
    Login,
    /// Anything else on the app host: the customer's web app.
    Web,
}

/// A request resolved to an API.
#[derive(Debug)]
pub struct ApiTarget<'a> {
    /// The API.
    pub api: Arc<ApiState>,
    /// How it was reached.
    pub host_kind: HostKind,
    /// The API's base path on this host: `/<api>` or `/api`.
    pub base: &'a str,
    /// Which part of the platform the request is for.
    pub area: Area,
    /// For [`Area::Api`], the rest of the path after the base and its slash, such as
    /// `_token`. For [`Area::Login`], the rest after `login`: empty or `/callback/...`. For
    /// [`Area::Web`], the whole path.
    pub endpoint_path: &'a str,
}

/// Resolves `host` (as sent, port allowed) and `path` to one of the region's APIs.
///
/// `None` for an unknown host or API, including an API of another region, which this data
/// plane never receives.
pub fn resolve_api<'a>(
    region: &RegionState,
    app_domain: &str,
    host: &str,
    path: &'a str,
) -> Option<ApiTarget<'a>> {
    let hostname = strip_port(host)?;

    if hostname.eq_ignore_ascii_case(&region.region.host) {
        let after_slash = path.strip_prefix('/')?;
        let (name, endpoint_path) = after_slash.split_once('/').unwrap_or((after_slash, ""));
        let api = region.api(name)?;
        let base = &path[..1 + name.len()];
        let (area, endpoint_path) = match login_rest(endpoint_path) {
            Some(rest) => (Area::Login, rest),
            None => (Area::Api, endpoint_path),
        };
        return Some(ApiTarget {
            api: Arc::clone(api),
            host_kind: HostKind::Regional,
            base,
            area,
            endpoint_path,
        });
    }

    // An app host, else a custom domain, which serves its API exactly as the app host does.
    let api = match app_label(hostname, app_domain) {
        Some(label) => region.api(&lowercase(label))?,
        None => region.api_by_domain(&lowercase(hostname))?,
    };
    let (area, endpoint_path) = match path.strip_prefix(APP_BASE) {
        Some("") => (Area::Api, ""),
        Some(rest) if rest.starts_with('/') => (Area::Api, &rest[1..]),
        _ => match path.strip_prefix('/').and_then(login_rest) {
            Some(rest) => (Area::Login, rest),
            None => (Area::Web, path),
        },
    };
    Some(ApiTarget {
        api: Arc::clone(api),
        host_kind: HostKind::App,
        base: APP_BASE,
        area,
        endpoint_path,
    })
}

/// `name` in lowercase, copied only when it has an uppercase letter.
fn lowercase(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|byte| byte.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// The rest of `path` (relative to a base, no leading slash) after the `login` segment.
fn login_rest(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(LOGIN_SEGMENT)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// The platform endpoints, relative to the API base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST _auth`: the RestAPI.com service-account sign-in.
    Auth,
    /// `POST _token`: the OAuth 2.0 token endpoint.
    Token,
    /// `GET .well-known/openid-configuration`, and the same document as
    /// `.well-known/oauth-authorization-server` (RFC 8414).
    Discovery,
    /// `GET .well-known/jwks.json`.
    Jwks,
    /// `GET/POST _userinfo`: the OpenID Connect userinfo endpoint.
    UserInfo,
    /// `POST _refresh`: a new access cookie from the refresh cookie.
    Refresh,
    /// `POST _logout`: ends the browser session.
    Logout,
    /// `POST _revoke`: token revocation (RFC 7009).
    Revoke,
    /// `POST _introspect`: token introspection (RFC 7662).
    Introspect,
}

impl Endpoint {
    /// The platform endpoint at `endpoint_path`, if any.
    pub fn at(endpoint_path: &str) -> Option<Self> {
        match endpoint_path {
            "_auth" => Some(Self::Auth),
            "_token" => Some(Self::Token),
            ".well-known/openid-configuration" | ".well-known/oauth-authorization-server" => {
                Some(Self::Discovery)
            }
            ".well-known/jwks.json" => Some(Self::Jwks),
            "_userinfo" => Some(Self::UserInfo),
            "_refresh" => Some(Self::Refresh),
            "_logout" => Some(Self::Logout),
            "_revoke" => Some(Self::Revoke),
            "_introspect" => Some(Self::Introspect),
            _ => None,
        }
    }

    /// The methods the endpoint answers, for `Allow`.
    pub fn allowed_methods(self) -> &'static str {
        match self {
            Self::Auth
            | Self::Token
            | Self::Refresh
            | Self::Logout
            | Self::Revoke
            | Self::Introspect => "POST",
            Self::Discovery | Self::Jwks => "GET, HEAD",
            Self::UserInfo => "GET, POST",
        }
    }

    /// Whether the endpoint answers `method`.
    pub fn allows(self, method: &Method) -> bool {
        match self {
            Self::Auth
            | Self::Token
            | Self::Refresh
            | Self::Logout
            | Self::Revoke
            | Self::Introspect => method == Method::POST,
            Self::Discovery | Self::Jwks => method == Method::GET || method == Method::HEAD,
            Self::UserInfo => method == Method::GET || method == Method::POST,
        }
    }
}

/// The issuer of tokens minted through `host`: `<scheme>://<host as sent><base>`.
pub fn issuer(scheme: &str, host: &str, base: &str) -> String {
    let mut issuer = String::with_capacity(scheme.len() + 3 + host.len() + base.len());
    issuer.push_str(scheme);
    issuer.push_str("://");
    issuer.push_str(host);
    issuer.push_str(base);
    issuer
}

/// The host name without a port; `None` when the port is not a number (a malformed Host
/// header would otherwise end up in issuer URLs).
fn strip_port(host: &str) -> Option<&str> {
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') => {
            (!port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit())).then_some(name)
        }
        Some(_) => None,
        None => Some(host),
    }
}

/// The first label of `hostname` when the rest is `app_domain`: `shop` of `shop.restapi.cloud`.
fn app_label<'a>(hostname: &'a str, app_domain: &str) -> Option<&'a str> {
    let split = hostname.len().checked_sub(app_domain.len() + 1)?;
    let (label, domain) = hostname.split_at_checked(split)?;
    let domain = domain.strip_prefix('.')?;
    (domain.eq_ignore_ascii_case(app_domain) && !label.is_empty() && !label.contains('.'))
        .then_some(label)
}

#[cfg(test)]
mod tests {
    use restapi_shared::push::{RegionConfig, RegionSnapshot};

    use super::*;
    use crate::config::tests::api;

    fn region() -> RegionState {
        RegionState::from_snapshot(RegionSnapshot {
            revision: 1,
            region: RegionConfig {
                id: "reg_1".into(),
                name: "eu".into(),
                host: "eu.localhost".into(),
            },
            apis: vec![api("api_1", "shop", vec![])],
        })
    }

    fn resolve<'a>(host: &str, path: &'a str) -> Option<(HostKind, &'a str, &'a str)> {
        resolve_area(host, path)
            .filter(|(_, area, _)| *area != Area::Web)
            .map(|(kind, _, rest)| {
                (
                    kind,
                    if kind == HostKind::App {
                        APP_BASE
                    } else {
                        "/shop"
                    },
                    rest,
                )
            })
    }

    fn resolve_area<'a>(host: &str, path: &'a str) -> Option<(HostKind, Area, &'a str)> {
        let region = region();
        resolve_api(&region, "restapi.localhost", host, path)
            .map(|target| (target.host_kind, target.area, target.endpoint_path))
    }

    #[test]
    fn a_custom_domain_serves_its_api_like_the_app_host_until_it_is_removed() {
        let mut shop = api("api_1", "shop", vec![]);
        shop.domains = vec![restapi_shared::push::DomainConfig {
            name: "login.example.com".into(),
            ..Default::default()
        }];
        let snapshot = RegionSnapshot {
            revision: 1,
            region: RegionConfig {
                id: "reg_1".into(),
                name: "eu".into(),
                host: "eu.localhost".into(),
            },
            apis: vec![shop],
        };
        let region = RegionState::from_snapshot(snapshot);
        let resolve = |region: &RegionState, host: &str, path: &'static str| {
            resolve_api(region, "restapi.localhost", host, path)
                .map(|target| (target.api.name.clone(), target.host_kind, target.area))
        };
        let shop = Some(("shop".to_owned(), HostKind::App, Area::Api));
        assert_eq!(resolve(&region, "login.example.com", "/api/_token"), shop);
        assert_eq!(
            resolve(&region, "LOGIN.Example.com:443", "/api/_token"),
            shop
        );
        assert_eq!(
            resolve(&region, "login.example.com", "/login").map(|found| found.2),
            Some(Area::Login)
        );
        assert_eq!(resolve(&region, "other.example.com", "/api/_token"), None);
        assert_eq!(resolve(&region, "example.com", "/api/_token"), None);

        // The API's next configuration without the domain: it serves nothing any more.
        let region = region.apply(restapi_shared::push::ChangeBatch {
            revision: 2,
            changes: vec![restapi_shared::push::Change::ApiUpserted {
                api: Box::new(api("api_1", "shop", vec![])),
            }],
        });
        assert_eq!(resolve(&region, "login.example.com", "/api/_token"), None);
        assert!(resolve(&region, "shop.restapi.localhost", "/api/_token").is_some());
    }

    #[test]
    fn login_and_web_areas_are_told_apart() {
        use Area::*;
        let app = "shop.restapi.localhost";
        assert_eq!(
            resolve_area(app, "/login"),
            Some((HostKind::App, Login, ""))
        );
        assert_eq!(
            resolve_area(app, "/login/callback/idp_1"),
            Some((HostKind::App, Login, "/callback/idp_1"))
        );
        assert_eq!(
            resolve_area(app, "/loginx"),
            Some((HostKind::App, Web, "/loginx"))
        );
        assert_eq!(resolve_area(app, "/"), Some((HostKind::App, Web, "/")));
        assert_eq!(
            resolve_area(app, "/apix/a"),
            Some((HostKind::App, Web, "/apix/a"))
        );
        assert_eq!(
            resolve_area(app, "/api/login"),
            Some((HostKind::App, Api, "login"))
        );
        assert_eq!(
            resolve_area("eu.localhost", "/shop/login"),
            Some((HostKind::Regional, Login, ""))
        );
        assert_eq!(
            resolve_area("eu.localhost", "/shop/products"),
            Some((HostKind::Regional, Api, "products"))
        );
    }

    #[test]
    fn regional_host_names_the_api_in_the_path() {
        assert_eq!(
            resolve("eu.localhost", "/shop/_token"),
            Some((HostKind::Regional, "/shop", "_token"))
        );
        assert_eq!(
            resolve("EU.localhost:8080", "/shop/a/b"),
            Some((HostKind::Regional, "/shop", "a/b"))
        );
        assert_eq!(
            resolve("eu.localhost", "/shop"),
            Some((HostKind::Regional, "/shop", ""))
        );
        assert_eq!(resolve("eu.localhost", "/blog/_token"), None);
        assert_eq!(resolve("eu.localhost", "/"), None);
    }

    #[test]
    fn app_host_names_the_api_in_the_host() {
        let expected = Some((HostKind::App, "/api", ".well-known/jwks.json"));
        assert_eq!(
            resolve("shop.restapi.localhost:8080", "/api/.well-known/jwks.json"),
            expected
        );
        assert_eq!(
            resolve("Shop.Restapi.localhost", "/api/_token"),
            Some((HostKind::App, "/api", "_token"))
        );
        assert_eq!(resolve("blog.restapi.localhost", "/api/_token"), None);
        assert_eq!(resolve("a.shop.restapi.localhost", "/api/_token"), None);
    }

    #[test]
    fn unknown_hosts_and_bad_ports_resolve_to_nothing() {
        assert_eq!(resolve("example.com", "/shop/_token"), None);
        assert_eq!(resolve("eu.localhost:http", "/shop/_token"), None);
        assert_eq!(resolve("[::1]:8080", "/shop/_token"), None);
        assert_eq!(resolve("restapi.localhost", "/api/_token"), None);
    }

    #[test]
    fn issuer_keeps_the_host_as_sent() {
        assert_eq!(
            issuer("http", "shop.restapi.localhost:8080", "/api"),
            "http://shop.restapi.localhost:8080/api"
        );
    }
}
