//! The hosted login: the page (`login`), the start of a sign-in at a provider
//! (`login/start/<provider>`) and its end (`login/callback/<provider>`), on the app host
//! (`/login`) and on the regional host (`/<api>/login`).
//!
//! The life of a sign-in: the page lists the enabled providers; `start` checks where the
//! browser may return to, seals the flow's secrets (state, nonce, PKCE verifier) into the
//! login cookie and sends the browser to the provider; the callback opens the cookie, checks
//! the answer against it, exchanges the code, verifies the ID token, asks the control plane
//! which user this is, and sets the session cookies. Nothing is written on the data plane.
//!
//! Provider kinds differ in small ways, each described by a [`Preset`]. Passkeys are no
//! redirect to a provider: their ceremonies run on the login page itself ([`passkey`]).

mod apple;
pub(crate) mod authorization;
mod facebook;
mod microsoft;
mod oidc;
mod page;
mod passkey;
mod redirect;
pub(crate) mod state;
mod vipps;

use axum::body::Body;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use restapi_shared::clock::UnixTime;
use restapi_shared::ids::{self, new_id};
use restapi_shared::node::{ResolveOutcome, ResolveUserRequest, ResolvedUser};
use restapi_shared::push::{ProviderConfig, ProviderEndpoints, ProviderKind};
use restapi_shared::secret::{SecretDigest, SecretString};
use serde::Deserialize;

pub(crate) use apple::ClientSecrets;
use authorization::{AuthorizationRequest, CodeClaims, Refusal};
use oidc::Flow;
pub(crate) use oidc::ProviderDirectory;
use page::{Look, ProviderLink};
use passkey::PasskeySection;
use state::{LOGIN_STATE_TTL, LoginState, StateError};

use super::EndpointCall;
use super::body::read_limited;
use super::session::{self, SessionCookie};
use crate::cookies::{self, CookieScope};
use crate::grants::IssueContext;
use crate::metrics::SignInOutcome;
use crate::routing::{HostKind, LOGIN_SEGMENT};

/// What a URL component leaves as it is: RFC 3986 §2.3's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Who signed in at a provider, as the provider says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExternalIdentity {
    /// The provider's stable identifier of the person (`sub`).
    pub subject: String,
    /// The email address, if the provider gave one.
    pub email: Option<String>,
    /// Whether the provider vouches that the person controls `email`.
    pub email_verified: bool,
    /// The display name, if any.
    pub name: Option<String>,
}

/// Where a kind of provider tells who signed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdentitySource {
    /// The ID token alone.
    IdToken,
    /// The ID token, completed from userinfo when it carries no email address.
    IdTokenThenUserinfo,
    /// The userinfo endpoint (or an API like it); an ID token is verified when one comes.
    Userinfo,
    /// No OpenID Connect: the code is exchanged and the Graph API's `/me` names the person
    /// (Facebook).
    GraphApi,
}

/// Reads the person from verified ID token claims.
type ClaimsReader = fn(&serde_json::Value) -> Result<ExternalIdentity, LoginError>;

