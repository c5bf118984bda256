//! The API behind the data plane: requests that are not platform endpoints.
//!
//! Under the API base (`/api/...` on the app host, `/<api>/...` on the regional host) every
//! path that is not a platform endpoint belongs to the customer's backend, the API's
//! `upstream`. Such a request goes through these phases, in this order:
//!
//! 1. **Normalise** the path relative to the base ([`access::normalize_path`]): rules and
//!    upstream see the same path; dot segments are refused (400 `invalid_path`).
//! 2. **Authenticate**: `Authorization: Bearer <token>`, or else the access cookie. The token
//!    must be an access token of this API, valid now. Anything else leaves the caller
//!    anonymous.
//! 3. **CSRF**: a request authenticated by its cookie that may change state must come from
//!    the API's own origin or one of its CORS origins (403 `csrf`).
//! 4. **Authorise** by the API's access rules ([`crate::access`]): refused anonymous callers
//!    get 401 with a `WWW-Authenticate: Bearer` challenge (with `error="invalid_token"` when
//!    they presented a bearer token that failed), refused authenticated ones 403.
//! 5. **Forward** to `<upstream><path after the base>?<query>`, body streamed, and stream the
//!    answer back. Unreachable upstream: 502 `bad_gateway`; no answer within 30 seconds:
//!    504 `gateway_timeout`. No upstream configured: 404 `not_found`.
//!
//! Everything else on the app host (outside `/api` and `/login`) belongs to the customer's
//! web app, the API's `web_upstream`: forwarded with its path unchanged and no access rules,
//! with the identity headers when the browser holds a valid access cookie.
//!
//! # What the upstream receives
//!
//! The client's headers, except hop-by-hop headers (`Connection` and those it names,
//! `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`, `Proxy-*`), any header
//! whose name starts with `restapi-`, and the platform's own cookies (access, refresh, login)
//! in `Cookie`. `Authorization` is passed on. Added:
//!
//! - `X-Forwarded-For` (extended with the client's address), `X-Forwarded-Proto`,
//!   `X-Forwarded-Host` (the host the client used) and `Forwarded` (RFC 7239, extended);
//! - `RestAPI-Api`: the API's name, on every request;
//! - when the caller is authenticated: `RestAPI-User-Id` (the token's `sub`: a user or
//!   service account id), `RestAPI-User-Name`, `RestAPI-User-Email` (when known),
//!   `RestAPI-User-Roles` (comma-separated) and, for service accounts, `RestAPI-Client-Id`.
//!
//! The identity headers are set only by the data plane: a client's own copies are removed
//! before forwarding, so the upstream may trust them as long as it is reachable only through
//! the data plane. Values are percent-encoded where a header cannot carry them as they are
//! (controls, non-ASCII, and `%` itself; `,` inside one role): percent-decode to read them.

mod identity;
mod proxy;

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{EndpointCall, error};
use crate::access::{self, Decision};
use crate::cookies::CookieScope;
use crate::metrics::ForwardOutcome;
use identity::Authentication;
pub(crate) use proxy::{DEFAULT_TIMEOUT, UpstreamClient};

/// A request under the API base that is no platform endpoint: authorised by the API's access
/// rules and forwarded to its upstream.
pub(super) async fn forward_api(call: EndpointCall<'_>, body: Body) -> Response {
    let api = call.api;
    let Some(upstream) = api.gateway.upstream.as_deref() else {
        return refused(&call, ForwardOutcome::NoUpstream, || {
            error(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
        });
    };

    let after_base = call
        .parts
        .uri
        .path()
        .get(call.target.base.len()..)
        .unwrap_or_default();
    let Ok(path) = access::normalize_path(after_base) else {
        return refused(&call, ForwardOutcome::InvalidPath, || {
            error(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                "the path contains a . or .. segment",
            )
        });
    };

    let scope = call.cookie_scope();
    let authentication = identity::authenticate(
        &call.state.bearer,
        api,
        &call.parts.headers,
        scope.access_name,
        call.now,
    );

    if authentication.by_cookie() && !call.cookie_may_act() {
        return refused(&call, ForwardOutcome::Csrf, || {
            error(
                StatusCode::FORBIDDEN,
                "csrf",
                "a cookie-authenticated request that changes state must come from an allowed \
                 origin",
            )
        });
    }

    let decision = api
        .gateway
        .rules
        .decide(&call.parts.method, &path, authentication.caller());
    match decision {
        Decision::Allowed => {}
        Decision::Unauthenticated => {
            return refused(&call, ForwardOutcome::Unauthenticated, || {
                challenge(&api.name, authentication.bearer_refused())
            });
        }
        Decision::Forbidden => {
            return refused(&call, ForwardOutcome::Forbidden, || {
                error(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "your roles do not allow this request",
                )
            });
        }
    }

    let url = upstream_url(upstream, &path, call.parts.uri.query());
    forward(&call, &authentication, &url, body, Style::Json).await
}

/// A request on the app host outside `/api` and `/login`: the customer's web app, public.
pub(super) async fn forward_web(call: EndpointCall<'_>, body: Body) -> Response {
    let Some(web_upstream) = call.api.gateway.web_upstream.as_deref() else {
        return refused(&call, ForwardOutcome::NoUpstream, || {
            page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing at this address.",
            )
        });
    };

    let scope = call.cookie_scope();
    let mut authentication = identity::authenticate(
        &call.state.bearer,
        call.api,
        &call.parts.headers,
        scope.access_name,
        call.now,
    );
    // The web app is public, so a cross-site request is not refused; it just does not carry
    // the identity of the browser's session (which another site must not act in).
    if authentication.by_cookie() && !call.cookie_may_act() {
        authentication = Authentication::anonymous();
    }

    let path_and_query = call
        .parts
        .uri
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let url = format!("{web_upstream}{path_and_query}");
    forward(&call, &authentication, &url, body, Style::Page).await
}

