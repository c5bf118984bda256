//! The data plane's HTTP surface and the life of a request.
//!
//! Every request to an API goes through [`api_request`], which reads as the request path of
//! the architecture: resolve the host to an API, find the platform endpoint, answer it.
//! Handlers are thin: they unpack the request, call one domain function and map its result.

mod app_token;
mod body;
mod cors;
pub(crate) mod csrf;
mod gateway;
pub(crate) mod lifecycle;
mod login;
pub(crate) mod metadata;
pub(crate) mod session;
pub(crate) mod sign_in;
pub(crate) mod token;
pub(crate) mod userinfo;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HOST, PRAGMA};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use restapi_shared::Clock;
use restapi_shared::error::ErrorBody;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnFailure, DefaultOnRequest, TraceLayer};
use tracing::{Level, Span};

use crate::bearer::BearerVerifier;
use crate::config::{ApiState, ConfigStore, RegionState};
use crate::cookies::CookieScope;
use crate::metrics::{self, Metrics};
use crate::node_client::NodeClient;
use crate::routing::{self, Area, Endpoint};
use crate::settings::PublicScheme;

pub(crate) use gateway::{DEFAULT_TIMEOUT as UPSTREAM_TIMEOUT, UpstreamClient};
pub(crate) use login::ProviderDirectory;
pub(crate) use metadata::DiscoveryDocument;
pub(crate) use sign_in::{AuthRequest, AuthResponse};
pub(crate) use token::{TokenRequest, TokenResponse};
pub(crate) use userinfo::UserInfo;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    pub store: Arc<ConfigStore>,
    pub clock: Clock,
    pub app_domain: String,
    pub public_scheme: PublicScheme,
    pub bearer: BearerVerifier,
    pub metrics: Arc<Metrics>,
    pub control_plane: Option<NodeClient>,
    pub openapi_json: Bytes,
    /// The connection pool to every API's upstream and web app.
    pub upstream: UpstreamClient,
    /// Identity providers' endpoints and keys, fetched for the hosted login.
    pub providers: login::ProviderDirectory,
}

/// All endpoints, with one span per request carrying its request id.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let counted = Arc::clone(&state.metrics);
    let trace = TraceLayer::new_for_http()
        .make_span_with(request_span)
        .on_request(DefaultOnRequest::new().level(Level::DEBUG))
        .on_response(move |response: &Response, latency: Duration, span: &Span| {
            counted.response(response.status());
            span.record("status", response.status().as_u16());
            tracing::debug!(latency_us = latency.as_micros(), "response sent");
        })
        .on_failure(DefaultOnFailure::new().level(Level::WARN));

    // No routes: the operational paths exist only on hosts that are not app hosts, since on
    // an app host every path outside `/api` and `/login` belongs to the customer's web app.
    Router::new()
        .fallback(api_request)
        .with_state(state)
        .layer(axum::middleware::map_response(
            crate::close_after_payload_too_large,
        ))
        // Outermost first: the id is set, then seen by the span, then copied to the response.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(trace)
        .layer(SetRequestIdLayer::x_request_id(RequestIds::new()))
}