/// What a kind of provider changes in the generic OpenID Connect flow.
#[derive(Clone, Copy)]
pub(crate) struct Preset {
    /// Extra parameters of the authorization request, such as `response_mode=form_post`.
    pub authorize_params: fn(&ProviderConfig) -> Vec<(&'static str, String)>,
    /// Scopes asked for when the provider's settings name none.
    pub default_scopes: &'static [&'static str],
    /// The client secret to send to the token endpoint at a moment (Apple mints one, kept in
    /// the cache given).
    pub client_secret:
        fn(&ProviderConfig, UnixTime, &ClientSecrets) -> Result<Option<SecretString>, LoginError>,
    /// Checks the ID token's issuer from its verified claims against the provider's issuer,
    /// instead of requiring the two to be equal (Microsoft's multi-tenant `{tenantid}`
    /// template). `None`: equal.
    pub issuer_check: Option<fn(&ProviderConfig, &str, &serde_json::Value) -> bool>,
    /// Reads the person from the verified ID token's claims, where the kind's claims differ
    /// from the standard ones. `None`: the standard claims.
    pub id_token_identity: Option<ClaimsReader>,
    /// Reads a name from the callback's `user` field, which Apple sends on the first
    /// authorisation only.
    pub callback_name: Option<fn(&str) -> Option<String>>,
    /// Where the identity is read.
    pub identity_source: IdentitySource,
    /// Reads a userinfo answer.
    pub userinfo_identity: fn(&serde_json::Value) -> Option<ExternalIdentity>,
    /// Endpoints used when neither the configuration nor discovery names them.
    pub default_endpoints: fn(&ProviderConfig) -> ProviderEndpoints,
}

impl Preset {
    /// Whether the kind signs in with verified ID tokens, so that a JWKS is needed.
    fn verifies_id_tokens(&self) -> bool {
        matches!(
            self.identity_source,
            IdentitySource::IdToken | IdentitySource::IdTokenThenUserinfo
        )
    }
}

/// Plain OpenID Connect: the ID token names the person, the configured secret authenticates.
pub(crate) const GENERIC: Preset = Preset {
    authorize_params: |_| Vec::new(),
    default_scopes: &oidc::DEFAULT_SCOPES,
    client_secret: |provider, _, _| Ok(provider.client_secret.clone()),
    issuer_check: None,
    id_token_identity: None,
    callback_name: None,
    identity_source: IdentitySource::IdTokenThenUserinfo,
    userinfo_identity: oidc::standard_userinfo,
    default_endpoints: |_| ProviderEndpoints::default(),
};

/// The preset of a kind of provider.
pub(crate) fn preset(kind: ProviderKind) -> Preset {
    match kind {
        // Passkeys never reach `start` or the callback ([`enabled_provider`]); the generic
        // preset only keeps the match whole.
        ProviderKind::Google | ProviderKind::Oidc | ProviderKind::Passkey => GENERIC,
        ProviderKind::Microsoft => microsoft::PRESET,
        ProviderKind::Apple => apple::PRESET,
        ProviderKind::Facebook => facebook::PRESET,
        ProviderKind::Vipps => vipps::PRESET,
    }
}

/// The `authority` of a provider's identities: its kind, or for generic OpenID Connect the
/// provider's id, so that two OpenID providers of an API never share subjects.
pub(crate) fn authority(provider: &ProviderConfig) -> String {
    match provider.kind {
        ProviderKind::Oidc => provider.id.clone(),
        kind => kind.as_str().to_owned(),
    }
}

