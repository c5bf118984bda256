//! Counters for operators, served at `GET /metrics` in the Prometheus text exposition format
//! 0.0.4, without an operator token (like `/healthz`): keep the control plane's port internal.
//!
//! Counting is one relaxed atomic add, no lock, no allocation. What the database knows (the
//! head revision, the data planes connected per region) is read when scraped; when the
//! database does not answer, those families are left out and the counters are still served,
//! so a scrape keeps working through the outage it should report.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use restapi_data_plane::metrics::{Counter, Exposition, StatusClass};
use restapi_shared::clock::UnixTime;
use restapi_shared::node::RedeemOutcome;
use restapi_shared::push::Revision;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::AppState;
use crate::store::{CONNECTED_WITHIN_SECONDS, DomainStatus, Store, StoreError};

/// Every counter of a control plane.
#[derive(Debug, Default)]
pub struct Metrics {
    responses: [Counter; StatusClass::ALL.len()],
    node_requests: [Counter; NodeCall::ALL.len()],
    redemptions: [Counter; REDEEM_OUTCOMES.len()],
}

/// A call of the node API, as the `call` label names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeCall {
    /// `GET /node/v1/snapshot`.
    Snapshot,
    /// `GET /node/v1/changes`.
    Changes,
    /// `POST /node/v1/refresh-tokens/redeem`.
    Redeem,
}

/// What the database tells at scrape time.
#[derive(Debug)]
pub struct DatabaseFigures {
    /// The head revision.
    pub head: Revision,
    /// Every region's name and how many data planes of it called within the last minute.
    pub connected: Vec<(String, i64)>,
    /// How many custom domains are in each status, every status included.
    pub domains: Vec<(DomainStatus, i64)>,
    /// When the first of the certificates being served expires, if any is.
    pub earliest_certificate_expiry: Option<UnixTime>,
}

/// The metrics route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_metrics))
}

/// Counters and gauges of this control plane; no token needed, so keep the port internal.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text exposition format 0.0.4",
            content_type = "text/plain; version=0.0.4", body = String),
    ))]
async fn get_metrics(State(state): State<AppState>) -> Response {
    let figures = match database_figures(&state.store, state.clock.now()).await {
        Ok(figures) => Some(figures),
        Err(error) => {
            tracing::error!(%error, "metrics: database figures unavailable");
            None
        }
    };
    let text = state.metrics.render(figures.as_ref());
    let headers = [
        (
            CONTENT_TYPE,
            HeaderValue::from_static(restapi_data_plane::metrics::CONTENT_TYPE),
        ),
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (headers, text).into_response()
}

impl Metrics {
    /// Counters at zero, shared by every handler.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Counts a response by its status class.
    pub fn response(&self, status: StatusCode) {
        if let Some(class) = StatusClass::of(status) {
            self.responses[class as usize].add();
        }
    }

    /// Counts an authenticated call of the node API.
    pub fn node_request(&self, call: NodeCall) {
        self.node_requests[call as usize].add();
    }

    /// Counts the outcome of a refresh token redemption.
    pub fn refresh_redeemed(&self, outcome: RedeemOutcome) {
        self.redemptions[outcome_index(outcome)].add();
    }

    /// Every metric in the text format; the database's figures when it answered.
    pub fn render(&self, figures: Option<&DatabaseFigures>) -> String {
        let mut out = Exposition::default();

        out.family(
            "restapi_http_requests_total",
            "counter",
            "HTTP responses sent, by status class.",
        );
        for class in StatusClass::ALL {
            let count = self.responses[class as usize].get();
            let labels = [("class", class.label())];
            out.sample("restapi_http_requests_total", &labels, count);
        }

        if let Some(figures) = figures {
            out.gauge(
                "restapi_config_head_revision",
                "The head configuration revision.",
                figures.head,
            );
            out.family(
                "restapi_data_planes_connected",
                "gauge",
                "Data planes that called within the last 60 seconds, by region.",
            );
            for (region, connected) in &figures.connected {
                let labels = [("region", region.as_str())];
                out.sample("restapi_data_planes_connected", &labels, connected);
            }
            out.family(
                "restapi_custom_domains",
                "gauge",
                "Custom domains, by status.",
            );
            for (status, count) in &figures.domains {
                let labels = [("status", status.as_str())];
                out.sample("restapi_custom_domains", &labels, count);
            }
            if let Some(expiry) = figures.earliest_certificate_expiry {
                out.gauge(
                    "restapi_certificate_earliest_expiry_timestamp_seconds",
                    "When the first of the custom domains' certificates expires (Unix time).",
                    expiry,
                );
            }
        }

        out.family(
            "restapi_node_requests_total",
            "counter",
            "Authenticated calls of the node API, by call.",
        );
        for call in NodeCall::ALL {
            let count = self.node_requests[call as usize].get();
            out.sample(
                "restapi_node_requests_total",
                &[("call", call.label())],
                count,
            );
        }

        out.family(
            "restapi_refresh_redemptions_total",
            "counter",
            "Refresh token redemptions, by outcome.",
        );
        for outcome in REDEEM_OUTCOMES {
            let count = self.redemptions[outcome_index(outcome)].get();
            let labels = [("outcome", outcome_label(outcome))];
            out.sample("restapi_refresh_redemptions_total", &labels, count);
        }
        out.into_text()
    }
}

impl NodeCall {
    const ALL: [Self; 3] = [Self::Snapshot, Self::Changes, Self::Redeem];

    fn label(self) -> &'static str {
        match self {
            Self::Snapshot => "snapshot",
            Self::Changes => "changes",
            Self::Redeem => "redeem",
        }
    }
}

