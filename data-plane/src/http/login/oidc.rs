//! OpenID Connect with the identity providers (Core 1.0, authorization code flow with PKCE):
//! endpoint discovery, the authorization request, the code exchange, ID token verification
//! and userinfo. Built on the `openidconnect` crate, over our own reqwest client.
//!
//! Discovery documents and key sets are cached in memory for an hour; a key set is fetched
//! again at once when an ID token names a key it does not hold (the provider rotated).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use moka::sync::Cache;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreTokenResponse,
};
use openidconnect::url::Url;
use openidconnect::{
    AccessToken, AccessTokenHash, AuthType, AuthUrl, AuthorizationCode, ClaimsVerificationError,
    ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    TokenResponse, TokenUrl,
};
use restapi_shared::clock::UnixTime;
use restapi_shared::push::ProviderConfig;
use serde::Deserialize;

use super::state::LoginState;
use super::{ClientSecrets, ExternalIdentity, IdentitySource, LoginError, Preset};

/// How long a discovery document or key set is trusted before it is fetched again.
const CACHE_TTL: Duration = Duration::from_secs(3600);
/// How long one call to a provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// Scopes asked for when the provider configures none.
pub(super) const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];

/// The providers' endpoints and keys as fetched, shared by every API of the data plane.
#[derive(Clone)]
pub(crate) struct ProviderDirectory {
    http: reqwest::Client,
    documents: Cache<String, Arc<Discovery>>,
    key_sets: Cache<String, Arc<CoreJsonWebKeySet>>,
    /// Client secrets minted for providers that want one made (Apple).
    client_secrets: Arc<ClientSecrets>,
}

impl std::fmt::Debug for ProviderDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderDirectory")
            .field("documents", &self.documents.entry_count())
            .field("key_sets", &self.key_sets.entry_count())
            .finish()
    }
}

/// The part of a discovery document (OpenID Connect Discovery 1.0 §3) the flow uses.
#[derive(Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    userinfo_endpoint: Option<String>,
    jwks_uri: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Vec<String>,
}

/// A provider's endpoints, resolved: configuration first, then discovery, then the kind's
/// defaults.
#[derive(Clone, Debug)]
pub(crate) struct Endpoints {
    /// The issuer ID tokens must name.
    pub issuer: Option<String>,
    pub authorization: String,
    pub token: String,
    pub userinfo: Option<String>,
    pub jwks: Option<String>,
    /// RFC 8414 `token_endpoint_auth_methods_supported`; empty when unknown.
    pub auth_methods: Vec<String>,
}

/// The tokens a callback obtained, before the identity is read from them.
struct Exchanged {
    response: CoreTokenResponse,
}