/// Why a step of the login did not go through; each maps to one page.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LoginError {
    /// No enabled provider with this id.
    #[error("unknown provider")]
    UnknownProvider,
    /// `?redirect=` names a place this API may not send browsers to.
    #[error("redirect refused")]
    RedirectRefused,
    /// The callback came without the login cookie.
    #[error("login state missing")]
    StateMissing,
    /// The login cookie was tampered with, or is another API's.
    #[error("login state invalid")]
    StateInvalid,
    /// The sign-in took longer than ten minutes.
    #[error("login state expired")]
    StateExpired,
    /// The callback is for another provider, or its `state` is not the one sent.
    #[error("login state mismatch")]
    StateMismatch,
    /// The provider answered with an error (RFC 6749 §4.1.2.1).
    #[error("provider answered {0}")]
    ProviderError(String),
    /// The callback carries no code.
    #[error("no code")]
    MissingCode,
    /// The token endpoint refused the code (used, expired, or not ours).
    #[error("code refused")]
    CodeRefused,
    /// The ID token or userinfo answer did not verify.
    #[error("identity refused: {0}")]
    IdTokenInvalid(&'static str),
    /// The provider could not be reached or answered nonsense.
    #[error("provider unreachable")]
    ProviderUnreachable,
    /// The provider's configuration cannot work.
    #[error("provider misconfigured: {0}")]
    Misconfigured(&'static str),
    /// The person has no user in the API and the provider does not create one.
    #[error("not registered")]
    NotRegistered,
    /// The person's user is disabled.
    #[error("user disabled")]
    Disabled,
    /// The control plane could not resolve the user, or no token could be signed.
    #[error("temporarily unavailable")]
    Unavailable,
}

impl LoginError {
    fn page(&self, look: &Look<'_>, back: Option<&str>) -> Response {
        let (status, message) = match self {
            Self::UnknownProvider => (
                StatusCode::NOT_FOUND,
                "This sign-in option does not exist.".to_owned(),
            ),
            Self::RedirectRefused => (
                StatusCode::BAD_REQUEST,
                "The page asked to return to an address this application does not allow."
                    .to_owned(),
            ),
            Self::StateMissing | Self::StateInvalid | Self::StateMismatch => (
                StatusCode::BAD_REQUEST,
                "This sign-in was not started here, or it was already used. Please start again."
                    .to_owned(),
            ),
            Self::StateExpired => (
                StatusCode::BAD_REQUEST,
                "The sign-in took too long. Please start again.".to_owned(),
            ),
            Self::ProviderError(code) => (
                StatusCode::BAD_REQUEST,
                match code.as_str() {
                    "access_denied" => "access_denied: the sign-in was cancelled.".to_owned(),
                    other => format!("{other}: the provider could not sign you in."),
                },
            ),
            Self::MissingCode | Self::CodeRefused | Self::IdTokenInvalid(_) => (
                StatusCode::BAD_REQUEST,
                "The provider's answer could not be verified. Please start again.".to_owned(),
            ),
            Self::ProviderUnreachable => (
                StatusCode::BAD_GATEWAY,
                "The sign-in provider could not be reached. Please try again in a moment."
                    .to_owned(),
            ),
            Self::Misconfigured(_) => (
                StatusCode::BAD_GATEWAY,
                "This sign-in option is not set up correctly. Contact the application's owner."
                    .to_owned(),
            ),
            Self::NotRegistered => (
                StatusCode::FORBIDDEN,
                format!("This account is not registered for {}.", look.title),
            ),
            Self::Disabled => (
                StatusCode::FORBIDDEN,
                "This account is disabled.".to_owned(),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Signing in is temporarily unavailable. Please try again in a moment.".to_owned(),
            ),
        };
        page::error_page(status, look, &message, back)
    }

    fn outcome(&self) -> SignInOutcome {
        match self {
            Self::NotRegistered => SignInOutcome::NotRegistered,
            Self::Disabled => SignInOutcome::Disabled,
            _ => SignInOutcome::Failed,
        }
    }
}

/// The login area of one API on one host.
struct LoginHost {
    scope: CookieScope,
    /// `<scheme>://<host as sent>`.
    own_origin: String,
    /// `/login` or `/<api>/login`.
    login_path: String,
    /// Where the browser goes without `?redirect=`: `/`, or `/<api>/` on the regional host.
    default_redirect: String,
}

impl LoginHost {
    fn of(call: &EndpointCall<'_>) -> Self {
        let base = call.target.base;
        let (login_path, default_redirect) = match call.target.host_kind {
            HostKind::App => (format!("/{LOGIN_SEGMENT}"), "/".to_owned()),
            HostKind::Regional => (format!("{base}/{LOGIN_SEGMENT}"), format!("{base}/")),
        };
        Self {
            scope: call.cookie_scope(),
            own_origin: call.own_origin().to_owned(),
            login_path,
            default_redirect,
        }
    }

    /// The page where a signed-in user manages their passkeys.
    fn passkeys_path(&self) -> String {
        format!("{}/passkeys", self.login_path)
    }

    fn callback_url(&self, provider_id: &str) -> String {
        format!(
            "{}{}/callback/{provider_id}",
            self.own_origin, self.login_path
        )
    }
}

/// Parameters of the login page and of `start`.
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    redirect: Option<String>,
}

