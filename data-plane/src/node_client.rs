//! The client of the control plane's node API (`restapi_shared::node`).

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use restapi_shared::node::{
    CHANGES_PATH, INSTANCE_HEADER, LONG_POLL_SECONDS, PASSKEY_LIST_PATH, PASSKEY_LOOKUP_PATH,
    PASSKEY_REGISTER_PATH, PASSKEY_REMOVE_PATH, PASSKEY_SIGN_IN_PATH, PasskeyListRequest,
    PasskeyListResponse, PasskeyLookupRequest, PasskeyLookupResponse, PasskeyRegisterRequest,
    PasskeyRegisterResponse, PasskeyRemoveRequest, PasskeyRemoveResponse, PasskeySignInRequest,
    PasskeySignInResponse, REDEEM_REFRESH_PATH, REFRESH_STATUS_PATH, REGION_HEADER,
    RESOLVE_USER_PATH, REVISION_HEADER, REVOKE_REFRESH_PATH, RedeemOutcome, RedeemRefreshRequest,
    RedeemRefreshResponse, RefreshStatusRequest, RefreshStatusResponse, ResolveUserRequest,
    ResolveUserResponse, RevokeRefreshRequest, SNAPSHOT_PATH,
};
use restapi_shared::push::{ChangeBatch, RegionSnapshot, Revision};
use restapi_shared::secret::SecretString;

use crate::config::ConfigStore;
use crate::settings::Connection;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a snapshot may take to arrive.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a redeem call may take; a client waits for it, so keep it short.
const REDEEM_TIMEOUT: Duration = Duration::from_secs(5);
/// Margin on top of the long poll before a change request counts as lost.
const LONG_POLL_MARGIN: Duration = Duration::from_secs(15);