/// The request path: an operational path on a host that is not an app host, or resolve
/// host → area → platform endpoint or gateway → answer, with CORS under the API base.
async fn api_request(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let host = request_host(&parts);
    let path = parts.uri.path();
    // A custom domain's certificate is ordered through this listener before it has one.
    if let Some(answer) = crate::tls::acme_challenge_answer(&state.store, host, path) {
        return answer;
    }
    let region = state.store.current();
    if let Some(operational) = Operational::at(path)
        && !is_app_host(region.as_deref(), &state.app_domain, host)
    {
        return operational.answer(state, &parts.method).await;
    }

    let Some(region) = region else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "no configuration loaded yet",
        );
    };
    let Some(target) = routing::resolve_api(&region, &state.app_domain, host, path) else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such API on this host",
        );
    };

    let issuer = routing::issuer(state.public_scheme.as_str(), host, target.base);
    // One place for CORS: everything under the API base, platform endpoints and upstream.
    let cors = (target.area == Area::Api).then(|| {
        let own_origin = issuer.strip_suffix(target.base).unwrap_or(&issuer);
        cors::Cors::of(&parts, own_origin, &target.api.gateway.cors_origins)
    });
    if let Some(preflight) = cors.as_ref().and_then(|cors| cors.preflight_answer(&parts)) {
        return preflight;
    }

    let call = EndpointCall {
        state: &state,
        api: &target.api,
        issuer,
        now: state.clock.now(),
        parts: &parts,
        target: &target,
    };
    let response = match (target.area, Endpoint::at(target.endpoint_path)) {
        (Area::Login, _) => login::login(call, body).await,
        (Area::Web, _) => gateway::forward_web(call, body).await,
        (Area::Api, None) => gateway::forward_api(call, body).await,
        (Area::Api, Some(endpoint)) if !endpoint.allows(&parts.method) => {
            method_not_allowed(endpoint.allowed_methods())
        }
        (Area::Api, Some(endpoint)) => match endpoint {
            Endpoint::Token => token::token(call, body).await,
            Endpoint::Auth => sign_in::auth(call, body).await,
            Endpoint::Discovery => metadata::discovery(call),
            Endpoint::Jwks => metadata::jwks(call),
            Endpoint::UserInfo => userinfo::userinfo(call),
            Endpoint::Refresh => session::refresh(call, body).await,
            Endpoint::Logout => session::logout(call, body).await,
            Endpoint::Revoke => lifecycle::revoke(call, body).await,
            Endpoint::Introspect => lifecycle::introspect(call, body).await,
        },
    };
    match cors {
        Some(cors) => cors.apply(response),
        None => response,
    }
}

/// The paths for operators, served on the regional host, a bare address or localhost.
#[derive(Clone, Copy, Debug)]
enum Operational {
    Healthz,
    Readyz,
    Metrics,
    OpenApi,
}

impl Operational {
    fn at(path: &str) -> Option<Self> {
        match path {
            "/healthz" => Some(Self::Healthz),
            "/readyz" => Some(Self::Readyz),
            "/metrics" => Some(Self::Metrics),
            "/openapi.json" => Some(Self::OpenApi),
            _ => None,
        }
    }

    async fn answer(self, state: Arc<AppState>, method: &Method) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return method_not_allowed("GET, HEAD");
        }
        match self {
            Self::Healthz => healthz().await.into_response(),
            Self::Readyz => readyz(State(state)).await,
            Self::Metrics => metrics::get_metrics(State(state)).await,
            Self::OpenApi => openapi_json(State(state)).await,
        }
    }
}

/// Whether `host` is an API's own host under the app domain (any label, served here or
/// not), where every path but `/api` and `/login` belongs to the customer's web app. The
/// regional host is never one, even when it lies under the app domain; before the first
/// configuration, when no web app is served anyway, no host is.
fn is_app_host(region: Option<&RegionState>, app_domain: &str, host: &str) -> bool {
    let hostname = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let Some(region) = region else {
        return false;
    };
    if hostname.eq_ignore_ascii_case(&region.region.host) {
        return false;
    }
    if region.is_custom_domain(&hostname.to_ascii_lowercase()) {
        return true;
    }
    let Some(split) = hostname.len().checked_sub(app_domain.len() + 1) else {
        return false;
    };
    hostname
        .get(split..)
        .and_then(|suffix| suffix.strip_prefix('.'))
        .is_some_and(|domain| domain.eq_ignore_ascii_case(app_domain))
}

/// One request to a platform endpoint, resolved.
pub(crate) struct EndpointCall<'a> {
    state: &'a AppState,
    api: &'a ApiState,
    /// The issuer URL of the host the request came through.
    issuer: String,
    now: restapi_shared::clock::UnixTime,
    parts: &'a Parts,
    /// Where the request landed: host kind, base, area and the rest of the path.
    target: &'a routing::ApiTarget<'a>,
}

