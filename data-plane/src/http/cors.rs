//! Cross-origin calls from browsers (the Fetch standard's CORS protocol) for everything under
//! an API base: the platform endpoints and the API behind the data plane.
//!
//! The allowed origins are the API's `cors_origins` and the origin of the host itself. The
//! platform answers preflights itself, so an upstream never needs to know about CORS, and
//! whatever CORS headers an upstream sends are replaced by the platform's: one place decides.
//! Credentials are allowed, since the access cookie is how a browser app authenticates; that
//! is why `*` is never answered and the origin is echoed instead.

use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS,
    ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

/// The methods a preflight is told are allowed; the access rules decide the rest.
const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
/// How long a browser may cache a preflight's answer, in seconds.
const MAX_AGE: &str = "600";

/// The CORS standing of one request.
#[derive(Debug)]
pub(crate) struct Cors {
    /// The `Origin` sent, when it is allowed.
    allowed_origin: Option<HeaderValue>,
    /// Whether the request is a preflight: `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`.
    preflight: bool,
}

impl Cors {
    /// Evaluates `parts` against the host's own origin (`<scheme>://<host as sent>`) and the
    /// API's CORS origins. Origins compare case-insensitively, as scheme and host do.
    pub(crate) fn of(parts: &Parts, own_origin: &str, cors_origins: &[String]) -> Self {
        let origin = parts.headers.get(ORIGIN);
        let allowed_origin = origin
            .filter(|origin| {
                origin.to_str().is_ok_and(|origin| {
                    origin.eq_ignore_ascii_case(own_origin)
                        || cors_origins
                            .iter()
                            .any(|allowed| allowed.eq_ignore_ascii_case(origin))
                })
            })
            .cloned();
        let preflight = parts.method == Method::OPTIONS
            && origin.is_some()
            && parts.headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        Self {
            allowed_origin,
            preflight,
        }
    }

    /// The answer to a preflight, which never goes further: 204 with the CORS headers for an
    /// allowed origin, 403 without any for another one. `None` for any other request.
    pub(crate) fn preflight_answer(&self, parts: &Parts) -> Option<Response> {
        if !self.preflight {
            return None;
        }
        let Some(origin) = &self.allowed_origin else {
            let mut refused = super::error(
                StatusCode::FORBIDDEN,
                "cors_origin",
                "this origin may not call the API",
            );
            add_vary_origin(refused.headers_mut());
            return Some(refused);
        };
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        allow(headers, origin);
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(ALLOWED_METHODS),
        );
        if let Some(requested) = parts.headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, requested.clone());
        }
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
        Some(response)
    }

    /// `response` with the platform's CORS headers: any the upstream set are removed, and an
    /// allowed origin gets `Access-Control-Allow-Origin` and `-Credentials`. Every response
    /// varies by `Origin`, so a cache never hands one origin's answer to another.
    pub(crate) fn apply(&self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        let upstream_cors: Vec<_> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in upstream_cors {
            headers.remove(name);
        }
        if let Some(origin) = &self.allowed_origin {
            allow(headers, origin);
        } else {
            add_vary_origin(headers);
        }
        response
    }
}

fn allow(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
    add_vary_origin(headers);
}

/// Adds `Origin` to `Vary` unless it is listed already (or `Vary: *` says it all).
fn add_vary_origin(headers: &mut HeaderMap) {
    let listed = headers
        .get_all(VARY)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|name| name.trim().eq_ignore_ascii_case("origin") || name.trim() == "*");
    if !listed {
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    const OWN: &str = "http://shop.restapi.localhost";

    fn parts(method: Method, headers: &[(&'static str, &'static str)]) -> Parts {
        let mut request = Request::builder().method(method).uri("/api/products");
        for (name, value) in headers {
            request = request.header(*name, HeaderValue::from_static(value));
        }
        request.body(()).unwrap().into_parts().0
    }

    fn listed() -> Vec<String> {
        vec!["https://app.example.com".to_owned()]
    }

    #[test]
    fn preflight_from_a_listed_origin_is_answered_with_everything_it_asked() {
        let request = parts(
            Method::OPTIONS,
            &[
                ("origin", "https://APP.example.com"),
                ("access-control-request-method", "DELETE"),
                ("access-control-request-headers", "content-type, x-trace"),
            ],
        );
        let cors = Cors::of(&request, OWN, &listed());
        let response = cors.preflight_answer(&request).unwrap();
        let headers = response.headers();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://APP.example.com"
        );
        assert_eq!(headers["access-control-allow-credentials"], "true");
        assert!(
            headers["access-control-allow-methods"]
                .to_str()
                .unwrap()
                .contains("DELETE")
        );
        assert_eq!(
            headers["access-control-allow-headers"],
            "content-type, x-trace"
        );
        assert_eq!(headers["access-control-max-age"], "600");
        assert_eq!(headers["vary"], "Origin");
    }

    #[test]
    fn preflight_from_another_origin_is_refused_without_cors_headers() {
        let request = parts(
            Method::OPTIONS,
            &[
                ("origin", "https://evil.example.com"),
                ("access-control-request-method", "POST"),
            ],
        );
        let response = Cors::of(&request, OWN, &listed())
            .preflight_answer(&request)
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(
            response
                .headers()
                .keys()
                .all(|name| !name.as_str().starts_with("access-control-"))
        );
    }

    #[test]
    fn options_without_a_requested_method_is_no_preflight() {
        let request = parts(Method::OPTIONS, &[("origin", "https://app.example.com")]);
        assert!(
            Cors::of(&request, OWN, &listed())
                .preflight_answer(&request)
                .is_none()
        );
    }

    #[test]
    fn responses_get_the_platforms_cors_headers_only() {
        let mut upstream = Response::new(axum::body::Body::empty());
        upstream
            .headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        upstream
            .headers_mut()
            .insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        let allowed = parts(Method::GET, &[("origin", "https://app.example.com")]);
        let response = Cors::of(&allowed, OWN, &listed()).apply(upstream);
        let headers = response.headers();
        assert_eq!(
            headers["access-control-allow-origin"],
            "https://app.example.com"
        );
        let vary: Vec<_> = headers.get_all(VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "Origin"]);

        let mut upstream = Response::new(axum::body::Body::empty());
        upstream
            .headers_mut()
            .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        let other = parts(Method::GET, &[("origin", "https://evil.example.com")]);
        let response = Cors::of(&other, OWN, &listed()).apply(upstream);
        assert!(
            !response
                .headers()
                .contains_key("access-control-allow-origin")
        );
        assert_eq!(response.headers()["vary"], "Origin");
    }
}
