//! The cookies of a browser session: their names, scopes and attributes, in one place.
//!
//! Four cookies exist per API and host:
//! - the access cookie holds the access token itself and authenticates every request;
//! - the refresh cookie holds an opaque refresh token and is sent only to the refresh path;
//!   a copy set at sign-in goes only to the logout path, so that signing out can end the
//!   session even after the hour-long access cookie has gone (the copy's token is never
//!   redeemed: only its family is read);
//! - the login cookie holds the sealed state of one sign-in between `/login` and the
//!   provider's callback;
//! - the passkey cookie holds the sealed state of one WebAuthn ceremony (its challenge)
//!   between the options the page asks for and the credential it sends back.
//!
//! Over HTTPS the names carry the browser-enforced prefixes: `__Host-` where the cookie is
//! scoped to the whole host, `__Secure-` otherwise. On the regional host every API shares
//! one host, so each API's cookies are scoped to its base path `/<api>`.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

use crate::routing::HostKind;

/// Base name of the access cookie.
const ACCESS: &str = "restapi-access";
/// Base name of the refresh cookie.
const REFRESH: &str = "restapi-refresh";
/// Base name of the login state cookie.
const LOGIN: &str = "restapi-login";
/// Base name of the passkey ceremony cookie.
const PASSKEY: &str = "restapi-passkey";

/// Where an API's cookies live on one host, and what they are called there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieScope {
    /// Whether cookies are `Secure` (every public scheme but plain-HTTP dev mode).
    pub secure: bool,
    /// Path of the access and login cookies: `/` on the app host, `/<api>` on the regional.
    pub path: String,
    /// Path of the refresh cookie: the refresh endpoint's path.
    pub refresh_path: String,
    /// Path of the refresh cookie's copy that names the session to sign out.
    pub logout_path: String,
    /// Name of the access cookie.
    pub access_name: &'static str,
    /// Name of the refresh cookie.
    pub refresh_name: &'static str,
    /// Name of the login state cookie.
    pub login_name: &'static str,
    /// Name of the passkey ceremony cookie.
    pub passkey_name: &'static str,
}

impl CookieScope {
    /// The scope of the API whose base on this host is `base` (`/api` or `/<api>`).
    pub fn new(host_kind: HostKind, base: &str, secure: bool) -> Self {
        let whole_host = host_kind == HostKind::App;
        let path = if whole_host {
            "/".to_owned()
        } else {
            base.to_owned()
        };
        Self {
            secure,
            refresh_path: format!("{base}/_refresh"),
            logout_path: format!("{base}/_logout"),
            path,
            access_name: match (secure, whole_host) {
                (true, true) => "__Host-restapi-access",
                (true, false) => "__Secure-restapi-access",
                (false, _) => ACCESS,
            },
            refresh_name: if secure {
                "__Secure-restapi-refresh"
            } else {
                REFRESH
            },
            login_name: match (secure, whole_host) {
                (true, true) => "__Host-restapi-login",
                (true, false) => "__Secure-restapi-login",
                (false, _) => LOGIN,
            },
            passkey_name: match (secure, whole_host) {
                (true, true) => "__Host-restapi-passkey",
                (true, false) => "__Secure-restapi-passkey",
                (false, _) => PASSKEY,
            },
        }
    }
}

/// The value of the first cookie named `name` in the request's `Cookie` headers.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn app_host_cookies_cover_the_host_and_carry_prefixes_over_https() {
        let scope = CookieScope::new(HostKind::App, "/api", true);
        assert_eq!(scope.path, "/");
        assert_eq!(scope.refresh_path, "/api/_refresh");
        assert_eq!(scope.logout_path, "/api/_logout");
        assert_eq!(scope.access_name, "__Host-restapi-access");
        assert_eq!(scope.refresh_name, "__Secure-restapi-refresh");
    }

    #[test]
    fn regional_host_cookies_are_scoped_to_the_api() {
        let scope = CookieScope::new(HostKind::Regional, "/shop", false);
        assert_eq!(scope.path, "/shop");
        assert_eq!(scope.refresh_path, "/shop/_refresh");
        assert_eq!(scope.access_name, "restapi-access");
    }

    #[test]
    fn reads_a_cookie_among_several_headers() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; restapi-access=tok"));
        headers.append(COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(read(&headers, "restapi-access"), Some("tok"));
        assert_eq!(read(&headers, "b"), Some("2"));
        assert_eq!(read(&headers, "c"), None);
    }
}
