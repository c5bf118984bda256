//! Forwarding one request to an upstream and streaming its answer back.
//!
//! Bodies are streamed both ways, never buffered: an upload of gigabytes costs the data plane
//! a few buffers. Headers are rewritten as an HTTP proxy must (RFC 9110 §7.6.1: hop-by-hop
//! headers and those named in `Connection` are not forwarded) and as a gateway that vouches
//! for the caller must (the caller's own `restapi-*` headers and the platform's cookies never
//! reach the upstream).

use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::header::{CONNECTION, COOKIE, HOST, SET_COOKIE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::Response;

/// How long an upstream may take to start answering, by default.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1, RFC 9112 §9.6),
/// and the proxy headers of the client's own proxy.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
];

/// The forwarding headers this gateway sets; the caller's copies are replaced (the
/// `X-Forwarded-For` chain and `Forwarded` are extended instead).
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// The one connection pool to every upstream, shared by all requests.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamClient {
    http: reqwest::Client,
    timeout: Duration,
}

/// Why an upstream gave no answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ForwardError {
    /// The connection failed or broke before a response head arrived.
    Unreachable,
    /// No response head within the timeout.
    Timeout,
}

impl UpstreamClient {
    /// A client that follows no redirects (they are the browser's business) and gives an
    /// upstream `timeout` to start answering.
    pub(crate) fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        // The data plane's one crypto stack; installing it again is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self { http, timeout })
    }

    /// Sends the request and returns the upstream's response head with its body still
    /// streaming. The timeout covers connecting and waiting for the head, not the body: a
    /// long download is fine, a hung upstream is not.
    pub(super) async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Body,
    ) -> Result<Response, ForwardError> {
        let request = self
            .http
            .request(method, url)
            .headers(headers)
            .body(reqwest::Body::wrap(SyncBody::new(body)));
        let response = match tokio::time::timeout(self.timeout, request.send()).await {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                tracing::warn!(%error, "upstream unreachable");
                return Err(ForwardError::Unreachable);
            }
            Err(_) => {
                tracing::warn!(timeout_s = self.timeout.as_secs(), "upstream timed out");
                return Err(ForwardError::Timeout);
            }
        };
        let response: axum::http::Response<reqwest::Body> = response.into();
        Ok(response.map(Body::new))
    }
}

/// What the upstream learns about the original request.
#[derive(Debug)]
pub(super) struct Forwarding<'a> {
    /// The client's address as the data plane saw it, when known.
    pub peer: Option<std::net::IpAddr>,
    /// The public scheme: `https` unless in plain-HTTP dev mode.
    pub proto: &'a str,
    /// The host as the client sent it.
    pub host: &'a str,
    /// Names of the platform's cookies on this host, removed from `Cookie`.
    pub own_cookies: &'a [&'a str],
}

/// The headers sent upstream: the client's, minus hop-by-hop, `Host`, `restapi-*` and the
/// platform's cookies, plus the forwarding headers. Identity headers are added afterwards.
pub(super) fn request_headers(incoming: &HeaderMap, forwarding: &Forwarding<'_>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(incoming.len() + 8);
    let connection_listed = connection_listed(incoming);
    for (name, value) in incoming {
        let dropped = is_hop_by_hop(name)
            || connection_listed.contains(name)
            || *name == HOST
            || *name == COOKIE
            || *name == X_FORWARDED_PROTO
            || *name == X_FORWARDED_HOST
            || name.as_str().starts_with("restapi-");
        if !dropped {
            headers.append(name.clone(), value.clone());
        }
    }

    if let Some(cookie) = cookies_without(incoming, forwarding.own_cookies) {
        headers.insert(COOKIE, cookie);
    }

    if let Some(peer) = forwarding.peer {
        let chain = match incoming.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(previous) => format!("{previous}, {peer}"),
            None => peer.to_string(),
        };
        insert_text(&mut headers, X_FORWARDED_FOR, &chain);
    }
    insert_text(&mut headers, X_FORWARDED_PROTO, forwarding.proto);
    insert_text(&mut headers, X_FORWARDED_HOST, forwarding.host);
    // RFC 7239 §4: an IPv6 address is quoted and bracketed; the host is always quoted.
    let element = match forwarding.peer {
        Some(std::net::IpAddr::V6(peer)) => format!("for=\"[{peer}]\";"),
        Some(std::net::IpAddr::V4(peer)) => format!("for={peer};"),
        None => String::new(),
    } + &format!("host=\"{}\";proto={}", forwarding.host, forwarding.proto);
    let forwarded = match incoming.get(FORWARDED).and_then(|v| v.to_str().ok()) {
        Some(previous) => format!("{previous}, {element}"),
        None => element,
    };
    insert_text(&mut headers, FORWARDED, &forwarded);
    headers
}

/// The upstream's response with hop-by-hop headers removed and any attempt to set one of the
/// platform's cookies dropped (an upstream must not overwrite a session).
pub(super) fn response_from_upstream(mut response: Response, own_cookies: &[&str]) -> Response {
    let connection_listed = connection_listed(response.headers());
    let headers = response.headers_mut();
    for name in HOP_BY_HOP.iter().copied().map(HeaderName::from_static) {
        headers.remove(name);
    }
    for name in connection_listed {
        headers.remove(name);
    }
    let set_cookies: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    if set_cookies
        .iter()
        .any(|value| sets_own_cookie(value, own_cookies))
    {
        headers.remove(SET_COOKIE);
        for value in set_cookies {
            if !sets_own_cookie(&value, own_cookies) {
                headers.append(SET_COOKIE, value);
            } else {
                tracing::warn!("upstream tried to set a platform cookie; dropped");
            }
        }
    }
    response
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
}