impl ProviderDirectory {
    /// An empty directory with its own HTTP client: no redirects followed, short timeouts.
    pub(crate) fn new() -> Result<Self, reqwest::Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(PROVIDER_TIMEOUT)
            .timeout(PROVIDER_TIMEOUT)
            .build()?;
        Ok(Self {
            http,
            documents: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CACHE_TTL)
                .build(),
            key_sets: Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CACHE_TTL)
                .build(),
            client_secrets: Arc::default(),
        })
    }

    /// The endpoints of `provider`: explicit ones win, discovery of its issuer fills the rest,
    /// the kind's defaults after that.
    pub(crate) async fn endpoints(
        &self,
        provider: &ProviderConfig,
        preset: &Preset,
    ) -> Result<Endpoints, LoginError> {
        let explicit = &provider.endpoints;
        let complete = explicit.authorization.is_some()
            && explicit.token.is_some()
            && (explicit.jwks.is_some() || !preset.verifies_id_tokens());
        let discovered = match (&provider.issuer, complete) {
            (Some(issuer), false) => Some(self.discovery(provider, issuer, preset).await?),
            _ => None,
        };
        let defaults = (preset.default_endpoints)(provider);
        let pick = |explicit: &Option<String>, found: Option<&String>, default: &Option<String>| {
            explicit
                .clone()
                .or_else(|| found.cloned())
                .or_else(|| default.clone())
        };
        let document = discovered.as_deref();
        let authorization = pick(
            &explicit.authorization,
            document.and_then(|found| found.authorization_endpoint.as_ref()),
            &defaults.authorization,
        );
        let token = pick(
            &explicit.token,
            document.and_then(|found| found.token_endpoint.as_ref()),
            &defaults.token,
        );
        let (Some(authorization), Some(token)) = (authorization, token) else {
            return Err(LoginError::Misconfigured(
                "no authorization or token endpoint",
            ));
        };
        Ok(Endpoints {
            issuer: document
                .map(|found| found.issuer.clone())
                .or_else(|| provider.issuer.clone()),
            authorization,
            token,
            userinfo: pick(
                &explicit.userinfo,
                document.and_then(|found| found.userinfo_endpoint.as_ref()),
                &defaults.userinfo,
            ),
            jwks: pick(
                &explicit.jwks,
                document.and_then(|found| found.jwks_uri.as_ref()),
                &defaults.jwks,
            ),
            auth_methods: document
                .map(|found| found.token_endpoint_auth_methods_supported.clone())
                .unwrap_or_default(),
        })
    }

    async fn discovery(
        &self,
        provider: &ProviderConfig,
        issuer: &str,
        preset: &Preset,
    ) -> Result<Arc<Discovery>, LoginError> {
        if let Some(document) = self.documents.get(issuer) {
            return Ok(document);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let document: Discovery = self.get_json(&url, None).await.map_err(|error| {
            tracing::warn!(provider = %provider.id, %url, error, "discovery failed");
            LoginError::ProviderUnreachable
        })?;
        // Discovery §4.3: the document must name the issuer it was fetched for. A kind that
        // checks the issuer itself (a multi-tenant template) is exempt.
        let same = document.issuer.trim_end_matches('/') == issuer.trim_end_matches('/');
        if !same && preset.issuer_check.is_none() {
            tracing::warn!(provider = %provider.id, issuer, found = %document.issuer,
                "discovery document names another issuer");
            return Err(LoginError::Misconfigured("discovery names another issuer"));
        }
        let document = Arc::new(document);
        self.documents
            .insert(issuer.to_owned(), Arc::clone(&document));
        Ok(document)
    }

    async fn key_set(&self, url: &str, fresh: bool) -> Result<Arc<CoreJsonWebKeySet>, LoginError> {
        if !fresh && let Some(keys) = self.key_sets.get(url) {
            return Ok(keys);
        }
        let keys: CoreJsonWebKeySet = self.get_json(url, None).await.map_err(|error| {
            tracing::warn!(%url, error, "key set could not be fetched");
            LoginError::ProviderUnreachable
        })?;
        let keys = Arc::new(keys);
        self.key_sets.insert(url.to_owned(), Arc::clone(&keys));
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        bearer: Option<&str>,
    ) -> Result<T, String> {
        let mut request = self.http.get(url).header("accept", "application/json");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|error| crate::node_client::error_chain(&error))?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status()));
        }
        response
            .json()
            .await
            .map_err(|error| crate::node_client::error_chain(&error))
    }

    /// Exchanges `code` at the token endpoint and reads who signed in, verifying the ID token
    /// against the provider's keys, the issuer, our client id, the nonce and the clock.
    pub(crate) async fn finish(
        &self,
        flow: &Flow<'_>,
        code: String,
        state: &LoginState,
        now: UnixTime,
    ) -> Result<ExternalIdentity, LoginError> {
        if flow.preset.identity_source == IdentitySource::GraphApi {
            let request = super::facebook::GraphSignIn {
                provider: flow.provider,
                token_endpoint: &flow.endpoints.token,
                me_endpoint: flow.endpoints.userinfo.as_deref(),
                redirect_uri: flow.redirect_uri,
                code_verifier: &state.verifier,
            };
            return super::facebook::sign_in(&self.http, request, &code).await;
        }
        let exchanged = self.exchange(flow, code, state, now).await?;

        let from_id_token = match exchanged.response.id_token() {
            Some(id_token) => Some(
                self.verify_id_token(flow, &exchanged, id_token, state, now)
                    .await?,
            ),
            None if flow.preset.identity_source == IdentitySource::Userinfo => None,
            None => return Err(LoginError::IdTokenInvalid("no ID token in the answer")),
        };

        let wants_userinfo = match flow.preset.identity_source {
            // The Graph API's flow ended above.
            IdentitySource::IdToken | IdentitySource::GraphApi => false,
            IdentitySource::IdTokenThenUserinfo => from_id_token
                .as_ref()
                .is_some_and(|identity| identity.email.is_none()),
            IdentitySource::Userinfo => true,
        };
        let userinfo_url = flow
            .endpoints
            .userinfo
            .as_deref()
            .filter(|_| wants_userinfo);
        let Some(userinfo_url) = userinfo_url else {
            return from_id_token.ok_or(LoginError::Misconfigured("no userinfo endpoint"));
        };
        let access_token = exchanged.response.access_token().secret();
        let answer: serde_json::Value = self
            .get_json(userinfo_url, Some(access_token))
            .await
            .map_err(|error| {
                tracing::warn!(provider = %flow.provider.id, error, "userinfo failed");
                LoginError::ProviderUnreachable
            })?;
        let from_userinfo = (flow.preset.userinfo_identity)(&answer)
            .ok_or(LoginError::IdTokenInvalid("userinfo names nobody"))?;
        merge(from_id_token, from_userinfo)
    }

    async fn exchange(
        &self,
        flow: &Flow<'_>,
        code: String,
        state: &LoginState,
        now: UnixTime,
    ) -> Result<Exchanged, LoginError> {
        let secret = (flow.preset.client_secret)(flow.provider, now, &self.client_secrets)?;
        let client = flow.client()?;
        let client = client
            .set_token_uri(parse(TokenUrl::new(flow.endpoints.token.clone()))?)
            .set_auth_type(token_auth_type(&flow.endpoints.auth_methods));
        let client = match &secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.expose().to_owned())),
            None => client,
        };
        let http = ProviderHttp(&self.http);
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(state.verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(answer) => {
                    tracing::info!(provider = %flow.provider.id, error = %answer.error(),
                        "provider refused the code");
                    LoginError::CodeRefused
                }
                RequestTokenError::Request(error) => {
                    let error = crate::node_client::error_chain(&error);
                    tracing::warn!(provider = %flow.provider.id, error, "token endpoint failed");
                    LoginError::ProviderUnreachable
                }
                RequestTokenError::Parse(error, _) => {
                    tracing::warn!(provider = %flow.provider.id, %error, "token answer unreadable");
                    LoginError::ProviderUnreachable
                }
                RequestTokenError::Other(error) => {
                    tracing::warn!(provider = %flow.provider.id, %error, "token answer unexpected");
                    LoginError::ProviderUnreachable
                }
            })?;
        Ok(Exchanged { response })
    }

    async fn verify_id_token(
        &self,
        flow: &Flow<'_>,
        exchanged: &Exchanged,
        id_token: &openidconnect::core::CoreIdToken,
        state: &LoginState,
        now: UnixTime,
    ) -> Result<ExternalIdentity, LoginError> {
        let Some(jwks_url) = flow.endpoints.jwks.as_deref() else {
            return Err(LoginError::Misconfigured("no JWKS to verify ID tokens"));
        };
        let nonce = Nonce::new(state.nonce.clone());
        let mut keys = self.key_set(jwks_url, false).await?;
        let mut refetched = false;
        let claims = loop {
            let verifier = flow.verifier(&keys, now)?;
            match id_token.claims(&verifier, &nonce) {
                Ok(claims) => break claims.clone(),
                Err(ClaimsVerificationError::SignatureVerification(
                    SignatureVerificationError::NoMatchingKey,
                )) if !refetched => {
                    refetched = true;
                    keys = self.key_set(jwks_url, true).await?;
                }
                Err(error) => {
                    tracing::info!(provider = %flow.provider.id, %error, "ID token refused");
                    return Err(LoginError::IdTokenInvalid("ID token did not verify"));
                }
            }
        };

        // Core §3.1.3.6: `at_hash`, when present, binds the access token to the ID token.
        if let Some(expected) = claims.access_token_hash() {
            let verifier = flow.verifier(&keys, now)?;
            let matches = id_token
                .signing_alg()
                .ok()
                .zip(id_token.signing_key(&verifier).ok())
                .and_then(|(alg, key)| {
                    let token: &AccessToken = exchanged.response.access_token();
                    AccessTokenHash::from_token(token, alg, key).ok()
                })
                .is_some_and(|actual| actual == *expected);
            if !matches {
                return Err(LoginError::IdTokenInvalid("at_hash does not match"));
            }
        }

        // The signature, audience, nonce and times are verified: the raw claims can be read.
        let raw = raw_claims(&id_token.to_string());
        if let Some(issuer_check) = flow.preset.issuer_check {
            let issuer = flow.endpoints.issuer.as_deref().unwrap_or_default();
            if !raw
                .as_ref()
                .is_some_and(|raw| issuer_check(flow.provider, issuer, raw))
            {
                return Err(LoginError::IdTokenInvalid("issuer not accepted"));
            }
        }
        if let Some(read_identity) = flow.preset.id_token_identity {
            let raw = raw.ok_or(LoginError::IdTokenInvalid("ID token claims unreadable"))?;
            return read_identity(&raw);
        }

        let name = claims
            .name()
            .and_then(|name| name.get(None))
            .map(|name| name.to_string())
            .or_else(|| {
                let given = claims.given_name().and_then(|name| name.get(None));
                let family = claims.family_name().and_then(|name| name.get(None));
                match (given, family) {
                    (Some(given), Some(family)) => Some(format!("{} {}", **given, **family)),
                    (Some(given), None) => Some(given.to_string()),
                    (None, Some(family)) => Some(family.to_string()),
                    (None, None) => None,
                }
            })
            .or_else(|| claims.preferred_username().map(|name| name.to_string()));
        Ok(ExternalIdentity {
            subject: claims.subject().to_string(),
            email: claims.email().map(|email| email.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            name,
        })
    }
}

