//! Bearer token checks, cached until the token expires.
//!
//! Verifying an ES256 signature costs tens of microseconds; a client presents the same token
//! many times within its hour. A verified token is remembered together with the API and key
//! that verified it, and a cached answer counts only while that API still exists with that
//! name and that key is still published: removing a key or an API takes effect at once,
//! without waiting for entries to expire.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use moka::sync::Cache;
use restapi_shared::clock::UnixTime;
use restapi_shared::token::{AccessClaims, CLOCK_SKEW, TokenError, VerifyingKey, verify};
use serde::Deserialize;

use crate::config::ApiState;
use crate::metrics::{BearerResult, Metrics};

/// Upper bound of the cache's memory use, approximately.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;
/// Rough size of a cached entry besides the token itself.
const ENTRY_OVERHEAD: usize = 384;

/// Verifies bearer tokens, remembering the ones that verified.
#[derive(Clone)]
pub struct BearerVerifier {
    cache: Cache<Arc<str>, Arc<VerifiedToken>>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for BearerVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerVerifier")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

/// A token that verified, and what it verified against.
#[derive(Debug)]
pub struct VerifiedToken {
    api_id: String,
    kid: String,
    /// The token's claims.
    pub claims: AccessClaims,
    /// How long the entry may live: until the token expires.
    time_to_live: Duration,
}

impl BearerVerifier {
    /// An empty verifier, counting its checks in `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        let cache = Cache::builder()
            .max_capacity(CACHE_BYTES)
            .weigher(|token: &Arc<str>, _: &Arc<VerifiedToken>| {
                u32::try_from(token.len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
            })
            .expire_after(UntilTokenExpiry)
            .build();
        Self { cache, metrics }
    }

    /// Verifies `token` for `api` at `now`: signature by a published key, audience, expiry.
    pub fn verify(
        &self,
        api: &ApiState,
        token: &str,
        now: UnixTime,
    ) -> Result<Arc<VerifiedToken>, TokenError> {
        let keys = &api.keys.at(now).verifying_keys;
        if let Some(cached) = self.cache.get(token)
            && cached.still_valid_for(api, keys, now)
        {
            self.metrics.bearer_checked(BearerResult::CacheHit);
            return cached.unless_revoked(api);
        }

        let verified = self
            .verify_signature(api, keys, token, now)
            .and_then(|verified| verified.unless_revoked(api));
        let result = match verified {
            Ok(_) => BearerResult::Verified,
            Err(_) => BearerResult::Rejected,
        };
        self.metrics.bearer_checked(result);
        verified
    }

    fn verify_signature(
        &self,
        api: &ApiState,
        keys: &[VerifyingKey],
        token: &str,
        now: UnixTime,
    ) -> Result<Arc<VerifiedToken>, TokenError> {
        let claims = verify(token, keys, &api.name, now)?;
        let kid = header_kid(token).ok_or(TokenError::Malformed)?;
        let time_to_live =
            Duration::from_secs(u64::try_from(claims.exp + CLOCK_SKEW - now).unwrap_or(0));
        let verified = Arc::new(VerifiedToken {
            api_id: api.id.clone(),
            kid,
            claims,
            time_to_live,
        });
        self.cache.insert(token.into(), Arc::clone(&verified));
        Ok(verified)
    }
}

impl VerifiedToken {
    /// The token, unless its session (`sid`) was revoked since it was issued. Checked on
    /// every use, cached or not: a revocation arrives after the token was first seen.
    fn unless_revoked(self: Arc<Self>, api: &ApiState) -> Result<Arc<Self>, TokenError> {
        let session = self.claims.extra.get("sid").and_then(|sid| sid.as_str());
        match session {
            Some(family) if api.revoked_sessions.contains(family) => Err(TokenError::Revoked),
            _ => Ok(self),
        }
    }

    fn still_valid_for(&self, api: &ApiState, keys: &[VerifyingKey], now: UnixTime) -> bool {
        self.api_id == api.id
            && self.claims.aud == api.name
            && keys.iter().any(|key| key.kid() == self.kid)
            && self.claims.exp > now - CLOCK_SKEW
            && self.claims.iat <= now + CLOCK_SKEW
    }
}

struct UntilTokenExpiry;

impl moka::Expiry<Arc<str>, Arc<VerifiedToken>> for UntilTokenExpiry {
    fn expire_after_create(
        &self,
        _token: &Arc<str>,
        verified: &Arc<VerifiedToken>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(verified.time_to_live)
    }
}

/// The `kid` of a token whose signature already verified.
fn header_kid(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Header {
        kid: String,
    }
    let header = token.split('.').next()?;
    let bytes = URL_SAFE_NO_PAD.decode(header).ok()?;
    serde_json::from_slice::<Header>(&bytes)
        .ok()
        .map(|header| header.kid)
}
