//! Fixtures for router-level tests: a region with two APIs, requests, and a stub control plane.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::routing::post;
use restapi_shared::Clock;
use restapi_shared::aead::SealingKey;
use restapi_shared::clock::UnixTime;
use restapi_shared::node::{
    REDEEM_REFRESH_PATH, RedeemOutcome, RedeemRefreshRequest, RedeemRefreshResponse,
};
use restapi_shared::push::{
    ApiConfig, ClientSecretConfig, RegionConfig, RegionSnapshot, ServiceAccountConfig,
    SigningKeyConfig, WebConfig,
};
use restapi_shared::refresh::RefreshClaims;
use restapi_shared::secret::{SecretBytes, SecretDigest, SecretString};
use restapi_shared::token::{AccessClaims, VerifyingKey, generate_key};
use tower::ServiceExt;

use crate::config::RegionState;
use crate::{DataPlane, Settings};

/// The time every fixture starts at.
pub(crate) const NOW: UnixTime = 1_700_000_000;
/// The secret of every enabled client in the fixture.
pub(crate) const SECRET: &str = "rcs_right";
/// The regional host of the fixture's region.
pub(crate) const REGIONAL: &str = "eu.localhost";
/// The app domain of the fixture's settings.
pub(crate) const APP_DOMAIN: &str = "restapi.localhost";

/// A data plane on a fixed snapshot, with a manual clock.
pub(crate) struct Fixture {
    pub clock: Clock,
    pub data_plane: DataPlane,
    pub router: Router,
    pub snapshot: RegionSnapshot,
}

impl Fixture {
    /// The fixture's region and settings, without a control plane.
    pub(crate) fn new() -> Self {
        Self::with(settings(None), snapshot())
    }

    /// A fixture redeeming refresh tokens at `control_plane_url`.
    pub(crate) fn with_control_plane(control_plane_url: &str) -> Self {
        Self::with(settings(Some(control_plane_url)), snapshot())
    }

    pub(crate) fn with(settings: Settings, snapshot: RegionSnapshot) -> Self {
        let clock = Clock::manual(NOW);
        let data_plane =
            DataPlane::from_snapshot(settings, clock.clone(), snapshot.clone()).unwrap();
        let router = data_plane.router();
        Self {
            clock,
            data_plane,
            router,
            snapshot,
        }
    }

    /// Serves `snapshot` from now on, as an applied batch would.
    pub(crate) fn replace_configuration(&self, snapshot: RegionSnapshot) {
        self.data_plane
            .state
            .store
            .replace(RegionState::from_snapshot(snapshot));
    }

    /// Sends `request` through the router.
    pub(crate) async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            headers,
            json,
        }
    }

    /// The access token of a client-credentials grant for `client_id` of API `api`.
    pub(crate) async fn client_credentials(&self, api: &str, client_id: &str) -> serde_json::Value {
        let body =
            format!("grant_type=client_credentials&client_id={client_id}&client_secret={SECRET}");
        let answer = self
            .send(form(REGIONAL, &format!("/{api}/_token"), &body))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
        answer.json
    }

    /// The public key of the API named `api`'s first key, for checking signatures.
    pub(crate) fn verifying_key(&self, api: &str) -> VerifyingKey {
        let config = self
            .snapshot
            .apis
            .iter()
            .find(|candidate| candidate.name == api)
            .unwrap();
        let key = &config.signing_keys[0];
        VerifyingKey::new(&key.kid, &key.public_key).unwrap()
    }

    /// Verifies an access token of `api` at the fixture's current time.
    pub(crate) fn verify(&self, api: &str, token: &str) -> AccessClaims {
        restapi_shared::token::verify(token, &[self.verifying_key(api)], api, self.clock.now())
            .unwrap()
    }
}

/// A response, its body parsed as JSON (`Null` when empty or not JSON).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: serde_json::Value,
}

impl Answer {
    /// A header's value, or `""`.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts an OAuth error with `status` and `code`, and that no token leaked out.
    #[track_caller]
    pub(crate) fn assert_oauth_error(&self, status: StatusCode, code: &str) {
        assert_eq!(
            (self.status, self.json["error"].as_str()),
            (status, Some(code)),
            "{:?}",
            self.json
        );
        assert!(
            self.json.get("access_token").is_none() && self.json.get("refresh_token").is_none()
        );
    }
}

pub(crate) fn settings(control_plane_url: Option<&str>) -> Settings {
    Settings {
        control_plane_url: control_plane_url.map(str::to_owned),
        region: Some("eu".to_owned()),
        node_token: Some(SecretString::new("rnt_test".to_owned())),
        app_domain: APP_DOMAIN.to_owned(),
        public_scheme: crate::settings::PublicScheme::Http,
        ..Settings::default()
    }
}