/// One provider's flow on one host.
pub(crate) struct Flow<'a> {
    pub provider: &'a ProviderConfig,
    pub preset: &'a Preset,
    pub endpoints: &'a Endpoints,
    /// This host's callback URL for the provider: the `redirect_uri`.
    pub redirect_uri: &'a str,
}

impl Flow<'_> {
    /// The URL the browser is sent to (Core §3.1.2.1), with `state`, `nonce` and the PKCE
    /// challenge (RFC 7636 §4.3, S256) of `state`.
    pub(crate) fn authorization_url(&self, state: &LoginState) -> Result<Url, LoginError> {
        let client = self
            .client()?
            .set_auth_uri(parse(AuthUrl::new(self.endpoints.authorization.clone()))?);
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            state.verifier.clone(),
        ));
        let (csrf, nonce) = (state.state.clone(), state.nonce.clone());
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(csrf),
            move || Nonce::new(nonce),
        );
        let configured: Vec<&str> = self.provider.scopes.iter().map(String::as_str).collect();
        let scopes = if configured.is_empty() {
            self.preset.default_scopes
        } else {
            &configured[..]
        };
        // The library always asks for `openid`; adding it again would repeat it.
        for scope in scopes.iter().filter(|scope| **scope != "openid") {
            request = request.add_scope(Scope::new((*scope).to_owned()));
        }
        for (name, value) in (self.preset.authorize_params)(self.provider) {
            request = request.add_extra_param(name, value);
        }
        let (url, _, _) = request.set_pkce_challenge(challenge).url();
        Ok(url)
    }

    fn client(&self) -> Result<CoreClient, LoginError> {
        let issuer = self
            .endpoints
            .issuer
            .clone()
            .unwrap_or_else(|| self.endpoints.authorization.clone());
        let client = CoreClient::new(
            ClientId::new(self.provider.client_id.clone()),
            parse(IssuerUrl::new(issuer))?,
            CoreJsonWebKeySet::new(vec![]),
        )
        .set_redirect_uri(parse(RedirectUrl::new(self.redirect_uri.to_owned()))?);
        Ok(client)
    }

    fn verifier<'k>(
        &self,
        keys: &CoreJsonWebKeySet,
        now: UnixTime,
    ) -> Result<CoreIdTokenVerifier<'k>, LoginError> {
        let issuer = self.endpoints.issuer.clone().unwrap_or_default();
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new(self.provider.client_id.clone()),
            parse(IssuerUrl::new(issuer))?,
            keys.clone(),
        )
        .set_allowed_algs(ASYMMETRIC_ALGORITHMS)
        .require_issuer_match(self.preset.issuer_check.is_none())
        .set_time_fn(move || chrono::DateTime::from_timestamp(now, 0).unwrap_or_default());
        Ok(verifier)
    }
}