impl EndpointCall<'_> {
    /// `<scheme>://<host as sent>`: the issuer without the API's base.
    pub(crate) fn own_origin(&self) -> &str {
        self.issuer
            .strip_suffix(self.target.base)
            .unwrap_or(&self.issuer)
    }

    /// Where the API's cookies live on this host, and their names.
    pub(crate) fn cookie_scope(&self) -> CookieScope {
        let secure = self.state.public_scheme == PublicScheme::Https;
        CookieScope::new(self.target.host_kind, self.target.base, secure)
    }

    /// Whether a request the browser's cookies authenticate may act (CSRF): a safe method,
    /// or one sent from the API's own origin or one of its CORS origins.
    pub(crate) fn cookie_may_act(&self) -> bool {
        csrf::check(
            self.parts,
            self.own_origin(),
            &self.api.gateway.cors_origins,
        )
    }
}

/// `GET /healthz`: the process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive")))]
pub(crate) async fn healthz() -> StatusCode {
    StatusCode::OK
}

/// `GET /readyz`: 200 once a configuration snapshot is applied, 503 before.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses(
    (status = 200, description = "A configuration is loaded"),
    (status = 503, description = "No configuration yet", body = ErrorBody),
))]
pub(crate) async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.store.revision() {
        Some(_) => StatusCode::OK.into_response(),
        None => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "no configuration loaded yet",
        ),
    }
}

async fn openapi_json(State(state): State<Arc<AppState>>) -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        state.openapi_json.clone(),
    )
        .into_response()
}

/// A JSON error of a non-OAuth endpoint.
pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(ErrorBody::new(code, message))).into_response()
}

/// RFC 6749 §5.1: token responses must not be cached.
pub(crate) fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// 405 with the `Allow` header listing `allowed`.
pub(crate) fn method_not_allowed(allowed: &'static str) -> Response {
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed",
    );
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allowed));
    response
}

/// A JSON response with a `Cache-Control` header.
pub(crate) fn json_with_cache_control(
    body: impl Into<Body>,
    cache_control: &'static str,
) -> Response {
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static("application/json")),
        (CACHE_CONTROL, HeaderValue::from_static(cache_control)),
    ];
    (headers, body.into()).into_response()
}

/// The host as the client sent it: `Host`, or the URI's authority for HTTP/2.
fn request_host(parts: &Parts) -> &str {
    parts
        .headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| parts.uri.authority().map(|authority| authority.as_str()))
        .unwrap_or_default()
}

fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let host = request
        .headers()
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    // Only fields known at the start: recording one later makes the log formatter format the
    // span's fields again, which measurably slowed the token endpoint. The API is in the host
    // or the path, and the status in the response event.
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        host,
        path = request.uri().path(),
    )
}

/// Request ids: a random prefix per process and a counter, unique without a syscall.
#[derive(Clone, Debug)]
struct RequestIds {
    prefix: Arc<str>,
    counter: Arc<AtomicU64>,
}

