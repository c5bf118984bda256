//! Who is calling: an operator (admin API) or a data plane (node API).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use restapi_shared::node::{INSTANCE_HEADER, REGION_HEADER, REVISION_HEADER};

use super::AppState;
use super::error::HttpError;
use super::extract::bearer_token;
use crate::store::{NodeIdentity, NodeReport};

/// Longest instance identifier accepted from a data plane.
const MAX_INSTANCE_LEN: usize = 128;

/// Proof that the request carries a valid operator token.
#[derive(Debug)]
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(HttpError::Unauthorized)?;
        if state.store.is_operator_token(token).await? {
            Ok(Self)
        } else {
            tracing::warn!("operator token rejected");
            Err(HttpError::Unauthorized)
        }
    }
}

/// A data plane authenticated by its node credential, its call recorded.
#[derive(Debug)]
pub struct Node {
    /// The credential and its region.
    pub identity: NodeIdentity,
}

impl FromRequestParts<AppState> for Node {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(HttpError::Unauthorized)?;
        let Some(identity) = state.store.node_identity(token).await? else {
            tracing::warn!("node token rejected");
            return Err(HttpError::Unauthorized);
        };
        tracing::Span::current().record("region", identity.region_name.as_str());
        let region = header_text(&parts.headers, REGION_HEADER)
            .ok_or_else(|| missing_header(REGION_HEADER))?;
        if region != identity.region_name {
            tracing::warn!(
                credential = %identity.credential_id,
                claimed_region = region,
                "node of another region"
            );
            return Err(HttpError::WrongRegionHeader);
        }

        let report = node_report(&parts.headers)?;
        state
            .store
            .record_data_plane(&identity, &report, state.clock.now())
            .await?;
        Ok(Self { identity })
    }
}

fn node_report(headers: &HeaderMap) -> Result<NodeReport, HttpError> {
    let instance = header_text(headers, INSTANCE_HEADER)
        .filter(|instance| !instance.is_empty() && instance.len() <= MAX_INSTANCE_LEN)
        .ok_or_else(|| missing_header(INSTANCE_HEADER))?;
    let revision = match header_text(headers, REVISION_HEADER) {
        Some(text) => Some(text.parse().map_err(|_| {
            HttpError::InvalidRequest(format!("header {REVISION_HEADER} must be an integer"))
        })?),
        None => None,
    };
    Ok(NodeReport {
        instance: instance.to_owned(),
        revision,
    })
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
}

fn missing_header(name: &str) -> HttpError {
    HttpError::InvalidRequest(format!("header {name} is required"))
}