/// Signature algorithms accepted on ID tokens: public-key ones only, so a client secret can
/// never be used to forge one (RFC 8725 §3.1).
const ASYMMETRIC_ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// RFC 6749 §2.3.1: HTTP Basic unless the provider lists only `client_secret_post`.
fn token_auth_type(supported: &[String]) -> AuthType {
    let basic = supported.is_empty()
        || supported
            .iter()
            .any(|method| method == "client_secret_basic");
    let post = supported
        .iter()
        .any(|method| method == "client_secret_post");
    if !basic && post {
        AuthType::RequestBody
    } else {
        AuthType::BasicAuth
    }
}

/// The identity from the ID token completed by userinfo, which must name the same subject
/// (Core §5.3.2); userinfo alone when there was no ID token.
fn merge(
    from_id_token: Option<ExternalIdentity>,
    from_userinfo: ExternalIdentity,
) -> Result<ExternalIdentity, LoginError> {
    let Some(mut identity) = from_id_token else {
        return Ok(from_userinfo);
    };
    if identity.subject != from_userinfo.subject {
        return Err(LoginError::IdTokenInvalid("userinfo names another subject"));
    }
    if identity.email.is_none() {
        identity.email = from_userinfo.email;
        identity.email_verified = from_userinfo.email_verified;
    }
    identity.name = identity.name.or(from_userinfo.name);
    Ok(identity)
}

