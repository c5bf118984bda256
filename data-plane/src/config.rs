//! The region's configuration in memory, prepared once per change for the hot path.
//!
//! The sync client receives plain configuration ([`restapi_shared::push`]); this module turns
//! it into what requests need without further work: parsed signing keys, the JWKS already
//! serialised, the sealing key, service accounts by client id. A whole [`RegionState`] is
//! replaced atomically per applied batch, so a request sees one revision from start to end,
//! and readers take no lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use axum::body::Bytes;
use restapi_shared::aead::SealingKey;
use restapi_shared::clock::UnixTime;
use restapi_shared::push::{
    ApiConfig, Change, ChangeBatch, ClientConfig, DomainConfig, ProviderConfig, RegionConfig,
    RegionSnapshot, Revision, ServiceAccountConfig, SigningKeyConfig, WebConfig,
};
use restapi_shared::token::{
    ACCESS_TOKEN_TTL, CLOCK_SKEW, Jwk, Jwks, REGISTERED_CLAIMS, Signer, VerifyingKey,
};
use rustls::sign::CertifiedKey;

use crate::access::GatewayState;

/// Holds the configuration currently served; empty until the first snapshot is applied.
#[derive(Debug, Default)]
pub struct ConfigStore {
    current: ArcSwapOption<RegionState>,
}

impl ConfigStore {
    /// The configuration being served, if any.
    pub fn current(&self) -> Option<Arc<RegionState>> {
        self.current.load_full()
    }

    /// The revision being served, if any.
    pub fn revision(&self) -> Option<Revision> {
        self.current.load().as_ref().map(|state| state.revision)
    }

    /// Replaces the configuration being served, all at once.
    pub fn replace(&self, state: RegionState) {
        self.current.store(Some(Arc::new(state)));
    }
}

/// A region's configuration at one revision, ready to serve.
#[derive(Debug, Clone)]
pub struct RegionState {
    /// The revision this state is exact at.
    pub revision: Revision,
    /// The region's settings (its public host).
    pub region: RegionConfig,
    apis_by_name: HashMap<String, Arc<ApiState>>,
    names_by_id: HashMap<String, String>,
    /// The API names by custom domain (lowercase), for every verified domain.
    names_by_domain: HashMap<String, String>,
}

impl RegionState {
    /// Prepares a whole snapshot.
    pub fn from_snapshot(snapshot: RegionSnapshot) -> Self {
        let mut state = Self {
            revision: snapshot.revision,
            region: snapshot.region,
            apis_by_name: HashMap::with_capacity(snapshot.apis.len()),
            names_by_id: HashMap::with_capacity(snapshot.apis.len()),
            names_by_domain: HashMap::new(),
        };
        for api in snapshot.apis {
            state.upsert(api);
        }
        state
    }

    /// The state after `batch`; APIs the batch does not touch are shared, not rebuilt.
    pub fn apply(&self, batch: ChangeBatch) -> Self {
        let mut next = self.clone();
        next.revision = batch.revision;
        for change in batch.changes {
            match change {
                Change::ApiUpserted { api } => next.upsert(*api),
                Change::ApiRemoved { id } => next.remove(&id),
                Change::RegionUpdated { region } => next.region = region,
                Change::SessionRevoked { api_id, family } => {
                    if let Some(api) = next.api_by_id(&api_id) {
                        api.revoked_sessions.insert(family);
                    }
                }
            }
        }
        next
    }

    /// The API named `name`, if this region serves it.
    pub fn api(&self, name: &str) -> Option<&Arc<ApiState>> {
        self.apis_by_name.get(name)
    }

    /// The API that custom domain `domain` (lowercase) serves, if any.
    pub fn api_by_domain(&self, domain: &str) -> Option<&Arc<ApiState>> {
        self.apis_by_name.get(self.names_by_domain.get(domain)?)
    }

    /// The certificate of custom domain `domain` (lowercase), once it has one.
    pub fn certificate_for(&self, domain: &str) -> Option<Arc<CertifiedKey>> {
        self.served_domain(domain)?.certificate.clone()
    }

    /// The key authorisation answering the ACME HTTP-01 challenge `token` on `domain`.
    pub fn acme_challenge(&self, domain: &str, token: &str) -> Option<&str> {
        self.served_domain(domain)?
            .challenges
            .get(token)
            .map(String::as_str)
    }

    fn served_domain(&self, domain: &str) -> Option<&ServedDomain> {
        let api = self.api_by_domain(domain)?;
        api.domains.iter().find(|served| served.name == domain)
    }