/// Parameters of the callback (RFC 6749 §4.1.2), in the query or a `form_post` body.
#[derive(Default, Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// Apple's JSON with the person's name, on the first authorisation only.
    user: Option<String>,
}

/// Everything under `login`: the page, `start/<provider>` and `callback/<provider>`.
pub(super) async fn login(call: EndpointCall<'_>, body: Body) -> Response {
    let host = LoginHost::of(&call);
    let api = call.api;
    let look = Look::new(&api.name, &api.web.branding);
    let rest = call.target.endpoint_path;
    let method = &call.parts.method;
    let is_get = *method == Method::GET || *method == Method::HEAD;

    if rest.is_empty() || rest == "/" {
        if !is_get {
            return method_not_allowed(&look, "GET, HEAD");
        }
        return login_page(&call, &host, &look);
    }
    if passkey::is_json_endpoint(rest) {
        return passkey::json_endpoint(&call, &host, rest, body).await;
    }
    if rest == "/passkeys" {
        if !is_get {
            return method_not_allowed(&look, "GET, HEAD");
        }
        return passkey::manage(&call, &host, &look).await;
    }
    if rest == "/passkeys/remove" {
        if *method != Method::POST {
            return method_not_allowed(&look, "POST");
        }
        return passkey::remove(&call, &host, &look, body).await;
    }
    if let Some(provider_id) = rest.strip_prefix("/start/") {
        if !is_get {
            return method_not_allowed(&look, "GET, HEAD");
        }
        let authorization = match authorization_request(&call, &look) {
            Ok(authorization) => authorization,
            Err(refusal) => return *refusal,
        };
        return start(&call, &host, provider_id, authorization)
            .await
            .unwrap_or_else(|error| error.page(&look, Some(&host.login_path)));
    }
    if let Some(provider_id) = rest.strip_prefix("/callback/") {
        let params = if is_get {
            let query = call.parts.uri.query().unwrap_or_default();
            serde_urlencoded::from_str(query).unwrap_or_default()
        } else if *method == Method::POST {
            // Sign in with Apple and other `form_post` providers post the answer.
            match read_limited(&call.parts.headers, body).await {
                Ok(bytes) => serde_urlencoded::from_bytes(&bytes).unwrap_or_default(),
                Err(_) => CallbackParams::default(),
            }
        } else {
            return method_not_allowed(&look, "GET, POST");
        };
        let result = callback(&call, &host, provider_id, params).await;
        let outcome = match &result {
            Ok(_) => SignInOutcome::SignedIn,
            Err(error) => error.outcome(),
        };
        call.state.metrics.sign_in(outcome);
        let mut response = result.unwrap_or_else(|error| {
            tracing::info!(api = %api.name, provider = provider_id, %error, "sign-in failed");
            app_refusal(&call, &host, &error)
                .unwrap_or_else(|| error.page(&look, Some(&host.login_path)))
        });
        // The login cookie serves one callback, whatever its outcome.
        append_cookie(
            &mut response,
            &session::clear_cookie(host.scope.login_name, &host.scope.path, host.scope.secure),
        );
        return response;
    }
    LoginError::UnknownProvider.page(&look, Some(&host.login_path))
}

