//! Counters for operators, served at `GET /metrics` in the Prometheus text exposition format
//! 0.0.4.
//!
//! Hand-rolled rather than built on a metrics crate: every label set is known in advance, so
//! each counter is one cache-line-aligned atomic, and counting is one relaxed add on the
//! request path — no lock, no allocation, no map lookup. Gauges of the configuration (its
//! revision, its APIs) are read from the [`ConfigStore`](crate::config::ConfigStore) when
//! scraped, so they can never disagree with what is served.
//!
//! The exposition writer, [`Exposition`], is shared with the control plane's metrics.

use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE as CONTENT_TYPE_HEADER};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use restapi_shared::Clock;
use restapi_shared::error::OAuthErrorCode;

use crate::config::RegionState;
use crate::http::AppState;
use crate::tls::PlatformCertificate;

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics`: every counter and gauge of this data plane, on any host.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses(
    (status = 200, description = "Prometheus text exposition format 0.0.4",
        content_type = "text/plain; version=0.0.4", body = String),
))]
pub(crate) async fn get_metrics(State(state): State<Arc<AppState>>) -> Response {
    let text = state.metrics.render(state.store.current().as_deref());
    let headers = [
        (CONTENT_TYPE_HEADER, HeaderValue::from_static(CONTENT_TYPE)),
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (headers, text).into_response()
}

/// Every counter of a data plane, shared by the request path and the sync task.
#[derive(Debug)]
pub struct Metrics {
    clock: Clock,
    responses: [Counter; StatusClass::ALL.len()],
    grants: [[Counter; GrantOutcome::ALL.len()]; GrantType::ALL.len()],
    refusals: [Counter; Refusal::ALL.len()],
    bearer: [Counter; BearerResult::ALL.len()],
    sign_ins: [Counter; SignInOutcome::ALL.len()],
    gateway: [Counter; ForwardOutcome::ALL.len()],
    sync_snapshots: Counter,
    sync_batches: Counter,
    sync_failures: Counter,
    /// When the configuration served was last replaced, in Unix seconds; 0 before.
    last_applied: AtomicI64,
    /// The platform certificate served over HTTPS, if any, read when scraped.
    platform_certificate: OnceLock<Arc<PlatformCertificate>>,
    platform_certificate_reloads: Counter,
    platform_certificate_reload_failures: Counter,
}

/// A token grant, as the `grant_type` label names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    /// `_token` with `grant_type=client_credentials` (RFC 6749 §4.4).
    ClientCredentials,
    /// `_token` with `grant_type=refresh_token` (RFC 6749 §6).
    RefreshToken,
    /// `_token` with `grant_type=authorization_code` (RFC 6749 §4.1.3).
    AuthorizationCode,
    /// `_auth` with `authority: serviceaccount`.
    ServiceAccountAuth,
}

/// Why a token request was refused: the error code answered, which is also the label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `_token`: RFC 6749 §5.2 `invalid_request` (also a body too large).
    InvalidRequest,
    /// `_token`: `invalid_client`.
    InvalidClient,
    /// `_token`: `invalid_grant`.
    InvalidGrant,
    /// `_token`: `unauthorized_client`.
    UnauthorizedClient,
    /// `_token`: `unsupported_grant_type`.
    UnsupportedGrantType,
    /// `_token`: `invalid_scope`.
    InvalidScope,
    /// `_token`: `temporarily_unavailable` (the control plane could not record a refresh).
    TemporarilyUnavailable,
    /// `_token` and `_auth`: `server_error` (no signing key).
    ServerError,
    /// `_auth`: wrong client id or secret.
    InvalidCredentials,
    /// `_auth`: the body is not the expected JSON.
    InvalidBody,
    /// `_auth`: an authority other than `serviceaccount`.
    UnsupportedAuthority,
    /// `_auth`: the body is not JSON.
    UnsupportedMediaType,
    /// `_auth`: the body is too large.
    PayloadTooLarge,
}

/// The result of checking a bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BearerResult {
    /// Accepted from the cache of verified tokens.
    CacheHit,
    /// Accepted after verifying its signature.
    Verified,
    /// Refused.
    Rejected,
}

/// What became of a request for the API's upstream or web app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForwardOutcome {
    /// Forwarded, and the upstream answered (whatever its status).
    Forwarded,
    /// The API has no upstream (or web upstream) configured.
    NoUpstream,
    /// The path holds a dot segment.
    InvalidPath,
    /// Refused by the access rules: not authenticated.
    Unauthenticated,
    /// Refused by the access rules: authenticated, without a role that grants it.
    Forbidden,
    /// Refused: cookie-authenticated, state-changing, from a foreign origin.
    Csrf,
    /// The upstream could not be reached.
    BadGateway,
    /// The upstream did not answer in time.
    GatewayTimeout,
}

impl Metrics {
    /// Counters at zero; `clock` stamps configuration changes.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            responses: Default::default(),
            grants: Default::default(),
            refusals: Default::default(),
            bearer: Default::default(),
            sign_ins: Default::default(),
            gateway: Default::default(),
            sync_snapshots: Counter::default(),
            sync_batches: Counter::default(),
            sync_failures: Counter::default(),
            last_applied: AtomicI64::new(0),
            platform_certificate: OnceLock::new(),
            platform_certificate_reloads: Counter::default(),
            platform_certificate_reload_failures: Counter::default(),
        }
    }

    /// Counts a response by its status class; 1xx and anything unusual are not counted.
    pub fn response(&self, status: StatusCode) {
        if let Some(class) = StatusClass::of(status) {
            self.responses[class as usize].add();
        }
    }

    /// Counts tokens issued by `grant_type`.
    pub fn grant_issued(&self, grant_type: GrantType) {
        self.grants[grant_type as usize][GrantOutcome::Issued as usize].add();
    }

    /// Counts a refused token request; `grant_type` is `None` when the request named no
    /// supported grant (it then counts only by its error).
    pub fn grant_refused(&self, grant_type: Option<GrantType>, refusal: Refusal) {
        if let Some(grant_type) = grant_type {
            self.grants[grant_type as usize][GrantOutcome::Refused as usize].add();
        }
        self.refusals[refusal as usize].add();
    }

    /// Counts a bearer token check.
    pub fn bearer_checked(&self, result: BearerResult) {
        self.bearer[result as usize].add();
    }

    /// Counts a request for an upstream by what became of it.
    pub fn forwarded(&self, outcome: ForwardOutcome) {
        self.gateway[outcome as usize].add();
    }

    /// Counts a hosted login callback by its outcome.
    pub fn sign_in(&self, outcome: SignInOutcome) {
        self.sign_ins[outcome as usize].add();
    }

    /// Counts a configuration snapshot applied, and stamps the time.
    pub fn snapshot_applied(&self) {
        self.sync_snapshots.add();
        self.configuration_replaced();
    }

    /// Counts a change batch applied, and stamps the time.
    pub fn batch_applied(&self) {
        self.sync_batches.add();
        self.configuration_replaced();
    }

    /// Counts a failed call to the control plane's node API.
    pub fn sync_failed(&self) {
        self.sync_failures.add();
    }

    /// Reports on `platform`, the certificate the HTTPS listener serves, from now on.
    pub fn report_platform_certificate(&self, platform: Arc<PlatformCertificate>) {
        let _ = self.platform_certificate.set(platform);
    }

    /// Counts a reload of the platform certificate's files: `served` when the new certificate
    /// replaced the old one, otherwise it could not be used and the old one still serves.
    pub fn platform_certificate_reloaded(&self, served: bool) {
        if served {
            self.platform_certificate_reloads.add();
        } else {
            self.platform_certificate_reload_failures.add();
        }
    }

    /// Every metric in the text format; `config` is the configuration being served.
    pub fn render(&self, config: Option<&RegionState>) -> String {
        let mut out = Exposition::default();

        out.family(
            "restapi_http_requests_total",
            "counter",
            "HTTP responses sent, by status class.",
        );
        for class in StatusClass::ALL {
            let count = self.responses[class as usize].get();
            out.sample(
                "restapi_http_requests_total",
                &[("class", class.label())],
                count,
            );
        }

        out.family(
            "restapi_token_grants_total",
            "counter",
            "Token requests of a supported grant, by grant type and outcome.",
        );
        for grant_type in GrantType::ALL {
            for outcome in GrantOutcome::ALL {
                let count = self.grants[grant_type as usize][outcome as usize].get();
                let labels = [
                    ("grant_type", grant_type.label()),
                    ("outcome", outcome.label()),
                ];
                out.sample("restapi_token_grants_total", &labels, count);
            }
        }

        out.family(
            "restapi_token_refusals_total",
            "counter",
            "Refused token requests (_token and _auth), by the error code answered.",
        );
        for refusal in Refusal::ALL {
            let count = self.refusals[refusal as usize].get();
            out.sample(
                "restapi_token_refusals_total",
                &[("error", refusal.code())],
                count,
            );
        }

        out.family(
            "restapi_bearer_verifications_total",
            "counter",
            "Bearer token checks, by result.",
        );
        for result in BearerResult::ALL {
            let count = self.bearer[result as usize].get();
            let labels = [("result", result.label())];
            out.sample("restapi_bearer_verifications_total", &labels, count);
        }

        out.family(
            "restapi_gateway_requests_total",
            "counter",
            "Requests for an API's upstream or web app, by outcome.",
        );
        for outcome in ForwardOutcome::ALL {
            let count = self.gateway[outcome as usize].get();
            let labels = [("outcome", outcome.label())];
            out.sample("restapi_gateway_requests_total", &labels, count);
        }

        out.family(
            "restapi_sign_ins_total",
            "counter",
            "Hosted login callbacks, by outcome.",
        );
        for outcome in SignInOutcome::ALL {
            let count = self.sign_ins[outcome as usize].get();
            let labels = [("outcome", outcome.label())];
            out.sample("restapi_sign_ins_total", &labels, count);
        }

        self.render_configuration(&mut out, config);
        self.render_tls(&mut out);
        out.into_text()
    }

    fn render_configuration(&self, out: &mut Exposition, config: Option<&RegionState>) {
        let revision = config.map_or(0, |state| state.revision);
        let apis = config.map_or(0, RegionState::api_count);
        out.gauge(
            "restapi_config_revision",
            "Configuration revision served (0 before the first snapshot).",
            revision,
        );
        out.gauge(
            "restapi_config_ready",
            "1 once a configuration snapshot is applied, else 0.",
            u8::from(config.is_some()),
        );
        out.gauge(
            "restapi_config_apis",
            "APIs the served configuration holds.",
            apis,
        );
        out.gauge(
            "restapi_config_last_applied_timestamp_seconds",
            "When the served configuration was last replaced, in Unix seconds (0 before).",
            self.last_applied.load(Ordering::Relaxed),
        );
        out.counter(
            "restapi_sync_snapshots_total",
            "Configuration snapshots applied.",
            self.sync_snapshots.get(),
        );
        out.counter(
            "restapi_sync_batches_total",
            "Change batches applied that advanced the revision.",
            self.sync_batches.get(),
        );
        out.counter(
            "restapi_sync_failures_total",
            "Failed calls to the control plane's node API while syncing.",
            self.sync_failures.get(),
        );
    }

    fn render_tls(&self, out: &mut Exposition) {
        out.gauge(
            "restapi_tls_platform_certificate_expiry_timestamp_seconds",
            "When the platform certificate served over HTTPS expires, in Unix seconds \
             (0 without an HTTPS listener).",
            self.platform_certificate
                .get()
                .map_or(0, |platform| platform.expires_at()),
        );
        out.counter(
            "restapi_tls_platform_certificate_reloads_total",
            "Renewed platform certificates read from their files and served.",
            self.platform_certificate_reloads.get(),
        );
        out.counter(
            "restapi_tls_platform_certificate_reload_failures_total",
            "Changed platform certificate files that could not be used (the previous \
             certificate kept serving).",
            self.platform_certificate_reload_failures.get(),
        );
    }

    fn configuration_replaced(&self) {
        self.last_applied.store(self.clock.now(), Ordering::Relaxed);
    }
}

/// What became of a hosted login callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignInOutcome {
    /// The user is signed in.
    SignedIn,
    /// The person has no user and the provider does not create one.
    NotRegistered,
    /// The user is disabled.
    Disabled,
    /// Anything else: a bad or stale callback, a provider error, an unverifiable answer.
    Failed,
}

impl SignInOutcome {
    const ALL: [Self; 4] = [
        Self::SignedIn,
        Self::NotRegistered,
        Self::Disabled,
        Self::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::SignedIn => "signed_in",
            Self::NotRegistered => "not_registered",
            Self::Disabled => "disabled",
            Self::Failed => "failed",
        }
    }
}

impl GrantType {
    const ALL: [Self; 4] = [
        Self::ClientCredentials,
        Self::RefreshToken,
        Self::AuthorizationCode,
        Self::ServiceAccountAuth,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::AuthorizationCode => "authorization_code",
            Self::ServiceAccountAuth => "serviceaccount_auth",
        }
    }
}

impl Refusal {
    const ALL: [Self; 13] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::InvalidScope,
        Self::TemporarilyUnavailable,
        Self::ServerError,
        Self::InvalidCredentials,
        Self::InvalidBody,
        Self::UnsupportedAuthority,
        Self::UnsupportedMediaType,
        Self::PayloadTooLarge,
    ];

    /// The error code answered to the client, which is also the metric's label.
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
            Self::InvalidCredentials => "invalid_credentials",
            Self::InvalidBody => "invalid_body",
            Self::UnsupportedAuthority => "unsupported_authority",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge => "payload_too_large",
        }
    }
}

impl From<OAuthErrorCode> for Refusal {
    fn from(code: OAuthErrorCode) -> Self {
        match code {
            OAuthErrorCode::InvalidRequest => Self::InvalidRequest,
            OAuthErrorCode::InvalidClient => Self::InvalidClient,
            OAuthErrorCode::InvalidGrant => Self::InvalidGrant,
            OAuthErrorCode::UnauthorizedClient => Self::UnauthorizedClient,
            OAuthErrorCode::UnsupportedGrantType => Self::UnsupportedGrantType,
            OAuthErrorCode::InvalidScope => Self::InvalidScope,
            OAuthErrorCode::TemporarilyUnavailable => Self::TemporarilyUnavailable,
            OAuthErrorCode::ServerError => Self::ServerError,
        }
    }
}

impl BearerResult {
    const ALL: [Self; 3] = [Self::CacheHit, Self::Verified, Self::Rejected];

    fn label(self) -> &'static str {
        match self {
            Self::CacheHit => "cache_hit",
            Self::Verified => "verified",
            Self::Rejected => "rejected",
        }
    }
}

impl ForwardOutcome {
    const ALL: [Self; 8] = [
        Self::Forwarded,
        Self::NoUpstream,
        Self::InvalidPath,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::Csrf,
        Self::BadGateway,
        Self::GatewayTimeout,
    ];

    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::NoUpstream => "no_upstream",
            Self::InvalidPath => "invalid_path",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::Csrf => "csrf",
            Self::BadGateway => "bad_gateway",
            Self::GatewayTimeout => "gateway_timeout",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum GrantOutcome {
    Issued,
    Refused,
}

impl GrantOutcome {
    const ALL: [Self; 2] = [Self::Issued, Self::Refused];

    fn label(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Refused => "refused",
        }
    }
}

/// The class of an HTTP status, as the `class` label names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    /// 200–299.
    Success,
    /// 300–399.
    Redirection,
    /// 400–499.
    ClientError,
    /// 500–599.
    ServerError,
}

impl StatusClass {
    /// Every class, in label order.
    pub const ALL: [Self; 4] = [
        Self::Success,
        Self::Redirection,
        Self::ClientError,
        Self::ServerError,
    ];

    /// The class of `status`; `None` for informational (1xx) statuses.
    pub fn of(status: StatusCode) -> Option<Self> {
        match status.as_u16() / 100 {
            2 => Some(Self::Success),
            3 => Some(Self::Redirection),
            4 => Some(Self::ClientError),
            5 => Some(Self::ServerError),
            _ => None,
        }
    }

    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "2xx",
            Self::Redirection => "3xx",
            Self::ClientError => "4xx",
            Self::ServerError => "5xx",
        }
    }
}

/// A counter on a cache line of its own, so that two hot counters written from different
/// cores do not slow each other down.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one. Relaxed: a counter orders nothing, and a scrape may see any recent value.
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A text exposition (format 0.0.4) being written: `# HELP` and `# TYPE` lines, then samples.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts the metric family `name` of `kind` (`counter` or `gauge`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample of the current family; label values are escaped.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, label_value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label_value(label_value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A family of one unlabelled counter.
    pub fn counter(&mut self, name: &str, help: &str, value: impl Display) {
        self.family(name, "counter", help);
        self.sample(name, &[], value);
    }

    /// A family of one unlabelled gauge.
    pub fn gauge(&mut self, name: &str, help: &str, value: impl Display) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }

    /// The finished text.
    pub fn into_text(self) -> String {
        self.text
    }
}

