//! Cross-site request forgery: a request authenticated by a cookie may change state only when
//! the browser says it comes from the API's own origin or one of its CORS origins.
//!
//! `SameSite=Lax` alone is not enough: every API under the app domain is the same *site*, so
//! a page of another API could otherwise post with this API's cookies. Browsers send `Origin`
//! on every state-changing request; `Sec-Fetch-Site` is the fallback. A request with neither
//! is not from a browser running someone else's page, and is refused all the same when it
//! rides on a cookie: non-browser clients authenticate with bearer tokens.

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};

/// `Sec-Fetch-Site`, which `http` has no constant for.
const SEC_FETCH_SITE: &str = "sec-fetch-site";

/// Whether `method` cannot change state (RFC 9110 §9.2.1), so needs no origin check.
pub(crate) fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether a cookie-authenticated request with these headers may change state.
///
/// `own_origin` is `<scheme>://<host as sent>`; `allowed` holds the API's CORS origins.
pub(crate) fn origin_allowed(headers: &HeaderMap, own_origin: &str, allowed: &[String]) -> bool {
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        return origin.eq_ignore_ascii_case(own_origin)
            || allowed
                .iter()
                .any(|candidate| candidate.eq_ignore_ascii_case(origin));
    }
    matches!(
        headers.get(SEC_FETCH_SITE).map(|value| value.as_bytes()),
        Some(b"same-origin")
    )
}

/// Whether `parts` may go on: safe methods always, others only from an allowed origin.
pub(crate) fn check(parts: &Parts, own_origin: &str, allowed: &[String]) -> bool {
    is_safe(&parts.method) || origin_allowed(&parts.headers, own_origin, allowed)
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, Request};

    use super::*;

    fn parts(method: Method, headers: &[(&'static str, &'static str)]) -> Parts {
        let mut request = Request::builder().method(method).uri("/api/x");
        for (name, value) in headers {
            request = request.header(*name, HeaderValue::from_static(value));
        }
        request.body(()).unwrap().into_parts().0
    }

    const OWN: &str = "https://shop.restapi.cloud";

    #[test]
    fn safe_methods_pass_without_any_header() {
        assert!(check(&parts(Method::GET, &[]), OWN, &[]));
    }

    #[test]
    fn own_and_listed_origins_pass_others_do_not() {
        let listed = vec!["https://app.example.com".to_owned()];
        let own = parts(Method::POST, &[("origin", "https://shop.restapi.cloud")]);
        let other_api = parts(Method::POST, &[("origin", "https://evil.restapi.cloud")]);
        let app = parts(Method::DELETE, &[("origin", "https://app.example.com")]);
        assert!(check(&own, OWN, &[]));
        assert!(!check(&other_api, OWN, &listed));
        assert!(check(&app, OWN, &listed));
    }

    #[test]
    fn without_origin_only_a_same_origin_fetch_passes() {
        let same = parts(Method::POST, &[("sec-fetch-site", "same-origin")]);
        let same_site = parts(Method::POST, &[("sec-fetch-site", "same-site")]);
        assert!(check(&same, OWN, &[]));
        assert!(!check(&same_site, OWN, &[]));
        assert!(!check(&parts(Method::POST, &[]), OWN, &[]));
    }
}