/// The payload of a JWT whose signature has already been verified, as JSON.
fn raw_claims(token: &str) -> Option<serde_json::Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// Reads an OpenID Connect userinfo answer (Core §5.3.2) or anything shaped like it.
pub(crate) fn standard_userinfo(answer: &serde_json::Value) -> Option<ExternalIdentity> {
    let text = |name: &str| {
        answer
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
    };
    let email_verified = match answer.get("email_verified") {
        Some(serde_json::Value::Bool(verified)) => *verified,
        Some(serde_json::Value::String(verified)) => verified == "true",
        _ => false,
    };
    Some(ExternalIdentity {
        subject: text("sub").filter(|subject| !subject.is_empty())?,
        email: text("email"),
        email_verified,
        name: text("name"),
    })
}

fn parse<T>(result: Result<T, openidconnect::url::ParseError>) -> Result<T, LoginError> {
    result.map_err(|_| LoginError::Misconfigured("an endpoint is not a URL"))
}

/// Why a call of the `openidconnect` crate could not be carried.
#[derive(Debug, thiserror::Error)]
#[error("provider request failed")]
pub(crate) struct ProviderHttpError(#[source] reqwest::Error);

/// Carries a request of the `openidconnect` crate over our reqwest client.
/// Our HTTP client as the one openidconnect sends token requests with. A named type rather
/// than a closure: a closure's future borrows with a lifetime the compiler cannot prove
/// `Send` for every caller, which the server's handlers need.
struct ProviderHttp<'a>(&'a reqwest::Client);

impl<'c> openidconnect::AsyncHttpClient<'c> for ProviderHttp<'_> {
    type Error = ProviderHttpError;
    type Future = Pin<
        Box<
            dyn Future<Output = Result<openidconnect::HttpResponse, ProviderHttpError>> + Send + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(send(self.0, request))
    }
}

async fn send(
    http: &reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, ProviderHttpError> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(ProviderHttpError)?;
    let mut answer = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let body = response.bytes().await.map_err(ProviderHttpError)?.to_vec();
    // A response rebuilt from the parts of a valid one is valid.
    Ok(answer.body(body).unwrap_or_default())
}