/// Format 0.0.4: in `# HELP`, a backslash and a line feed are escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', r"\\").replace('\n', r"\n")
}

/// Format 0.0.4: in a label value, a backslash, a double quote and a line feed are escaped.
fn escape_label_value(text: &str) -> String {
    text.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use serde_json::json;
    use tower::ServiceExt;

    use super::*;
    use crate::test_support::*;

    #[test]
    fn renders_help_type_and_labelled_samples() {
        let metrics = Metrics::new(Clock::manual(NOW));
        metrics.response(StatusCode::OK);
        metrics.response(StatusCode::OK);
        metrics.response(StatusCode::UNAUTHORIZED);
        metrics.response(StatusCode::SWITCHING_PROTOCOLS);
        metrics.grant_issued(GrantType::ClientCredentials);
        metrics.grant_refused(Some(GrantType::RefreshToken), Refusal::InvalidGrant);
        metrics.grant_refused(None, Refusal::UnsupportedGrantType);
        metrics.bearer_checked(BearerResult::CacheHit);

        let text = metrics.render(None);
        for line in [
            "# HELP restapi_http_requests_total HTTP responses sent, by status class.",
            "# TYPE restapi_http_requests_total counter",
            "restapi_http_requests_total{class=\"2xx\"} 2",
            "restapi_http_requests_total{class=\"3xx\"} 0",
            "restapi_http_requests_total{class=\"4xx\"} 1",
            "restapi_http_requests_total{class=\"5xx\"} 0",
            "# TYPE restapi_token_grants_total counter",
            "restapi_token_grants_total{grant_type=\"client_credentials\",outcome=\"issued\"} 1",
            "restapi_token_grants_total{grant_type=\"refresh_token\",outcome=\"refused\"} 1",
            "restapi_token_grants_total{grant_type=\"serviceaccount_auth\",outcome=\"issued\"} 0",
            "restapi_token_refusals_total{error=\"invalid_grant\"} 1",
            "restapi_token_refusals_total{error=\"unsupported_grant_type\"} 1",
            "restapi_token_refusals_total{error=\"invalid_credentials\"} 0",
            "restapi_bearer_verifications_total{result=\"cache_hit\"} 1",
            "restapi_bearer_verifications_total{result=\"rejected\"} 0",
            "# TYPE restapi_config_revision gauge",
            "restapi_config_revision 0",
            "restapi_config_ready 0",
            "restapi_config_apis 0",
            "restapi_config_last_applied_timestamp_seconds 0",
            "# TYPE restapi_sync_snapshots_total counter",
            "restapi_sync_snapshots_total 0",
            "restapi_sync_batches_total 0",
            "restapi_sync_failures_total 0",
        ] {
            assert!(
                text.lines().any(|candidate| candidate == line),
                "{line}\n{text}"
            );
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples() {
        let text = Metrics::new(Clock::manual(NOW)).render(None);
        let mut declared = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with("# HELP ") {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(declared.last().map(String::as_str), Some(name), "{line}");
            }
        }
        assert_eq!(declared.len(), 16);
    }

    #[test]
    fn configuration_gauges_follow_what_is_served() {
        let metrics = Metrics::new(Clock::manual(NOW));
        metrics.snapshot_applied();
        metrics.batch_applied();
        metrics.sync_failed();
        let state = RegionState::from_snapshot(snapshot());
        let text = metrics.render(Some(&state));
        for line in [
            "restapi_config_revision 7".to_owned(),
            "restapi_config_ready 1".to_owned(),
            format!("restapi_config_apis {}", state.api_count()),
            format!("restapi_config_last_applied_timestamp_seconds {NOW}"),
            "restapi_sync_snapshots_total 1".to_owned(),
            "restapi_sync_batches_total 1".to_owned(),
            "restapi_sync_failures_total 1".to_owned(),
        ] {
            assert!(
                text.lines().any(|candidate| candidate == line),
                "{line}\n{text}"
            );
        }
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut out = Exposition::default();
        out.family("m", "gauge", "a \\ b\nc");
        out.sample("m", &[("region", "x\"y\\z\n")], 1);
        assert_eq!(
            out.into_text(),
            "# HELP m a \\\\ b\\nc\n# TYPE m gauge\nm{region=\"x\\\"y\\\\z\\n\"} 1\n"
        );
    }

    #[test]
    fn every_oauth_error_code_has_its_own_label() {
        let code = |code: OAuthErrorCode| {
            serde_json::to_value(code)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        };
        for oauth in [
            OAuthErrorCode::InvalidRequest,
            OAuthErrorCode::InvalidClient,
            OAuthErrorCode::InvalidGrant,
            OAuthErrorCode::UnauthorizedClient,
            OAuthErrorCode::UnsupportedGrantType,
            OAuthErrorCode::InvalidScope,
            OAuthErrorCode::TemporarilyUnavailable,
            OAuthErrorCode::ServerError,
        ] {
            assert_eq!(Refusal::from(oauth).code(), code(oauth));
        }
    }

    async fn scrape(fixture: &Fixture) -> String {
        let response = fixture
            .router
            .clone()
            .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], CONTENT_TYPE);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    fn value(text: &str, series: &str) -> u64 {
        let line = text
            .lines()
            .find(|line| {
                line.rsplit_once(' ')
                    .is_some_and(|(name, _)| name == series)
            })
            .unwrap_or_else(|| panic!("no {series} in\n{text}"));
        line.rsplit_once(' ').unwrap().1.parse().unwrap()
    }

    #[tokio::test]
    async fn grants_and_refusals_move_their_counters() {
        let fixture = Fixture::new();
        fixture.client_credentials("shop", "cid_billing").await;
        fixture.client_credentials("shop", "cid_billing").await;
        let wrong_secret = "grant_type=client_credentials&client_id=cid_billing&client_secret=x";
        fixture
            .send(form(REGIONAL, "/shop/_token", wrong_secret))
            .await
            .assert_oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
        fixture
            .send(form(REGIONAL, "/shop/_token", "grant_type=password"))
            .await
            .assert_oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
        let sign_in = json!({"authority": "serviceaccount", "clientId": "cid_billing",
                             "clientSecret": SECRET});
        assert_eq!(
            fixture
                .send(json(REGIONAL, "/shop/_auth", sign_in))
                .await
                .status,
            StatusCode::OK
        );
        let wrong = json!({"authority": "serviceaccount", "clientId": "cid_billing",
                           "clientSecret": "rcs_wrong"});
        assert_eq!(
            fixture
                .send(json(REGIONAL, "/shop/_auth", wrong))
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );

        let text = scrape(&fixture).await;
        let grants = |grant_type: &str, outcome: &str| {
            let series = format!(
                "restapi_token_grants_total{{grant_type=\"{grant_type}\",outcome=\"{outcome}\"}}"
            );
            value(&text, &series)
        };
        assert_eq!(grants("client_credentials", "issued"), 2);
        assert_eq!(grants("client_credentials", "refused"), 1);
        assert_eq!(grants("serviceaccount_auth", "issued"), 1);
        assert_eq!(grants("serviceaccount_auth", "refused"), 1);
        assert_eq!(grants("refresh_token", "issued"), 0);
        let refusals = |error: &str| {
            value(
                &text,
                &format!("restapi_token_refusals_total{{error=\"{error}\"}}"),
            )
        };
        assert_eq!(refusals("invalid_client"), 1);
        assert_eq!(refusals("unsupported_grant_type"), 1);
        assert_eq!(refusals("invalid_credentials"), 1);
        assert_eq!(refusals("invalid_grant"), 0);
        // Three grants answered 200; the scrape itself is counted after it is answered.
        assert_eq!(
            value(&text, "restapi_http_requests_total{class=\"2xx\"}"),
            3
        );
        assert_eq!(
            value(&text, "restapi_http_requests_total{class=\"4xx\"}"),
            3
        );
        assert_eq!(value(&text, "restapi_config_revision"), 7);
        assert_eq!(value(&text, "restapi_config_ready"), 1);
    }

    #[tokio::test]
    async fn bearer_checks_count_cache_hits_verifications_and_rejections() {
        let fixture = Fixture::new();
        let tokens = fixture.client_credentials("shop", "cid_billing").await;
        let access_token = tokens["access_token"].as_str().unwrap();
        for token in [access_token, access_token, "not-a-token"] {
            let mut request = get(REGIONAL, "/shop/_userinfo");
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            fixture.send(request).await;
        }

        let text = scrape(&fixture).await;
        let checks = |result: &str| {
            value(
                &text,
                &format!("restapi_bearer_verifications_total{{result=\"{result}\"}}"),
            )
        };
        assert_eq!(
            (checks("verified"), checks("cache_hit"), checks("rejected")),
            (1, 1, 1)
        );
    }
}