impl RequestIds {
    fn new() -> Self {
        let mut random = [0u8; 4];
        restapi_shared::ids::fill_random(&mut random);
        Self {
            prefix: format!("{:08x}", u32::from_le_bytes(random)).into(),
            counter: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let sequence = self.counter.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{sequence}", self.prefix);
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use crate::test_support::*;
    use crate::{DataPlane, Settings};

    #[tokio::test]
    async fn unknown_hosts_apis_and_endpoints_are_json_not_found() {
        let fixture = Fixture::new();
        for (host, path) in [
            ("example.com", "/shop/_token"),
            (REGIONAL, "/nope/_token"),
            (REGIONAL, "/shop/products"),
            (REGIONAL, "/shop"),
            ("nope.restapi.localhost", "/api/_token"),
        ] {
            let answer = fixture.send(get(host, path)).await;
            assert_eq!(
                (answer.status, answer.json["error"].as_str()),
                (StatusCode::NOT_FOUND, Some("not_found")),
                "{host}{path}"
            );
        }

        // Outside `/api` the app host belongs to the API's web app; without one, a browser
        // gets a readable page rather than JSON.
        let answer = fixture
            .send(get("shop.restapi.localhost", "/other/_token"))
            .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND);
        assert_eq!(answer.header("content-type"), "text/html; charset=utf-8");
    }

    #[tokio::test]
    async fn wrong_method_names_the_allowed_ones() {
        let fixture = Fixture::new();
        let answer = fixture.send(get(REGIONAL, "/shop/_token")).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(answer.header("allow"), "POST");
    }

    #[tokio::test]
    async fn request_ids_are_set_or_propagated() {
        let fixture = Fixture::new();
        let answer = fixture.send(get(REGIONAL, "/healthz")).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert!(!answer.header("x-request-id").is_empty());

        let mut request = get(REGIONAL, "/shop/.well-known/jwks.json");
        request
            .headers_mut()
            .insert("x-request-id", "req-from-client".parse().unwrap());
        assert_eq!(
            fixture.send(request).await.header("x-request-id"),
            "req-from-client"
        );
    }

    #[tokio::test]
    async fn health_readiness_and_openapi_answer_on_every_host_but_app_hosts() {
        let fixture = Fixture::new();
        for host in [REGIONAL, "127.0.0.1:8080", "localhost"] {
            assert_eq!(
                fixture.send(get(host, "/healthz")).await.status,
                StatusCode::OK
            );
            assert_eq!(
                fixture.send(get(host, "/readyz")).await.status,
                StatusCode::OK
            );
        }
        let openapi = fixture.send(get(REGIONAL, "/openapi.json")).await;
        assert!(openapi.json["paths"]["/{api}/_token"].is_object());
        // On an app host they belong to the web app: here, none is configured.
        let app = fixture
            .send(get("shop.restapi.localhost", "/openapi.json"))
            .await;
        assert_eq!(app.status, StatusCode::NOT_FOUND);
        let post = fixture
            .send(with_body(REGIONAL, "/healthz", "text/plain", ""))
            .await;
        assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(fixture.data_plane.is_ready());
        assert_eq!(fixture.data_plane.revision(), Some(7));
    }

    #[tokio::test]
    async fn serves_over_tcp_and_stops_on_shutdown() {
        let fixture = Fixture::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::serve(listener, fixture.router.clone(), async {
            let _ = stopped.await;
        }));

        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::new();
        let url = format!("http://{address}/api/.well-known/jwks.json");
        let host = format!("shop.{APP_DOMAIN}:{}", address.port());
        let response = client
            .head(&url)
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.bytes().await.unwrap().len(), 0);
        let response = client.get(&url).header("host", &host).send().await.unwrap();
        let jwks: serde_json::Value = response.json().await.unwrap();
        assert_eq!(jwks["keys"][0]["kid"], "key_shop");

        // Refused on its declared length, before the client has finished sending it.
        let response = client
            .post(format!("http://{address}/api/_token"))
            .header("host", &host)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&pad={}",
                "x".repeat(1 << 20)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn not_ready_before_the_first_snapshot() {
        let unreachable = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", listener.local_addr().unwrap())
        };
        let data_plane = DataPlane::start(
            settings(Some(&unreachable)),
            restapi_shared::Clock::manual(NOW),
        )
        .unwrap();
        let fixture = Fixture {
            router: data_plane.router(),
            data_plane,
            clock: restapi_shared::Clock::manual(NOW),
            snapshot: snapshot(),
        };
        assert!(!fixture.data_plane.is_ready());
        assert_eq!(
            fixture.send(get(REGIONAL, "/healthz")).await.status,
            StatusCode::OK
        );
        assert_eq!(
            fixture.send(get(REGIONAL, "/readyz")).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            fixture.send(get(REGIONAL, "/shop/_token")).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );

        let missing = DataPlane::start(Settings::default(), restapi_shared::Clock::System);
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("control_plane_url")
        );
    }
}