fn login_page(call: &EndpointCall<'_>, host: &LoginHost, look: &Look<'_>) -> Response {
    let query = call.parts.uri.query().unwrap_or_default();
    // An app's authorization request goes on to the provider as it came; a visit carries
    // where the browser returns to.
    let start_query = match authorization_request(call, look) {
        Ok(Some(_)) => query.to_owned(),
        Ok(None) => {
            let page_query: PageQuery = serde_urlencoded::from_str(query).unwrap_or_default();
            let Some(redirect) = checked_redirect(call, host, page_query.redirect.as_deref())
            else {
                return LoginError::RedirectRefused.page(look, None);
            };
            format!("redirect={}", utf8_percent_encode(&redirect, UNRESERVED))
        }
        Err(refusal) => return *refusal,
    };
    let links: Vec<ProviderLink<'_>> = call
        .api
        .providers
        .iter()
        .filter(|provider| provider.enabled && provider.kind != ProviderKind::Passkey)
        .map(|provider| ProviderLink {
            display_name: &provider.display_name,
            href: format!(
                "{}/start/{}?{start_query}",
                host.login_path,
                utf8_percent_encode(&provider.id, UNRESERVED)
            ),
        })
        .collect();
    // The passkey endpoints get the same query: an app's request is finished with a code.
    let section = passkey::provider(call).map(|provider| PasskeySection {
        login_path: &host.login_path,
        query: &start_query,
        sign_up: provider.auto_create,
    });
    page::login_page(look, &links, section.as_ref())
}

/// `GET login/start/<provider>`: seal the flow's state into the login cookie and send the
/// browser to the provider.
async fn start(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    provider_id: &str,
    authorization: Option<AuthorizationRequest>,
) -> Result<Response, LoginError> {
    let provider = enabled_provider(call, provider_id)?;
    let redirect = match authorization {
        // The app's redirect URI is in the request, already checked.
        Some(_) => String::new(),
        None => {
            let query: PageQuery =
                serde_urlencoded::from_str(call.parts.uri.query().unwrap_or_default())
                    .unwrap_or_default();
            checked_redirect(call, host, query.redirect.as_deref())
                .ok_or(LoginError::RedirectRefused)?
        }
    };

    let preset = preset(provider.kind);
    let endpoints = call.state.providers.endpoints(provider, &preset).await?;
    let redirect_uri = host.callback_url(&provider.id);
    let flow = Flow {
        provider,
        preset: &preset,
        endpoints: &endpoints,
        redirect_uri: &redirect_uri,
    };
    let login_state = LoginState {
        api: call.api.id.clone(),
        provider: provider.id.clone(),
        state: state::random_token(),
        nonce: state::random_token(),
        verifier: state::random_token(),
        redirect,
        created_at: call.now,
        authorization,
    };
    let authorization_url = flow.authorization_url(&login_state)?;

    let sealed = state::seal(&call.api.login_key, &call.api.id, &login_state);
    // Over HTTPS the cookie must survive a cross-site POST back (`form_post`), which only
    // `SameSite=None` allows; the sealed state and the `state` check protect it instead.
    let same_site = if host.scope.secure { "None" } else { "Lax" };
    let cookie = SessionCookie {
        name: host.scope.login_name,
        value: &sealed,
        path: &host.scope.path,
        max_age: LOGIN_STATE_TTL,
        secure: host.scope.secure,
        same_site,
    };
    let mut response = StatusCode::FOUND.into_response();
    let location = HeaderValue::from_str(authorization_url.as_str())
        .map_err(|_| LoginError::Misconfigured("authorization URL is not a header value"))?;
    response.headers_mut().insert(LOCATION, location);
    append_cookie(&mut response, &cookie.header());
    page::insert_security_headers(response.headers_mut());
    Ok(response)
}