    /// Whether `domain` (lowercase) is a custom domain of one of the region's APIs.
    pub fn is_custom_domain(&self, domain: &str) -> bool {
        self.names_by_domain.contains_key(domain)
    }

    /// How many APIs the region serves.
    pub fn api_count(&self) -> usize {
        self.apis_by_name.len()
    }

    fn api_by_id(&self, id: &str) -> Option<&Arc<ApiState>> {
        self.apis_by_name.get(self.names_by_id.get(id)?)
    }

    fn upsert(&mut self, api: ApiConfig) {
        // Revocations arrive one by one, between the API's own changes: they carry over.
        let revoked_sessions = self
            .api_by_id(&api.id)
            .map(|previous| Arc::clone(&previous.revoked_sessions));
        // The name may have changed: drop the entry under the old name first.
        self.remove(&api.id);
        let Some(mut prepared) = ApiState::prepare(api) else {
            return;
        };
        if let Some(revoked_sessions) = revoked_sessions {
            revoked_sessions.absorb(&prepared.revoked_sessions);
            prepared.revoked_sessions = revoked_sessions;
        }
        self.names_by_id
            .insert(prepared.id.clone(), prepared.name.clone());
        for domain in &prepared.domains {
            self.names_by_domain
                .insert(domain.name.clone(), prepared.name.clone());
        }
        self.apis_by_name
            .insert(prepared.name.clone(), Arc::new(prepared));
    }

    fn remove(&mut self, id: &str) {
        if let Some(name) = self.names_by_id.remove(id)
            && let Some(api) = self.apis_by_name.remove(&name)
        {
            for domain in &api.domains {
                self.names_by_domain.remove(&domain.name);
            }
        }
    }
}

/// A custom domain as served: its certificate, parsed once, and its pending ACME challenges.
#[derive(Debug)]
pub struct ServedDomain {
    /// The name, lowercase.
    pub name: String,
    /// The certificate for SNI; `None` until one is issued, or when it cannot be used.
    pub certificate: Option<Arc<CertifiedKey>>,
    /// Key authorisations by challenge token.
    challenges: HashMap<String, String>,
}

impl ServedDomain {
    fn prepare(api_name: &str, domain: DomainConfig) -> Self {
        let name = domain.name.to_ascii_lowercase();
        let certificate = domain.certificate.and_then(|certificate| {
            let key = certificate.key_pem.expose();
            crate::tls::certified_key_from_pem(&certificate.chain_pem, key)
                .inspect_err(|error| {
                    tracing::error!(api = api_name, domain = %name, %error,
                        "certificate of a custom domain unusable; the domain gets none");
                })
                .ok()
        });
        let challenges = domain
            .challenges
            .into_iter()
            .map(|challenge| (challenge.token, challenge.key_authorization))
            .collect();
        Self {
            name,
            certificate,
            challenges,
        }
    }
}

/// The refresh families of an API revoked within the last hour or so: an access token naming
/// one in `sid` is refused. Shared by every version of the API's state, since revocations
/// arrive between its configuration changes; an entry is forgotten once no access token of
/// its family can still be valid.
pub struct RevokedSessions(moka::sync::Cache<String, ()>);

impl RevokedSessions {
    fn of(families: Vec<String>) -> Self {
        let lifetime =
            Duration::from_secs(u64::try_from(ACCESS_TOKEN_TTL + CLOCK_SKEW).unwrap_or(3_660));
        let cache = moka::sync::Cache::builder().time_to_live(lifetime).build();
        for family in families {
            cache.insert(family, ());
        }
        Self(cache)
    }

    /// Records that `family` is revoked.
    pub fn insert(&self, family: String) {
        self.0.insert(family, ());
    }

    /// Whether `family` was revoked.
    pub fn contains(&self, family: &str) -> bool {
        self.0.contains_key(family)
    }

    /// Takes the entries of `other` (a fresh configuration's list) into this set.
    fn absorb(&self, other: &Self) {
        for (family, ()) in other.0.iter() {
            self.0.insert(family.as_ref().clone(), ());
        }
    }
}

impl std::fmt::Debug for RevokedSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RevokedSessions")
            .field(&self.0.entry_count())
            .finish()
    }
}