/// How the gateway's own errors look: JSON for API clients, a page for browsers.
#[derive(Clone, Copy, Debug)]
enum Style {
    Json,
    Page,
}

async fn forward(
    call: &EndpointCall<'_>,
    authentication: &Authentication,
    url: &str,
    body: Body,
    style: Style,
) -> Response {
    let own_cookies = platform_cookie_names(call);
    let forwarding = proxy::Forwarding {
        peer: call
            .parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip()),
        proto: call.state.public_scheme.as_str(),
        host: host_of(call),
        own_cookies: &own_cookies,
    };
    let mut headers = proxy::request_headers(&call.parts.headers, &forwarding);
    identity::add_identity_headers(&mut headers, authentication, &call.api.name);

    let sent = call
        .state
        .upstream
        .send(call.parts.method.clone(), url, headers, body)
        .await;
    let metrics = &call.state.metrics;
    match (sent, style) {
        (Ok(response), _) => {
            metrics.forwarded(ForwardOutcome::Forwarded);
            proxy::response_from_upstream(response, &own_cookies)
        }
        (Err(proxy::ForwardError::Unreachable), Style::Json) => {
            metrics.forwarded(ForwardOutcome::BadGateway);
            error(
                StatusCode::BAD_GATEWAY,
                "bad_gateway",
                "the API's backend cannot be reached",
            )
        }
        (Err(proxy::ForwardError::Timeout), Style::Json) => {
            metrics.forwarded(ForwardOutcome::GatewayTimeout);
            error(
                StatusCode::GATEWAY_TIMEOUT,
                "gateway_timeout",
                "the API's backend did not answer in time",
            )
        }
        (Err(proxy::ForwardError::Unreachable), Style::Page) => {
            metrics.forwarded(ForwardOutcome::BadGateway);
            page(
                StatusCode::BAD_GATEWAY,
                "Temporarily unavailable",
                "This site cannot be reached right now. Please try again in a moment.",
            )
        }
        (Err(proxy::ForwardError::Timeout), Style::Page) => {
            metrics.forwarded(ForwardOutcome::GatewayTimeout);
            page(
                StatusCode::GATEWAY_TIMEOUT,
                "Temporarily unavailable",
                "This site did not answer in time. Please try again in a moment.",
            )
        }
    }
}

/// Counts a request the gateway answered itself, and builds that answer.
fn refused(
    call: &EndpointCall<'_>,
    outcome: ForwardOutcome,
    response: impl FnOnce() -> Response,
) -> Response {
    call.state.metrics.forwarded(outcome);
    tracing::debug!(api = %call.api.name, outcome = outcome.label(), "not forwarded");
    response()
}

/// `<upstream><path>?<query>`: `upstream` has no trailing slash and `path` starts with one.
fn upstream_url(upstream: &str, path: &str, query: Option<&str>) -> String {
    let mut url = String::with_capacity(upstream.len() + path.len() + 64);
    url.push_str(upstream);
    url.push_str(path);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Every name the platform's cookies of this API may have on this host, with and without
/// the `__Host-`/`__Secure-` prefixes, so none reaches an upstream whatever the scheme.
fn platform_cookie_names(call: &EndpointCall<'_>) -> Vec<&'static str> {
    [true, false]
        .into_iter()
        .map(|secure| CookieScope::new(call.target.host_kind, call.target.base, secure))
        .flat_map(|scope| [scope.access_name, scope.refresh_name, scope.login_name])
        .collect()
}

fn host_of<'a>(call: &'a EndpointCall<'_>) -> &'a str {
    let origin = call.own_origin();
    origin.split_once("://").map_or(origin, |(_, host)| host)
}

/// RFC 6750 §3: 401 with a `Bearer` challenge; `error="invalid_token"` when the caller
/// presented a bearer token that did not verify.
fn challenge(api_name: &str, invalid_token: bool) -> Response {
    let (header, mut response) = if invalid_token {
        (
            format!("Bearer realm=\"{api_name}\", error=\"invalid_token\""),
            error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is invalid or expired",
            ),
        )
    } else {
        (
            format!("Bearer realm=\"{api_name}\""),
            error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "sign in or present a bearer token",
            ),
        )
    };
    // API names are DNS labels, always valid inside a quoted string.
    let header =
        HeaderValue::from_str(&header).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    response.headers_mut().insert(WWW_AUTHENTICATE, header);
    response
}

/// A short HTML page for a browser that landed on an address with nothing behind it.
fn page(status: StatusCode, title: &'static str, message: &'static str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;\
         padding:0 1rem;color:#222\"><h1>{title}</h1><p>{message}</p>\
         <p style=\"color:#777\">{status}</p></body></html>\n"
    );
    (
        status,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        html,
    )
        .into_response()
}

#[cfg(test)]
mod tests;