/// `GET/POST login/callback/<provider>`: finish the sign-in the login cookie describes.
async fn callback(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    provider_id: &str,
    params: CallbackParams,
) -> Result<Response, LoginError> {
    let provider = enabled_provider(call, provider_id)?;
    let login_state = opened_state(call, host, provider_id, &params)?;
    let user_field = params.user;
    if let Some(error) = params.error {
        // Only a short code reaches the page: the provider's own text is not shown.
        let code: String = error
            .chars()
            .filter(|character| character.is_ascii_alphanumeric() || *character == '_')
            .take(64)
            .collect();
        return Err(LoginError::ProviderError(code));
    }
    let code = params
        .code
        .filter(|code| !code.is_empty())
        .ok_or(LoginError::MissingCode)?;

    let preset = preset(provider.kind);
    let directory = &call.state.providers;
    let endpoints = directory.endpoints(provider, &preset).await?;
    let redirect_uri = host.callback_url(&provider.id);
    let flow = Flow {
        provider,
        preset: &preset,
        endpoints: &endpoints,
        redirect_uri: &redirect_uri,
    };
    let mut identity = directory
        .finish(&flow, code, &login_state, call.now)
        .await?;
    if identity.name.is_none()
        && let (Some(read_name), Some(user_field)) = (preset.callback_name, &user_field)
    {
        identity.name = read_name(user_field);
    }

    let user = resolve(call, provider, identity).await?;
    if let Some(request) = &login_state.authorization {
        return Ok(app_code_redirect(call, request, &user));
    }
    let context = IssueContext {
        api: call.api,
        issuer: &call.issuer,
        now: call.now,
    };
    let session = session::begin(context, &user).map_err(|_| LoginError::Unavailable)?;
    tracing::info!(api = %call.api.name, provider = %provider.id, user = %user.id, "signed in");

    let mut response = StatusCode::SEE_OTHER.into_response();
    let location =
        HeaderValue::from_str(&login_state.redirect).map_err(|_| LoginError::RedirectRefused)?;
    response.headers_mut().insert(LOCATION, location);
    for cookie in session.cookies(&host.scope, call.now) {
        append_cookie(&mut response, &cookie);
    }
    append_cookie(&mut response, &session.logout_cookie(&host.scope, call.now));
    page::insert_security_headers(response.headers_mut());
    Ok(response)
}

/// The end of a sign-in for an app: a code for the app at its redirect URI.
fn app_code_redirect(
    call: &EndpointCall<'_>,
    request: &AuthorizationRequest,
    user: &ResolvedUser,
) -> Response {
    let claims = CodeClaims {
        jti: new_id(ids::TOKEN),
        family: new_id(ids::REFRESH_FAMILY),
        client_id: request.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        sub: user.id.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        auth_time: call.now,
    };
    let code = authorization::seal_code(call.api, &claims);
    tracing::info!(api = %call.api.name, client = %request.client_id, user = %user.id,
        "signed in for an app");
    let mut response = authorization::code_redirect(request, &code, &call.issuer);
    page::insert_security_headers(response.headers_mut());
    response
}

/// The app's authorization request in the query, if this visit is one: checked, or the
/// answer that refuses it (a page when the client cannot be trusted, else a redirect).
fn authorization_request(
    call: &EndpointCall<'_>,
    look: &Look<'_>,
) -> Result<Option<AuthorizationRequest>, Box<Response>> {
    let query = call.parts.uri.query().unwrap_or_default();
    if !authorization::is_authorization_request(query) {
        return Ok(None);
    }
    authorization::check(call.api, query)
        .map(Some)
        .map_err(|refusal| {
            Box::new(match refusal {
                Refusal::Page(message) => {
                    page::error_page(StatusCode::BAD_REQUEST, look, message, None)
                }
                Refusal::Redirect {
                    request,
                    error,
                    description,
                } => authorization::error_redirect(&request, error, description, &call.issuer),
            })
        })
}

/// A sign-in for an app that the person declined or may not make, answered at the app's
/// redirect URI as `access_denied` (RFC 6749 §4.1.2.1) so that the app does not wait.
fn app_refusal(call: &EndpointCall<'_>, host: &LoginHost, error: &LoginError) -> Option<Response> {
    let description = match error {
        LoginError::ProviderError(_) => "the sign-in at the identity provider did not complete",
        LoginError::NotRegistered => "the account is not registered for this API",
        LoginError::Disabled => "the account is disabled",
        _ => return None,
    };
    let cookie = cookies::read(&call.parts.headers, host.scope.login_name)?;
    let login_state = state::open(&call.api.login_key, &call.api.id, cookie, call.now).ok()?;
    let request = login_state.authorization?;
    let issuer = &call.issuer;
    Some(authorization::error_redirect(
        &request,
        "access_denied",
        description,
        issuer,
    ))
}