/// One API, prepared for serving.
#[derive(Debug)]
pub struct ApiState {
    /// The API's identifier.
    pub id: String,
    /// The API's name, also the audience of its tokens.
    pub name: String,
    /// Its keys, by period of time.
    pub keys: KeyRing,
    /// The key that seals its refresh tokens.
    pub sealing_key: SealingKey,
    /// Static claims added to every access token, without registered names.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// Upstreams, access rules and CORS origins of the API behind the data plane, compiled.
    pub gateway: GatewayState,
    /// How the hosted login page looks, where it may return to, and the CORS origins.
    pub web: WebConfig,
    /// The identity providers of the hosted login page, in the configured order.
    pub providers: Vec<ProviderConfig>,
    /// The key that seals the login state cookie, derived from the refresh key.
    pub login_key: SealingKey,
    /// The public OAuth clients that may use the hosted login as authorization endpoint.
    pub clients: Vec<ClientConfig>,
    /// Refresh families revoked lately, whose access tokens are refused.
    pub revoked_sessions: Arc<RevokedSessions>,
    /// The API's verified custom domains.
    pub domains: Vec<ServedDomain>,
    accounts_by_client_id: HashMap<String, ServiceAccountConfig>,
}

impl ApiState {
    /// Prepares an API; `None` (logged) when its sealing key is unusable, since such an API
    /// could not honour its own refresh tokens.
    pub fn prepare(api: ApiConfig) -> Option<Self> {
        let Some(sealing_key) = SealingKey::new(api.refresh_token_key.expose()) else {
            tracing::error!(api = %api.name, "refresh token key is not 32 bytes; API not served");
            return None;
        };
        let Some(login_key) = login_state_key(api.refresh_token_key.expose()) else {
            tracing::error!(api = %api.name, "login state key cannot be derived; API not served");
            return None;
        };
        let accounts_by_client_id = api
            .service_accounts
            .into_iter()
            .map(|account| (account.client_id.clone(), account))
            .collect();
        let domains = api
            .domains
            .into_iter()
            .map(|domain| ServedDomain::prepare(&api.name, domain))
            .collect();
        Some(Self {
            keys: KeyRing::prepare(&api.name, &api.signing_keys),
            gateway: GatewayState::prepare(&api.name, &api.web),
            claims: static_claims(&api.name, api.claims),
            id: api.id,
            name: api.name,
            sealing_key,
            web: api.web,
            providers: api.providers,
            login_key,
            clients: api.clients,
            revoked_sessions: Arc::new(RevokedSessions::of(api.revoked_sessions)),
            domains,
            accounts_by_client_id,
        })
    }

    /// The provider with identifier `id`, enabled or not.
    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|provider| provider.id == id)
    }

    /// The public client with OAuth client id `client_id`.
    pub fn client(&self, client_id: &str) -> Option<&ClientConfig> {
        self.clients
            .iter()
            .find(|client| client.client_id == client_id)
    }

    /// The service account with OAuth client id `client_id`.
    pub fn service_account(&self, client_id: &str) -> Option<&ServiceAccountConfig> {
        self.accounts_by_client_id.get(client_id)
    }
}

/// The AES-256-GCM key of the login state cookie: HKDF-SHA256 (RFC 5869) of the API's refresh
/// key, so that the two uses never share a key; the API id is the associated data of each
/// sealed value, not part of the derivation.
fn login_state_key(refresh_key: &[u8]) -> Option<SealingKey> {
    struct KeyLength;
    impl ring::hkdf::KeyType for KeyLength {
        fn len(&self) -> usize {
            32
        }
    }
    let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[]);
    let pseudo_random_key = salt.extract(refresh_key);
    let info = [b"restapi login state v1".as_slice()];
    let okm = pseudo_random_key.expand(&info, KeyLength).ok()?;
    let mut bytes = [0u8; 32];
    okm.fill(&mut bytes).ok()?;
    SealingKey::new(&bytes)
}

/// An API's static claims without any registered name: the control plane refuses those, but
/// a token must never carry a second `sub` or `exp`, whatever the configuration says.
fn static_claims(
    api_name: &str,
    mut claims: serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    claims.retain(|name, _| {
        let registered = REGISTERED_CLAIMS.contains(&name.as_str());
        if registered {
            tracing::error!(api = %api_name, claim = %name, "registered claim name dropped");
        }
        !registered
    });
    claims
}

/// An API's keys, precomputed for every period in which the published set and the signing
/// key stay the same.
///
/// Which keys are published and which one signs depends on time as well as on
/// configuration (a pending key starts signing at `sign_from`, a retired key disappears at
/// `retire_at`). Between two of those instants nothing changes, so every period gets its
/// view computed once, and a request only finds its period by binary search.
#[derive(Debug)]
pub struct KeyRing {
    /// The instants at which the view changes, ascending.
    boundaries: Vec<UnixTime>,
    /// `views[i]` holds from `boundaries[i - 1]` (inclusive) to `boundaries[i]` (exclusive).
    views: Vec<KeyView>,
}