/// Why a call to the control plane failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The control plane could not be reached or did not answer in time.
    #[error("control plane unreachable")]
    Unreachable(#[source] reqwest::Error),
    /// The control plane answered with an unexpected status.
    #[error("control plane answered {0}")]
    Status(StatusCode),
    /// The answer was not the expected JSON.
    #[error("control plane answer is malformed")]
    Malformed(#[source] reqwest::Error),
    /// The change log no longer reaches back to our revision: take a new snapshot.
    #[error("revision is gone from the change log")]
    RevisionGone,
}

/// An authenticated client of the node API, one per data plane process.
#[derive(Clone, Debug)]
pub struct NodeClient {
    http: reqwest::Client,
    base_url: Arc<str>,
    region: Arc<str>,
    node_token: SecretString,
    instance_id: Arc<str>,
    store: Arc<ConfigStore>,
}

impl NodeClient {
    /// A client for `connection`; the revision header comes from `store`.
    pub fn new(connection: &Connection, store: Arc<ConfigStore>) -> Result<Self, reqwest::Error> {
        // reqwest is built without a default crypto provider: ring is the one we ship. A
        // binary installs it at start too; the second installation is a no-op.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            base_url: connection.control_plane_url.as_str().into(),
            region: connection.region.as_str().into(),
            node_token: connection.node_token.clone(),
            instance_id: restapi_shared::ids::new_id("dp").into(),
            store,
        })
    }

    /// The random identifier of this process, as reported to the control plane.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// `GET /node/v1/snapshot`.
    pub async fn snapshot(&self) -> Result<RegionSnapshot, NodeError> {
        let request = self
            .request(reqwest::Method::GET, SNAPSHOT_PATH)
            .timeout(SNAPSHOT_TIMEOUT);
        let response = request.send().await.map_err(NodeError::Unreachable)?;
        expect_json(response).await
    }

    /// `GET /node/v1/changes?after=R&waitSeconds=25`: waits for changes after `after`.
    pub async fn changes(&self, after: Revision) -> Result<ChangeBatch, NodeError> {
        let path = format!("{CHANGES_PATH}?after={after}&waitSeconds={LONG_POLL_SECONDS}");
        let timeout = Duration::from_secs(LONG_POLL_SECONDS) + LONG_POLL_MARGIN;
        let request = self.request(reqwest::Method::GET, &path).timeout(timeout);
        let response = request.send().await.map_err(NodeError::Unreachable)?;
        if response.status() == StatusCode::GONE {
            return Err(NodeError::RevisionGone);
        }
        expect_json(response).await
    }

    /// `POST /node/v1/refresh-tokens/redeem`: records the use of a refresh token.
    pub async fn redeem(&self, request: &RedeemRefreshRequest) -> Result<RedeemOutcome, NodeError> {
        Ok(self.redeem_session(request).await?.outcome)
    }

    /// `POST /node/v1/refresh-tokens/redeem` for a browser session's token (`user_id` set):
    /// the outcome and the user as they are now.
    pub async fn redeem_session(
        &self,
        request: &RedeemRefreshRequest,
    ) -> Result<RedeemRefreshResponse, NodeError> {
        self.post_json(REDEEM_REFRESH_PATH, request).await
    }

    /// `POST /node/v1/refresh-tokens/revoke`: ends a refresh family at sign-out.
    pub async fn revoke_family(&self, request: &RevokeRefreshRequest) -> Result<(), NodeError> {
        let response = self
            .request(reqwest::Method::POST, REVOKE_REFRESH_PATH)
            .timeout(REDEEM_TIMEOUT)
            .json(request)
            .send()
            .await
            .map_err(NodeError::Unreachable)?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(NodeError::Status(status)),
        }
    }

    /// `POST /node/v1/refresh-tokens/status`: whether a refresh token is spent or revoked.
    pub async fn refresh_status(
        &self,
        request: &RefreshStatusRequest,
    ) -> Result<RefreshStatusResponse, NodeError> {
        self.post_json(REFRESH_STATUS_PATH, request).await
    }

    /// `POST /node/v1/users/resolve`: the user behind an identity that just signed in.
    pub async fn resolve_user(
        &self,
        request: &ResolveUserRequest,
    ) -> Result<ResolveUserResponse, NodeError> {
        self.post_json(RESOLVE_USER_PATH, request).await
    }

    /// `POST /node/v1/passkeys/register`: stores a verified new passkey (and, for a sign-up,
    /// creates its user).
    pub async fn register_passkey(
        &self,
        request: &PasskeyRegisterRequest,
    ) -> Result<PasskeyRegisterResponse, NodeError> {
        self.post_json(PASSKEY_REGISTER_PATH, request).await
    }

    /// `POST /node/v1/passkeys/lookup`: the passkey with a credential id.
    pub async fn lookup_passkey(
        &self,
        request: &PasskeyLookupRequest,
    ) -> Result<PasskeyLookupResponse, NodeError> {
        self.post_json(PASSKEY_LOOKUP_PATH, request).await
    }

    /// `POST /node/v1/passkeys/sign-in`: records a verified passkey sign-in.
    pub async fn passkey_signed_in(
        &self,
        request: &PasskeySignInRequest,
    ) -> Result<PasskeySignInResponse, NodeError> {
        self.post_json(PASSKEY_SIGN_IN_PATH, request).await
    }

    /// `POST /node/v1/passkeys/list`: a user's passkeys and user handle.
    pub async fn list_passkeys(
        &self,
        request: &PasskeyListRequest,
    ) -> Result<PasskeyListResponse, NodeError> {
        self.post_json(PASSKEY_LIST_PATH, request).await
    }

    /// `POST /node/v1/passkeys/remove`: removes one of a user's passkeys.
    pub async fn remove_passkey(
        &self,
        request: &PasskeyRemoveRequest,
    ) -> Result<PasskeyRemoveResponse, NodeError> {
        self.post_json(PASSKEY_REMOVE_PATH, request).await
    }

    async fn post_json<Q: serde::Serialize, A: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        request: &Q,
    ) -> Result<A, NodeError> {
        let response = self
            .request(reqwest::Method::POST, path)
            .timeout(REDEEM_TIMEOUT)
            .json(request)
            .send()
            .await
            .map_err(NodeError::Unreachable)?;
        expect_json(response).await
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}{path}", self.base_url);
        let mut request = self
            .http
            .request(method, url)
            .bearer_auth(self.node_token.expose())
            .header(REGION_HEADER, &*self.region)
            .header(INSTANCE_HEADER, &*self.instance_id);
        if let Some(revision) = self.store.revision() {
            request = request.header(REVISION_HEADER, revision);
        }
        request
    }
}

/// `error` and its sources, for a log line: reqwest's own message omits the cause (such as
/// "connection refused").
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn expect_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, NodeError> {
    let status = response.status();
    if !status.is_success() {
        return Err(NodeError::Status(status));
    }
    response.json().await.map_err(NodeError::Malformed)
}