const REDEEM_OUTCOMES: [RedeemOutcome; 3] = [
    RedeemOutcome::Redeemed,
    RedeemOutcome::Reused,
    RedeemOutcome::Revoked,
];

fn outcome_index(outcome: RedeemOutcome) -> usize {
    match outcome {
        RedeemOutcome::Redeemed => 0,
        RedeemOutcome::Reused => 1,
        RedeemOutcome::Revoked => 2,
    }
}

fn outcome_label(outcome: RedeemOutcome) -> &'static str {
    match outcome {
        RedeemOutcome::Redeemed => "redeemed",
        RedeemOutcome::Reused => "reused",
        RedeemOutcome::Revoked => "revoked",
    }
}

/// The head revision and, in one query, every region with its connected data planes (0
/// included, so an alert can fire on a region that lost all of them).
async fn database_figures(store: &Store, now: UnixTime) -> Result<DatabaseFigures, StoreError> {
    let head = store.refresh_head().await?;
    let connected = sqlx::query_as(
        "SELECT r.name, COUNT(d.instance) FROM regions r \
         LEFT JOIN data_planes d ON d.region_id = r.id AND d.last_seen >= $1 \
         GROUP BY r.name ORDER BY r.name",
    )
    .bind(now - CONNECTED_WITHIN_SECONDS)
    .fetch_all(store.pool())
    .await?;
    let counted: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM domains GROUP BY status")
            .fetch_all(store.pool())
            .await?;
    let domains = DomainStatus::ALL
        .into_iter()
        .map(|status| {
            let count = counted
                .iter()
                .find(|(stored, _)| stored == status.as_str())
                .map_or(0, |(_, count)| *count);
            (status, count)
        })
        .collect();
    let earliest_certificate_expiry =
        sqlx::query_scalar("SELECT MIN(certificate_expires_at) FROM domains")
            .fetch_one(store.pool())
            .await?;
    Ok(DatabaseFigures {
        head,
        connected,
        domains,
        earliest_certificate_expiry,
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use restapi_shared::Clock;
    use restapi_shared::secret::SecretString;
    use tower::ServiceExt;

    use super::*;
    use crate::{ControlPlane, Settings};

    #[test]
    fn renders_every_family_with_help_and_type() {
        let metrics = Metrics::default();
        metrics.response(StatusCode::OK);
        metrics.response(StatusCode::GONE);
        metrics.node_request(NodeCall::Changes);
        metrics.node_request(NodeCall::Changes);
        metrics.refresh_redeemed(RedeemOutcome::Reused);
        let figures = DatabaseFigures {
            head: 42,
            connected: vec![("eu".to_owned(), 2), ("no".to_owned(), 0)],
            domains: vec![(DomainStatus::PendingDns, 1), (DomainStatus::Active, 3)],
            earliest_certificate_expiry: Some(1_805_000_000),
        };

        let text = metrics.render(Some(&figures));
        let expected = "\
# HELP restapi_http_requests_total HTTP responses sent, by status class.
# TYPE restapi_http_requests_total counter
restapi_http_requests_total{class=\"2xx\"} 1
restapi_http_requests_total{class=\"3xx\"} 0
restapi_http_requests_total{class=\"4xx\"} 1
restapi_http_requests_total{class=\"5xx\"} 0
# HELP restapi_config_head_revision The head configuration revision.
# TYPE restapi_config_head_revision gauge
restapi_config_head_revision 42
# HELP restapi_data_planes_connected Data planes that called within the last 60 seconds, by region.
# TYPE restapi_data_planes_connected gauge
restapi_data_planes_connected{region=\"eu\"} 2
restapi_data_planes_connected{region=\"no\"} 0
# HELP restapi_custom_domains Custom domains, by status.
# TYPE restapi_custom_domains gauge
restapi_custom_domains{status=\"pendingDns\"} 1
restapi_custom_domains{status=\"active\"} 3
# HELP restapi_certificate_earliest_expiry_timestamp_seconds When the first of the custom domains' certificates expires (Unix time).
# TYPE restapi_certificate_earliest_expiry_timestamp_seconds gauge
restapi_certificate_earliest_expiry_timestamp_seconds 1805000000
# HELP restapi_node_requests_total Authenticated calls of the node API, by call.
# TYPE restapi_node_requests_total counter
restapi_node_requests_total{call=\"snapshot\"} 0
restapi_node_requests_total{call=\"changes\"} 2
restapi_node_requests_total{call=\"redeem\"} 0
# HELP restapi_refresh_redemptions_total Refresh token redemptions, by outcome.
# TYPE restapi_refresh_redemptions_total counter
restapi_refresh_redemptions_total{outcome=\"redeemed\"} 0
restapi_refresh_redemptions_total{outcome=\"reused\"} 1
restapi_refresh_redemptions_total{outcome=\"revoked\"} 0
";
        assert_eq!(text, expected);
    }

    #[test]
    fn without_the_database_the_counters_are_still_served() {
        let metrics = Metrics::default();
        metrics.node_request(NodeCall::Snapshot);
        let text = metrics.render(None);
        assert!(!text.contains("restapi_config_head_revision"));
        assert!(!text.contains("restapi_data_planes_connected"));
        assert!(text.contains("restapi_node_requests_total{call=\"snapshot\"} 1\n"));
    }

    #[tokio::test]
    async fn scraped_without_a_token_with_every_region_and_the_head() {
        let data_dir = std::env::temp_dir().join(restapi_shared::ids::new_id("cp-metrics-test"));
        let token = "rot_metrics-test-token-0123456789";
        let settings = Settings {
            data_dir: data_dir.clone(),
            admin_token: Some(SecretString::new(token.to_owned())),
            master_key: Some(crate::load_or_create_dev_master_key(&data_dir).unwrap()),
            ..Settings::default()
        };
        let plane = ControlPlane::start(&settings, Clock::manual(1_800_000_000))
            .await
            .unwrap();
        let router = plane.router();
        let call = |request: Request<Body>| async {
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (
                status,
                content_type,
                String::from_utf8(bytes.to_vec()).unwrap(),
            )
        };

        let region = Request::post("/v1/regions")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"name": "eu", "host": "eu.restapi.test"}"#))
            .unwrap();
        assert_eq!(call(region).await.0, StatusCode::CREATED);
        let refused = Request::get("/v1/regions").body(Body::empty()).unwrap();
        assert_eq!(call(refused).await.0, StatusCode::UNAUTHORIZED);

        let (status, content_type, text) =
            call(Request::get("/metrics").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            content_type.unwrap(),
            restapi_data_plane::metrics::CONTENT_TYPE
        );
        let head = plane.store().refresh_head().await.unwrap();
        for line in [
            format!("restapi_config_head_revision {head}"),
            "restapi_data_planes_connected{region=\"eu\"} 0".to_owned(),
            "restapi_http_requests_total{class=\"2xx\"} 1".to_owned(),
            "restapi_http_requests_total{class=\"4xx\"} 1".to_owned(),
            "restapi_custom_domains{status=\"pendingDns\"} 0".to_owned(),
            "restapi_custom_domains{status=\"failed\"} 0".to_owned(),
        ] {
            assert!(
                text.lines().any(|candidate| candidate == line),
                "{line}\n{text}"
            );
        }
        drop(plane);
        let _ = std::fs::remove_dir_all(&data_dir);
    }
}