/// The keys of an API during one period.
#[derive(Debug)]
pub struct KeyView {
    /// The key that signs new tokens: the published key with the greatest `sign_from` not
    /// after now (ties: the later one in the configuration, the newer).
    pub signer: Option<Arc<Signer>>,
    /// The published keys; tokens verify against these.
    pub verifying_keys: Vec<VerifyingKey>,
    /// The JWKS of the published keys, serialised.
    pub jwks: Bytes,
}

struct PreparedKey<'a> {
    config: &'a SigningKeyConfig,
    signer: Arc<Signer>,
    verifying_key: VerifyingKey,
}

impl KeyRing {
    /// Parses every key once and computes the view of each period.
    pub fn prepare(api_name: &str, keys: &[SigningKeyConfig]) -> Self {
        let prepared: Vec<PreparedKey<'_>> = keys
            .iter()
            .filter_map(|config| prepare_key(api_name, config))
            .collect();

        let mut boundaries: Vec<UnixTime> = prepared
            .iter()
            .flat_map(|key| std::iter::once(key.config.sign_from).chain(key.config.retire_at))
            .collect();
        boundaries.sort_unstable();
        boundaries.dedup();

        let period_starts = std::iter::once(UnixTime::MIN).chain(boundaries.iter().copied());
        let views = period_starts
            .map(|start| view_at(&prepared, start))
            .collect();
        Self { boundaries, views }
    }

    /// The view at `now`.
    pub fn at(&self, now: UnixTime) -> &KeyView {
        let period = self.boundaries.partition_point(|boundary| *boundary <= now);
        // `views` has one more entry than `boundaries`, so `period` is always in range.
        &self.views[period]
    }
}

fn prepare_key<'a>(api_name: &str, config: &'a SigningKeyConfig) -> Option<PreparedKey<'a>> {
    let signer = match Signer::new(&config.kid, &config.private_key) {
        Ok(signer) => signer,
        Err(error) => {
            tracing::error!(api = %api_name, kid = %config.kid, %error, "signing key skipped");
            return None;
        }
    };
    let Some(verifying_key) = VerifyingKey::new(&config.kid, &config.public_key) else {
        tracing::error!(api = %api_name, kid = %config.kid, "public key is not a P-256 point");
        return None;
    };
    Some(PreparedKey {
        config,
        signer: Arc::new(signer),
        verifying_key,
    })
}