/// The header names listed in `Connection` (RFC 9110 §7.6.1).
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect()
}

/// The `Cookie` header without the platform's cookies; `None` when nothing is left.
fn cookies_without(headers: &HeaderMap, own_cookies: &[&str]) -> Option<HeaderValue> {
    let kept: Vec<&str> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split_once('=').map_or(*pair, |(name, _)| name).trim();
            !own_cookies.contains(&name)
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join("; ")).ok()
}

fn sets_own_cookie(value: &HeaderValue, own_cookies: &[&str]) -> bool {
    let text = String::from_utf8_lossy(value.as_bytes());
    let name = text.split_once('=').map_or(&*text, |(name, _)| name).trim();
    own_cookies.contains(&name)
}

/// Inserts `value` when it is a valid header value; the values passed here come from valid
/// headers and addresses, so nothing is lost in practice.
fn insert_text(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(value) => {
            headers.insert(name, value);
        }
        Err(_) => tracing::warn!(header = %name, "forwarding header not representable"),
    }
}

/// The request body, made `Sync` as the HTTP client requires. Only the request task polls
/// it, through `&mut`, so the lock is never contended.
struct SyncBody {
    inner: Mutex<Body>,
    size_hint: http_body::SizeHint,
}

impl SyncBody {
    fn new(body: Body) -> Self {
        Self {
            size_hint: body.size_hint(),
            inner: Mutex::new(body),
        }
    }
}

impl HttpBody for SyncBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let body = match self.get_mut().inner.get_mut() {
            Ok(body) => body,
            Err(poisoned) => poisoned.into_inner(),
        };
        Pin::new(body).poll_frame(cx)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.size_hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    const OWN: [&str; 2] = ["restapi-access", "restapi-refresh"];

    fn forwarding() -> Forwarding<'static> {
        Forwarding {
            peer: Some("10.0.0.7".parse().unwrap()),
            proto: "https",
            host: "shop.restapi.cloud",
            own_cookies: &OWN,
        }
    }

    #[test]
    fn hop_by_hop_spoofed_and_platform_headers_do_not_reach_the_upstream() {
        let incoming = headers(&[
            ("host", "shop.restapi.cloud"),
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("proxy-authorization", "Basic abc"),
            ("restapi-user-id", "usr_spoofed"),
            ("RestAPI-User-Roles", "admin"),
            ("x-forwarded-host", "evil.example"),
            ("accept", "application/json"),
            ("authorization", "Bearer abc"),
            ("cookie", "restapi-access=tok; theme=dark"),
            ("cookie", "restapi-refresh=r; lang=nb"),
        ]);
        let out = request_headers(&incoming, &forwarding());
        for gone in [
            "host",
            "connection",
            "x-secret-hop",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
            "proxy-authorization",
            "restapi-user-id",
            "restapi-user-roles",
        ] {
            assert!(!out.contains_key(gone), "{gone}");
        }
        assert_eq!(out["accept"], "application/json");
        assert_eq!(out["authorization"], "Bearer abc");
        assert_eq!(out["cookie"], "theme=dark; lang=nb");
        assert_eq!(out["x-forwarded-host"], "shop.restapi.cloud");
        assert_eq!(out["x-forwarded-proto"], "https");
        assert_eq!(out["x-forwarded-for"], "10.0.0.7");
        assert_eq!(
            out["forwarded"],
            "for=10.0.0.7;host=\"shop.restapi.cloud\";proto=https"
        );
    }

    #[test]
    fn forwarding_chains_are_extended_and_cookie_dropped_when_only_ours() {
        let incoming = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
            ("cookie", "restapi-access=tok"),
        ]);
        let mut forwarding = forwarding();
        forwarding.peer = Some("::1".parse().unwrap());
        let out = request_headers(&incoming, &forwarding);
        assert_eq!(out["x-forwarded-for"], "203.0.113.9, ::1");
        assert_eq!(
            out["forwarded"],
            "for=203.0.113.9, for=\"[::1]\";host=\"shop.restapi.cloud\";proto=https"
        );
        assert!(!out.contains_key("cookie"));
    }

    #[test]
    fn upstream_responses_lose_hop_by_hop_headers_and_platform_cookies() {
        let mut response = Response::new(Body::empty());
        *response.headers_mut() = headers(&[
            ("connection", "close"),
            ("transfer-encoding", "chunked"),
            ("content-type", "text/plain"),
            ("set-cookie", "restapi-access=forged; Path=/"),
            ("set-cookie", "theme=dark; Path=/"),
        ]);
        let response = response_from_upstream(response, &OWN);
        let headers = response.headers();
        assert!(!headers.contains_key("connection"));
        assert!(!headers.contains_key("transfer-encoding"));
        assert_eq!(headers["content-type"], "text/plain");
        let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["theme=dark; Path=/"]);
    }
}