fn enabled_provider<'a>(
    call: &EndpointCall<'a>,
    provider_id: &str,
) -> Result<&'a ProviderConfig, LoginError> {
    call.api
        .provider(provider_id)
        .filter(|provider| provider.enabled && provider.kind != ProviderKind::Passkey)
        .ok_or(LoginError::UnknownProvider)
}

/// The login cookie, opened and matched against the callback: same API (by its key and
/// associated data), same provider, same `state` (compared in constant time), and fresh.
fn opened_state(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    provider_id: &str,
    params: &CallbackParams,
) -> Result<LoginState, LoginError> {
    let cookie = cookies::read(&call.parts.headers, host.scope.login_name)
        .ok_or(LoginError::StateMissing)?;
    let login_state =
        state::open(&call.api.login_key, &call.api.id, cookie, call.now).map_err(|error| {
            match error {
                StateError::Invalid => LoginError::StateInvalid,
                StateError::Expired => LoginError::StateExpired,
            }
        })?;
    let returned_state = params.state.as_deref().unwrap_or_default();
    let same_state = SecretDigest::of(&login_state.state).matches(returned_state);
    if login_state.provider != provider_id || !same_state {
        return Err(LoginError::StateMismatch);
    }
    Ok(login_state)
}

/// Asks the control plane which user `identity` is.
async fn resolve(
    call: &EndpointCall<'_>,
    provider: &ProviderConfig,
    identity: ExternalIdentity,
) -> Result<restapi_shared::node::ResolvedUser, LoginError> {
    let Some(control_plane) = &call.state.control_plane else {
        tracing::warn!(api = %call.api.name, "sign-in impossible: no control plane configured");
        return Err(LoginError::Unavailable);
    };
    let request = ResolveUserRequest {
        api_id: call.api.id.clone(),
        authority: authority(provider),
        subject: identity.subject,
        email: identity.email,
        email_verified: identity.email_verified,
        name: identity.name,
        auto_create: provider.auto_create,
    };
    let answer = control_plane
        .resolve_user(&request)
        .await
        .map_err(|error| {
            let error = crate::node_client::error_chain(&error);
            tracing::warn!(api = %call.api.name, error, "user could not be resolved");
            LoginError::Unavailable
        })?;
    match (answer.outcome, answer.user) {
        (ResolveOutcome::SignedIn, Some(user)) => Ok(user),
        (ResolveOutcome::SignedIn, None) => Err(LoginError::Unavailable),
        (ResolveOutcome::NotRegistered, _) => Err(LoginError::NotRegistered),
        (ResolveOutcome::Disabled, _) => Err(LoginError::Disabled),
    }
}

fn checked_redirect(
    call: &EndpointCall<'_>,
    host: &LoginHost,
    requested: Option<&str>,
) -> Option<String> {
    redirect::checked_redirect(
        requested,
        &host.own_origin,
        &call.api.web.redirect_origins,
        &host.default_redirect,
    )
}

fn method_not_allowed(look: &Look<'_>, allowed: &'static str) -> Response {
    let mut response = page::error_page(
        StatusCode::METHOD_NOT_ALLOWED,
        look,
        "This address cannot be used that way.",
        None,
    );
    response
        .headers_mut()
        .insert(axum::http::header::ALLOW, HeaderValue::from_static(allowed));
    response
}

fn append_cookie(response: &mut Response, cookie: &HeaderValue) {
    response.headers_mut().append(SET_COOKIE, cookie.clone());
}