fn view_at(keys: &[PreparedKey<'_>], now: UnixTime) -> KeyView {
    let published: Vec<&PreparedKey<'_>> = keys
        .iter()
        .filter(|key| key.config.is_published(now))
        .collect();
    let signer = published
        .iter()
        .filter(|key| key.config.sign_from <= now)
        // `max_by_key` returns the last of equal maxima: the newer key wins a tie.
        .max_by_key(|key| key.config.sign_from)
        .map(|key| Arc::clone(&key.signer));
    let jwks = Jwks {
        keys: published
            .iter()
            .map(|key| Jwk::es256(&key.config.kid, &key.config.public_key))
            .collect(),
    };
    KeyView {
        signer,
        verifying_keys: published
            .iter()
            .map(|key| key.verifying_key.clone())
            .collect(),
        // Serialising a struct of strings cannot fail.
        jwks: Bytes::from(serde_json::to_vec(&jwks).unwrap_or_default()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use restapi_shared::push::ClientSecretConfig;
    use restapi_shared::secret::{SecretBytes, SecretDigest};

    use super::*;
    use crate::test_support::signing_key;

    pub(crate) fn api(id: &str, name: &str, keys: Vec<SigningKeyConfig>) -> ApiConfig {
        ApiConfig {
            id: id.to_owned(),
            name: name.to_owned(),
            roles: vec!["reader".to_owned()],
            default_roles: vec![],
            signing_keys: keys,
            service_accounts: vec![ServiceAccountConfig {
                id: format!("sa_{name}"),
                client_id: format!("cid_{name}"),
                name: "billing".to_owned(),
                roles: vec!["reader".to_owned()],
                enabled: true,
                secrets: vec![ClientSecretConfig {
                    id: format!("sec_{name}"),
                    digest: SecretDigest::of("rcs_right"),
                    enabled: true,
                    expires_at: i64::MAX,
                }],
            }],
            refresh_token_key: SecretBytes::new(vec![7; 32]),
            claims: serde_json::Map::new(),
            web: Default::default(),
            providers: vec![],
            clients: vec![],
            revoked_sessions: vec![],
            domains: vec![],
        }
    }

    fn kids(view: &KeyView) -> Vec<&str> {
        view.verifying_keys.iter().map(VerifyingKey::kid).collect()
    }

    #[test]
    fn pending_key_is_published_before_it_signs_and_retired_key_disappears() {
        let keys = vec![
            signing_key("key_old", 0, Some(2_000)),
            signing_key("key_new", 1_000, None),
        ];
        let ring = KeyRing::prepare("shop", &keys);

        let before = ring.at(500);
        assert_eq!(before.signer.as_ref().unwrap().kid(), "key_old");
        assert_eq!(kids(before), ["key_old", "key_new"]);

        let after_switch = ring.at(1_000);
        assert_eq!(after_switch.signer.as_ref().unwrap().kid(), "key_new");
        assert_eq!(kids(after_switch), ["key_old", "key_new"]);

        let after_retirement = ring.at(2_000);
        assert_eq!(kids(after_retirement), ["key_new"]);
        let jwks: Jwks = serde_json::from_slice(&after_retirement.jwks).unwrap();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].kid, "key_new");
    }

    #[test]
    fn tie_goes_to_the_newer_key_and_unparsable_keys_are_skipped() {
        let mut broken = signing_key("key_broken", 0, None);
        broken.private_key = SecretBytes::new(vec![1, 2, 3]);
        let keys = vec![
            signing_key("key_a", 10, None),
            signing_key("key_b", 10, None),
            broken,
        ];
        let ring = KeyRing::prepare("shop", &keys);
        assert_eq!(ring.at(10).signer.as_ref().unwrap().kid(), "key_b");
        assert!(ring.at(5).signer.is_none());
        assert_eq!(kids(ring.at(10)), ["key_a", "key_b"]);
    }

    #[test]
    fn static_claims_never_override_registered_ones() {
        let mut config = api("api_1", "shop", vec![]);
        config
            .claims
            .insert("tenant".into(), serde_json::json!("acme"));
        config
            .claims
            .insert("sub".into(), serde_json::json!("someone-else"));
        let prepared = ApiState::prepare(config).unwrap();
        assert_eq!(prepared.claims.len(), 1);
        assert_eq!(prepared.claims["tenant"], "acme");
    }

    #[test]
    fn batches_replace_rename_and_remove_apis() {
        let snapshot = RegionSnapshot {
            revision: 1,
            region: RegionConfig {
                id: "reg_1".into(),
                name: "eu".into(),
                host: "eu.x".into(),
            },
            apis: vec![api("api_1", "shop", vec![]), api("api_2", "blog", vec![])],
        };
        let state = RegionState::from_snapshot(snapshot);
        let batch = ChangeBatch {
            revision: 5,
            changes: vec![
                Change::ApiUpserted {
                    api: Box::new(api("api_1", "store", vec![])),
                },
                Change::ApiRemoved { id: "api_2".into() },
            ],
        };
        let next = state.apply(batch);
        assert_eq!(next.revision, 5);
        assert!(next.api("shop").is_none());
        assert!(next.api("blog").is_none());
        assert_eq!(next.api("store").unwrap().id, "api_1");
        // The previous state is untouched: requests in flight keep their revision.
        assert!(state.api("shop").is_some());
    }

    #[test]
    fn revoked_sessions_arrive_alone_and_outlive_the_apis_later_changes() {
        let mut shop = api("api_1", "shop", vec![]);
        shop.revoked_sessions = vec!["fam_snapshot".into()];
        let snapshot = RegionSnapshot {
            revision: 1,
            region: RegionConfig {
                id: "reg_1".into(),
                name: "eu".into(),
                host: "eu.x".into(),
            },
            apis: vec![shop],
        };
        let state = RegionState::from_snapshot(snapshot);
        let revoked = |state: &RegionState, family: &str| {
            state.api("shop").unwrap().revoked_sessions.contains(family)
        };
        assert!(revoked(&state, "fam_snapshot"));
        assert!(!revoked(&state, "fam_later"));

        let state = state.apply(ChangeBatch {
            revision: 2,
            changes: vec![Change::SessionRevoked {
                api_id: "api_1".into(),
                family: "fam_later".into(),
            }],
        });
        assert!(revoked(&state, "fam_later"));
        // A later change of the API (whose list the control plane built before the
        // revocation) keeps what arrived since.
        let state = state.apply(ChangeBatch {
            revision: 3,
            changes: vec![Change::ApiUpserted {
                api: Box::new(api("api_1", "shop", vec![])),
            }],
        });
        assert!(revoked(&state, "fam_later"));
        assert!(revoked(&state, "fam_snapshot"));
    }
}