/// Region `eu` with APIs `shop` and `blog`.
///
/// `shop` has the accounts `cid_billing` (secrets: the right one, a disabled and an expired
/// one), `cid_off` (disabled account) and `cid_other`; `blog` has `cid_blog`.
pub(crate) fn snapshot() -> RegionSnapshot {
    let billing = account(
        "billing",
        true,
        vec![
            secret("sec_billing", SECRET, true, UnixTime::MAX),
            secret("sec_disabled", "rcs_disabled", false, UnixTime::MAX),
            secret("sec_expired", "rcs_expired", true, NOW - 1),
        ],
    );
    let off = account(
        "off",
        false,
        vec![secret("sec_off", SECRET, true, UnixTime::MAX)],
    );
    let other = account(
        "other",
        true,
        vec![secret("sec_other", SECRET, true, UnixTime::MAX)],
    );
    let blog = account(
        "blog",
        true,
        vec![secret("sec_blog", SECRET, true, UnixTime::MAX)],
    );
    RegionSnapshot {
        revision: 7,
        region: RegionConfig {
            id: "reg_eu".into(),
            name: "eu".into(),
            host: REGIONAL.into(),
        },
        apis: vec![
            api(
                "api_shop",
                "shop",
                vec![signing_key("key_shop", 0, None)],
                vec![billing, off, other],
            ),
            api(
                "api_blog",
                "blog",
                vec![signing_key("key_blog", 0, None)],
                vec![blog],
            ),
        ],
    }
}

pub(crate) fn api(
    id: &str,
    name: &str,
    signing_keys: Vec<SigningKeyConfig>,
    service_accounts: Vec<ServiceAccountConfig>,
) -> ApiConfig {
    ApiConfig {
        id: id.to_owned(),
        name: name.to_owned(),
        roles: vec!["reader".to_owned(), "writer".to_owned()],
        default_roles: vec![],
        signing_keys,
        service_accounts,
        refresh_token_key: SecretBytes::new(sealing_key_bytes(id).to_vec()),
        claims: serde_json::Map::new(),
        web: WebConfig::default(),
        providers: vec![],
        clients: vec![],
        revoked_sessions: vec![],
        domains: vec![],
    }
}

/// Each API gets its own sealing key, derived from its id.
pub(crate) fn sealing_key_bytes(api_id: &str) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, api_id.as_bytes()).as_ref());
    bytes
}

/// Opens a refresh token of the fixture's API `api_id`.
pub(crate) fn open_refresh_token(api_id: &str, token: &str, now: UnixTime) -> RefreshClaims {
    let key = SealingKey::new(&sealing_key_bytes(api_id)).unwrap();
    restapi_shared::refresh::open(&key, api_id, token, now).unwrap()
}

pub(crate) fn signing_key(
    kid: &str,
    sign_from: UnixTime,
    retire_at: Option<UnixTime>,
) -> SigningKeyConfig {
    let generated = generate_key().unwrap();
    SigningKeyConfig {
        kid: kid.to_owned(),
        private_key: generated.private_pkcs8,
        public_key: generated.public,
        sign_from,
        retire_at,
    }
}

fn account(name: &str, enabled: bool, secrets: Vec<ClientSecretConfig>) -> ServiceAccountConfig {
    ServiceAccountConfig {
        id: format!("sa_{name}"),
        client_id: format!("cid_{name}"),
        name: name.to_owned(),
        roles: vec!["reader".to_owned()],
        enabled,
        secrets,
    }
}

fn secret(id: &str, value: &str, enabled: bool, expires_at: UnixTime) -> ClientSecretConfig {
    ClientSecretConfig {
        id: id.to_owned(),
        digest: SecretDigest::of(value),
        enabled,
        expires_at,
    }
}

/// A POST with a form body.
pub(crate) fn form(host: &str, path: &str, body: &str) -> Request<Body> {
    with_body(host, path, "application/x-www-form-urlencoded", body)
}

/// A POST with a JSON body.
pub(crate) fn json(host: &str, path: &str, body: serde_json::Value) -> Request<Body> {
    with_body(host, path, "application/json", &body.to_string())
}

/// A POST with any body and content type.
pub(crate) fn with_body(host: &str, path: &str, content_type: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header("host", host)
        .header("content-type", content_type)
        .body(Body::from(body.to_owned()))
        .unwrap()
}

/// A GET.
pub(crate) fn get(host: &str, path: &str) -> Request<Body> {
    Request::get(path)
        .header("host", host)
        .body(Body::empty())
        .unwrap()
}

/// An `Authorization: Basic` value for `client_id` and `secret`, as given (already encoded).
pub(crate) fn basic(client_id: &str, secret: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"))
    )
}

/// A stub of the control plane's redeem endpoint: the first use of a token is `Redeemed`,
/// later uses `Reused`. Returns its base URL and the requests it received.
pub(crate) async fn stub_control_plane() -> (String, Arc<Mutex<Vec<RedeemRefreshRequest>>>) {
    let received: Arc<Mutex<Vec<RedeemRefreshRequest>>> = Arc::default();
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let log = Arc::clone(&received);
    let redeem = move |headers: HeaderMap,
                       axum::Json(request): axum::Json<RedeemRefreshRequest>| {
        let first_use = seen.lock().unwrap().insert(request.token_id.clone());
        assert_eq!(headers["authorization"], "Bearer rnt_test");
        assert_eq!(headers["restapi-region"], "eu");
        assert!(headers.contains_key("restapi-node-instance"));
        log.lock().unwrap().push(request);
        let outcome = if first_use {
            RedeemOutcome::Redeemed
        } else {
            RedeemOutcome::Reused
        };
        async move {
            axum::Json(RedeemRefreshResponse {
                outcome,
                user: None,
            })
        }
    };
    let router = Router::new().route(REDEEM_REFRESH_PATH, post(redeem));
    (spawn_stub(router).await, received)
}

/// Serves `router` on a free loopback port; returns its base URL.
pub(crate) async fn spawn_stub(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}
