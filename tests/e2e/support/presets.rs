//! Local stand-ins of the identity providers that have presets: Microsoft, Apple, Facebook
//! and Vipps. Each runs on its own port 0 listener and speaks its provider's protocol as the
//! provider documents it, so the data plane cannot tell it from the real one: discovery
//! documents at the provider's paths, the authorization endpoint (Apple's answering with an
//! auto-submitting `form_post` page), the token endpoint with the provider's client
//! authentication (Apple's ES256 client secret JWT, checked against the registered key), RS256
//! ID tokens with the provider's claims, Vipps' userinfo and Facebook's Graph `/me` with its
//! `appsecret_proof`.
//!
//! There is no sign-in page: the authorization endpoint signs in whoever the test named with
//! [`StandIn::sign_in_as`], as a real provider would after its own login screen.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use restapi_shared::Clock;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

/// The stand-ins' RS256 signing key, a fixture made for these tests (2048-bit RSA, PKCS#8).
const SIGNING_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDMWkdGqep1R88m\n\
LosTdnTradU23buHlgH93PM0K2SCCGLZzioWlyQpWm4pjs6qgROPQReTsr5Yc/jW\n\
BtbqTQyMZ5U4B2TRpoLgMlJPjfsMT1WLnqNYx8dbJqLoduY+FsyU9m7UijGqMhBk\n\
YcfxYB9JRggnRChvS8q21PljUxJoFE3XQ+SjkOTCat6ZQ0MkwV/O2jvmaCJnSRLu\n\
qwE/gp6rnzBW7ksLIv0OX5ShMRbTj+OC296VUjubTiUjSXuj1y/YwgOAsUwfqgr6\n\
VPAxN97Ia/fxvv2GphPdzpXCdqE0XI4lIXV1d6wyuqL1geFjhXEKg8Sid79h6vPO\n\
6Q1eDIG3AgMBAAECggEAA5ACNKqkPIz+dMuFHgf7i0GUEv5dKqAYJII5op4yR9hW\n\
0fkla72XFglIRF7S7bayEQbxDJ2Bo1X7xOaqq9RwUwp9V84YDPRgtMQqS0gXFwwu\n\
o3ZvJ9FnOEWiBMGoLN02gdUq8iHm0MyfHKGnMTZlWc4xFDJbLnwB0i3egvRwUUfe\n\
r7G04w/5dicqc9JrwPu6o9IxjwYtH3PrU78q0Utf5HovyINuopgKrkm01Ik3idjw\n\
XjzyJk+kNL7RtlmNZUOWpVo9JZ1v2IVURJNwrFOLevDdwGko9Mbt/QDC3tpiX+5d\n\
rZON3rvUmARJ/t4Sx66M9bc0FKNUL9Hll4ib1yusWQKBgQDvQ7jLzt8PortEkW+y\n\
DejdpvWe1XM/CkPd1Eu0F/DpIGqcJU9yVuWO9EN1QA+HWtXL/e5DehB3shn6dEyk\n\
UCNYPL3U6WQSkicak7UuzSNmHUhbnRVOzsH37w+7v8D7YZ4+d1OpdR8AM+y4E7TH\n\
n/lOWuH6FAgxB1yy867lPX4J/QKBgQDapWxYMnL0mmLz+sNTjSlSBMCHU2dBrpTU\n\
S9gNiK9krb8/vCwyzfOsIFF6HUAEQl03bMauVwBJTZ9AtfWyMdGhjxQQaC5fC5FW\n\
VwFA31d9KIm/Je17PXWnoDKHmSkN6+3Ihu9p0Uu1mbEYfgX21R8Cto1XGivlRLec\n\
99dbKuBewwKBgA/whQke2QFjp/Ijdjt4bcEGdGqGcc0LVAYdNIXk6mm9fRy155sI\n\
avahEzVmdSJhTMjwO8VHBn3S4aQrx0dTB2fDdCoQ+le6YNyGZpWdmPQek0l3J4o+\n\
f/GSfYvWdHbKxA4JSQuK/+u1idmhhnOeFq+/ojpUx07s3KIXVdlzxUfJAoGBALVR\n\
MYQCcio+TYkejxSen4GQx0hx9dMWP/2917GBhFHtdAgauFx5RnWbZ3XpA8mEb2Ej\n\
J7A0HdysLkCvpMzdW4aq7GyeuLXBFgmPpU5y6E62a2TEwyfMU+Fqi/y/Gricylfc\n\
7nXGRw6WIbK576A+JLVPRe7RmU1LqyjUrxa/e8mZAoGAZC+hDuOC/wisXlq6+T1K\n\
V9GDM4hPQY/crg/ccMoNXvUrB2tROx9jrWV27u9xIEiLvHczlIDU7n700vS+xMRr\n\
MG05Y++bD8dc5S3JS+A6RhCmxZ92TJNDXb0XEEHZjVb2i2QK3PJAj8ULaTE0jQol\n\
XA8RsUCy/2Foz0PIt5T2iSY=\n\
-----END PRIVATE KEY-----";
/// The `kid` of the signing key in every stand-in's JWKS.
const SIGNING_KEY_ID: &str = "standin-rs256";
/// The tenant of personal Microsoft accounts.
pub const MICROSOFT_CONSUMERS_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// The path below which Vipps serves its OpenID Connect endpoints.
const VIPPS_PREFIX: &str = "/access-management-1.0/access";
/// The Graph API version of the Facebook stand-in's paths.
const GRAPH_VERSION: &str = "v21.0";
/// Apple refuses client secrets that live longer than six months (15777000 seconds).
const APPLE_SECRET_MAX_LIFETIME: i64 = 15_777_000;

/// Which provider a stand-in plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Microsoft,
    Apple,
    Facebook,
    Vipps,
}

/// A person the stand-in signs in at its authorization endpoint.
#[derive(Clone, Debug, Default)]
pub struct Person {
    /// The provider's subject (Microsoft: the pairwise `sub`; Facebook: the app-scoped id).
    pub subject: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    /// Claims added to (or replacing) the ID token's: Microsoft's `tid`, `oid`, ... or a forged
    /// `iss`.
    pub claims: Map<String, Value>,
}

/// A client registered at the stand-in.
#[derive(Clone, Debug, Default)]
pub struct Client {
    /// The client secret (Facebook: the app secret); `None` for Apple.
    pub secret: Option<String>,
    /// Apple: the key the client secrets must be signed with.
    pub apple_key: Option<AppleKey>,
}

/// An Apple developer key as Apple knows it: team, key id and the public key.
#[derive(Clone, Debug)]
pub struct AppleKey {
    pub team_id: String,
    pub key_id: String,
    /// The uncompressed P-256 point.
    pub public_key: Vec<u8>,
}

impl AppleKey {
    /// A new key pair: Apple's record of it, and the `.p8` PEM the developer downloads.
    pub fn generate(team_id: &str, key_id: &str) -> (Self, String) {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("P-256 key pair");
        let body = STANDARD.encode(pkcs8.as_ref());
        let lines: Vec<String> = body
            .as_bytes()
            .chunks(64)
            .map(|line| String::from_utf8_lossy(line).into_owned())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        let key = Self {
            team_id: team_id.to_owned(),
            key_id: key_id.to_owned(),
            public_key: pair.public_key().as_ref().to_vec(),
        };
        (key, pem)
    }
}

/// What the stand-in saw, for the test's assertions.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Every authorization request's query.
    pub authorizations: Vec<HashMap<String, String>>,
    /// Every token request: its form, and how the client authenticated (`basic` or `post`).
    pub token_requests: Vec<(HashMap<String, String>, &'static str)>,
    /// Apple: the claims of every client secret that verified.
    pub apple_client_secrets: Vec<Value>,
    /// Apple: how many answers carried the `user` field with the name.
    pub apple_user_fields: usize,
    /// Facebook: the query of every `/me` request that was answered.
    pub me_requests: Vec<HashMap<String, String>>,
    /// Vipps: how many userinfo requests were answered.
    pub userinfo_requests: usize,
}

/// A running stand-in.
pub struct StandIn {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    shared: Arc<Shared>,
}

struct Shared {
    provider: Provider,
    base: String,
    clock: Clock,
    signing_key: RsaKeyPair,
    state: Mutex<StandInState>,
}

#[derive(Default)]
struct StandInState {
    clients: HashMap<String, Client>,
    next_person: Option<Person>,
    codes: HashMap<String, Grant>,
    access_tokens: HashMap<String, (String, Person)>,
    /// Apple: (client, subject) pairs that authorised before; the name is sent only once.
    authorised: HashSet<(String, String)>,
    seen: Seen,
}

/// An authorization code and what it was issued for.
struct Grant {
    client_id: String,
    redirect_uri: String,
    nonce: Option<String>,
    code_challenge: Option<String>,
    person: Person,
}

impl StandIn {
    /// Starts a stand-in of `provider` whose tokens are dated by `clock`.
    pub async fn start(provider: Provider, clock: Clock) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind stand-in");
        let base = format!("http://{}", listener.local_addr().expect("local addr"));
        let shared = Arc::new(Shared {
            provider,
            base: base.clone(),
            clock,
            signing_key: signing_key(),
            state: Mutex::new(StandInState::default()),
        });
        let router = match provider {
            Provider::Microsoft => microsoft_routes(),
            Provider::Apple => apple_routes(),
            Provider::Facebook => facebook_routes(),
            Provider::Vipps => vipps_routes(),
        }
        .with_state(Arc::clone(&shared));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { base, shared }
    }

    /// Registers a client (an app registration, a Services ID, a Facebook app).
    pub fn register(&self, client_id: &str, client: Client) {
        let mut state = self.shared.state.lock().unwrap();
        state.clients.insert(client_id.to_owned(), client);
    }

    /// Who the next authorization request signs in.
    pub fn sign_in_as(&self, person: Person) {
        self.shared.state.lock().unwrap().next_person = Some(person);
    }

    /// What the stand-in saw so far.
    pub fn seen(&self) -> Seen {
        self.shared.state.lock().unwrap().seen.clone()
    }

    /// Microsoft: the issuer of `tenant` as the provider setting names it (`common`, ...).
    pub fn microsoft_issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.base)
    }

    /// Vipps: the issuer, with Vipps' trailing slash.
    pub fn vipps_issuer(&self) -> String {
        format!("{}{VIPPS_PREFIX}/", self.base)
    }

    /// Facebook: the dialog, token and `/me` endpoints, in the admin API's `endpoints` shape.
    pub fn facebook_endpoints(&self) -> Value {
        let graph = format!("{}/{GRAPH_VERSION}", self.base);
        json!({
            "authorization": format!("{graph}/dialog/oauth"),
            "token": format!("{graph}/oauth/access_token"),
            "userinfo": format!("{graph}/me"),
        })
    }
}

fn signing_key() -> RsaKeyPair {
    let body: String = SIGNING_KEY_PEM
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD.decode(body).expect("fixture PEM");
    RsaKeyPair::from_pkcs8(&der).expect("fixture RSA key")
}

// ---------------------------------------------------------------------------------------------
// Routes of each provider, at the provider's own paths.

/// The state every stand-in handler takes.
type App = State<Arc<Shared>>;

fn microsoft_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            get(microsoft_discovery),
        )
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/token", axum::routing::post(token))
        .route("/common/discovery/v2.0/keys", get(jwks))
}

fn apple_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/.well-known/openid-configuration", get(apple_discovery))
        .route("/auth/authorize", get(authorize))
        .route("/auth/token", axum::routing::post(token))
        .route("/auth/keys", get(jwks))
}

fn vipps_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            &format!("{VIPPS_PREFIX}/.well-known/openid-configuration"),
            get(vipps_discovery),
        )
        .route(&format!("{VIPPS_PREFIX}/oauth2/auth"), get(authorize))
        .route(
            &format!("{VIPPS_PREFIX}/oauth2/token"),
            axum::routing::post(token),
        )
        .route(&format!("{VIPPS_PREFIX}/.well-known/jwks.json"), get(jwks))
        .route("/vipps-userinfo-api/userinfo", get(vipps_userinfo))
}

fn facebook_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(&format!("/{GRAPH_VERSION}/dialog/oauth"), get(authorize))
        .route(
            &format!("/{GRAPH_VERSION}/oauth/access_token"),
            get(facebook_token_get).post(token),
        )
        .route(&format!("/{GRAPH_VERSION}/me"), get(facebook_me))
}

// ---------------------------------------------------------------------------------------------
// Discovery documents, as each provider publishes them.

/// Microsoft's multi-tenant endpoints publish the `{tenantid}` template as their issuer; a
/// tenant's own endpoint publishes its issuer.
async fn microsoft_discovery(State(shared): App, Path(tenant): Path<String>) -> Response {
    let base = &shared.base;
    let issuer_tenant = match tenant.as_str() {
        "common" | "organizations" | "consumers" => "{tenantid}",
        own => own,
    };
    Json(json!({
        "issuer": format!("{base}/{issuer_tenant}/v2.0"),
        "authorization_endpoint": format!("{base}/{tenant}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/{tenant}/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/common/discovery/v2.0/keys"),
        "userinfo_endpoint": format!("{base}/oidc/userinfo"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported":
            ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "name",
            "preferred_username", "email", "oid", "tid", "ver"],
        "tenant_region_scope": null,
    }))
    .into_response()
}

async fn apple_discovery(State(shared): App) -> Response {
    let base = &shared.base;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/auth/authorize"),
        "token_endpoint": format!("{base}/auth/token"),
        "revocation_endpoint": format!("{base}/auth/revoke"),
        "jwks_uri": format!("{base}/auth/keys"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "name"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "is_private_email",
            "iss", "nonce", "nonce_supported", "real_user_status", "sub", "transfer_sub"],
    }))
    .into_response()
}

async fn vipps_discovery(State(shared): App) -> Response {
    let base = &shared.base;
    let prefix = format!("{base}{VIPPS_PREFIX}");
    Json(json!({
        "issuer": format!("{prefix}/"),
        "authorization_endpoint": format!("{prefix}/oauth2/auth"),
        "token_endpoint": format!("{prefix}/oauth2/token"),
        "jwks_uri": format!("{prefix}/.well-known/jwks.json"),
        "userinfo_endpoint": format!("{base}/vipps-userinfo-api/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "address", "birthDate", "email", "name", "phoneNumber",
            "nin", "api_version_2"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    }))
    .into_response()
}

async fn jwks(State(shared): App) -> Response {
    let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(shared.signing_key.public());
    Json(json!({ "keys": [{
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": SIGNING_KEY_ID,
        "n": URL_SAFE_NO_PAD.encode(trim_zeros(&public.n)),
        "e": URL_SAFE_NO_PAD.encode(trim_zeros(&public.e)),
    }]}))
    .into_response()
}

fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len());
    &bytes[start..]
}

// ---------------------------------------------------------------------------------------------
// The authorization endpoint: signs in the person named by the test.

async fn authorize(State(shared): App, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut state = shared.state.lock().unwrap();
    state.seen.authorizations.push(query.clone());

    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    let (client_id, redirect_uri) = (param("client_id"), param("redirect_uri"));
    if !state.clients.contains_key(&client_id) {
        return (StatusCode::BAD_REQUEST, "invalid_client: unknown client_id").into_response();
    }
    if redirect_uri.is_empty() || param("response_type") != "code" {
        return (
            StatusCode::BAD_REQUEST,
            "invalid_request: redirect_uri, response_type=code",
        )
            .into_response();
    }
    let scopes: Vec<String> = param("scope").split(' ').map(str::to_owned).collect();
    let asks_name_or_email = scopes
        .iter()
        .any(|scope| scope == "name" || scope == "email");
    // Apple: "response_mode must be form_post when name or email scope is requested".
    if shared.provider == Provider::Apple
        && asks_name_or_email
        && param("response_mode") != "form_post"
    {
        return (
            StatusCode::BAD_REQUEST,
            "invalid_request: response_mode must be form_post",
        )
            .into_response();
    }
    let Some(person) = state.next_person.clone() else {
        return (StatusCode::BAD_REQUEST, "the test named nobody to sign in").into_response();
    };

    let code = random_token();
    let grant = Grant {
        client_id: client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        nonce: query.get("nonce").cloned(),
        code_challenge: query.get("code_challenge").cloned(),
        person: person.clone(),
    };
    state.codes.insert(code.clone(), grant);
    let returned_state = param("state");

    if shared.provider != Provider::Apple {
        let mut location = reqwest::Url::parse(&redirect_uri).expect("redirect_uri");
        location
            .query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &returned_state);
        return Redirect::to(location.as_str()).into_response();
    }

    // Apple posts the answer; the name only on the person's first authorisation of the app.
    let first = state.authorised.insert((client_id, person.subject.clone()));
    let mut fields = vec![("code", code), ("state", returned_state)];
    if first && scopes.iter().any(|scope| scope == "name") {
        let (first_name, last_name) = match person.name.as_deref() {
            Some(name) => name.split_once(' ').unwrap_or((name, "")),
            None => ("", ""),
        };
        let user = json!({
            "name": { "firstName": first_name, "lastName": last_name },
            "email": person.email,
        });
        fields.push(("user", user.to_string()));
        state.seen.apple_user_fields += 1;
    }
    Html(form_post_page(&redirect_uri, &fields)).into_response()
}

/// OAuth 2.0 Form Post Response Mode: an HTML page whose form posts itself on load.
fn form_post_page(action: &str, fields: &[(&str, String)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| {
            format!(
                r#"<input type="hidden" name="{name}" value="{}"/>"#,
                escape_html(value)
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html><html><head><title>Sign in with Apple</title></head>\
         <body onload=\"document.forms[0].submit()\">\
         <form method=\"post\" action=\"{}\">{inputs}</form></body></html>",
        escape_html(action)
    )
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;")
}

// ---------------------------------------------------------------------------------------------
// The token endpoint.

/// Facebook also takes the exchange as a GET with the parameters in the query.
async fn facebook_token_get(
    shared: App,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let body = serde_urlencoded::to_string(&query).unwrap_or_default();
    token(shared, headers, Bytes::from(body)).await
}

async fn token(State(shared): App, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let now = shared.clock.now();
    let mut state = shared.state.lock().unwrap();

    let basic = basic_credentials(&headers);
    let method = if basic.is_some() { "basic" } else { "post" };
    state.seen.token_requests.push((form.clone(), method));
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let (client_id, presented_secret) = match basic {
        Some(credentials) => credentials,
        None => (field("client_id"), field("client_secret")),
    };

    // Client authentication: Apple only in the body and only with a JWT signed by the key.
    let Some(client) = state.clients.get(&client_id).cloned() else {
        return shared.token_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
    };
    match (shared.provider, &client.apple_key) {
        (Provider::Apple, Some(key)) => {
            if method != "post" {
                return shared.token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    "client_secret_post only",
                );
            }
            match verify_apple_client_secret(&presented_secret, key, &client_id, &shared.base, now)
            {
                Ok(claims) => state.seen.apple_client_secrets.push(claims),
                Err(why) => {
                    return shared.token_error(StatusCode::BAD_REQUEST, "invalid_client", why);
                }
            }
        }
        _ => {
            if client.secret.as_deref() != Some(presented_secret.as_str()) {
                return shared.token_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_client",
                    "Error validating client secret.",
                );
            }
        }
    }

    if shared.provider != Provider::Facebook && field("grant_type") != "authorization_code" {
        return shared.token_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "code only",
        );
    }
    let Some(grant) = state.codes.remove(&field("code")) else {
        return shared.token_error(StatusCode::BAD_REQUEST, "invalid_grant", "unknown code");
    };
    if grant.client_id != client_id || grant.redirect_uri != field("redirect_uri") {
        return shared.token_error(StatusCode::BAD_REQUEST, "invalid_grant", "redirect_uri");
    }
    // RFC 7636 §4.6: the verifier must hash to the challenge of the authorization request.
    if let Some(challenge) = &grant.code_challenge {
        let digest = ring::digest::digest(&ring::digest::SHA256, field("code_verifier").as_bytes());
        if URL_SAFE_NO_PAD.encode(digest.as_ref()) != *challenge {
            return shared.token_error(StatusCode::BAD_REQUEST, "invalid_grant", "code_verifier");
        }
    }

    let access_token = random_token();
    let person = grant.person.clone();
    state
        .access_tokens
        .insert(access_token.clone(), (client_id.clone(), person));
    if shared.provider == Provider::Facebook {
        return Json(json!({
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": 5_183_944,
        }))
        .into_response();
    }
    let id_token = shared.id_token(&grant, now);
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
    }))
    .into_response()
}

impl Shared {
    /// The provider's error answer: RFC 6749 §5.2 JSON, or Facebook's error object.
    fn token_error(&self, status: StatusCode, code: &str, message: &str) -> Response {
        let body = match self.provider {
            Provider::Facebook => json!({ "error": {
                "message": message,
                "type": "OAuthException",
                "code": 1,
                "fbtrace_id": "standin",
            }}),
            _ => json!({ "error": code, "error_description": message }),
        };
        (status, Json(body)).into_response()
    }

    /// An RS256 ID token for `grant` with the provider's claims.
    fn id_token(&self, grant: &Grant, now: i64) -> String {
        let person = &grant.person;
        let mut claims = json!({
            "aud": grant.client_id,
            "sub": person.subject,
            "iat": now,
            "exp": now + 3600,
        });
        let claims_map = claims.as_object_mut().expect("object");
        match self.provider {
            Provider::Microsoft => {
                let tid = person
                    .claims
                    .get("tid")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                claims_map.insert("iss".into(), format!("{}/{tid}/v2.0", self.base).into());
                claims_map.insert("ver".into(), "2.0".into());
                if let Some(name) = &person.name {
                    claims_map.insert("name".into(), name.clone().into());
                }
                if let Some(email) = &person.email {
                    claims_map.insert("email".into(), email.clone().into());
                }
            }
            Provider::Apple => {
                claims_map.insert("iss".into(), self.base.clone().into());
                claims_map.insert("auth_time".into(), now.into());
                claims_map.insert("nonce_supported".into(), true.into());
                if let Some(email) = &person.email {
                    // Apple sends its booleans as strings.
                    claims_map.insert("email".into(), email.clone().into());
                    let verified = if person.email_verified {
                        "true"
                    } else {
                        "false"
                    };
                    claims_map.insert("email_verified".into(), verified.into());
                    claims_map.insert("is_private_email".into(), "false".into());
                }
            }
            // Vipps' ID token names the subject and little else.
            Provider::Vipps => {
                claims_map.insert("iss".into(), format!("{}{VIPPS_PREFIX}/", self.base).into());
            }
            Provider::Facebook => {}
        }
        if let Some(nonce) = &grant.nonce {
            claims_map.insert("nonce".into(), nonce.clone().into());
        }
        for (name, value) in &person.claims {
            claims_map.insert(name.clone(), value.clone());
        }
        self.sign(&claims)
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "RS256", "kid": SIGNING_KEY_ID, "typ": "JWT" });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.signing_key.public().modulus_len()];
        self.signing_key
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .expect("RS256 signature");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// Apple's checks of a client secret ("Creating a client secret"): an ES256 JWT with the
/// registered key's `kid`, signed by it, `iss` the team, `sub` the client, `aud` Apple's
/// issuer, not expired and living at most six months. Returns the claims.
fn verify_apple_client_secret(
    jwt: &str,
    key: &AppleKey,
    client_id: &str,
    audience: &str,
    now: i64,
) -> Result<Value, &'static str> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [header, claims, signature_part] = parts[..] else {
        return Err("client_secret is not a JWT");
    };
    let decode = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let header = decode(header).ok_or("client_secret header")?;
    if header["alg"] != "ES256" || header["kid"] != key.key_id.as_str() {
        return Err("client_secret alg or kid");
    }
    let signature_bytes = URL_SAFE_NO_PAD
        .decode(signature_part)
        .map_err(|_| "client_secret signature")?;
    let input = format!("{}.{}", parts[0], parts[1]);
    signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &key.public_key)
        .verify(input.as_bytes(), &signature_bytes)
        .map_err(|_| "client_secret signature")?;

    let claims = decode(claims).ok_or("client_secret claims")?;
    let number = |name: &str| claims[name].as_i64().unwrap_or(i64::MIN);
    let (iat, exp) = (number("iat"), number("exp"));
    if claims["iss"] != key.team_id.as_str()
        || claims["sub"] != client_id
        || claims["aud"] != audience
    {
        return Err("client_secret iss, sub or aud");
    }
    if iat > now + 60 || exp <= now || exp - iat > APPLE_SECRET_MAX_LIFETIME {
        return Err("client_secret expired or too long-lived");
    }
    Ok(claims)
}

/// `Authorization: Basic` client credentials (RFC 6749 §2.3.1: form-encoded, then base64).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((percent_decode(id), percent_decode(secret)))
}

fn percent_decode(text: &str) -> String {
    let form = format!("x={}", text.replace('+', "%2B"));
    serde_urlencoded::from_str::<HashMap<String, String>>(&form)
        .ok()
        .and_then(|mut map| map.remove("x"))
        .unwrap_or_default()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("OAuth "))
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// Userinfo (Vipps) and the Graph API (Facebook).

async fn vipps_userinfo(State(shared): App, headers: HeaderMap) -> Response {
    let mut state = shared.state.lock().unwrap();
    let token = bearer(&headers).unwrap_or_default();
    let Some((_, person)) = state.access_tokens.get(&token).cloned() else {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "invalid_token"})),
        )
            .into_response();
    };
    state.seen.userinfo_requests += 1;
    let (given_name, family_name) = match person.name.as_deref() {
        Some(name) => {
            let (given, family) = name.split_once(' ').unwrap_or((name, ""));
            (Some(given.to_owned()), Some(family.to_owned()))
        }
        None => (None, None),
    };
    Json(json!({
        "sub": person.subject,
        "name": person.name,
        "given_name": given_name,
        "family_name": family_name,
        "email": person.email,
        "email_verified": person.email_verified,
        "phone_number": "4712345678",
        "sid": "standin-session",
    }))
    .into_response()
}

/// `GET /me`: the token as a bearer or in `access_token`, `appsecret_proof` required and
/// checked against the secret of the app the token was issued to, only the asked `fields`.
async fn facebook_me(
    State(shared): App,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = shared.state.lock().unwrap();
    let token = bearer(&headers)
        .or_else(|| query.get("access_token").cloned())
        .unwrap_or_default();
    let graph_error = |status: StatusCode, message: &str, code: u32| {
        let body = json!({ "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "fbtrace_id": "standin",
        }});
        (status, Json(body)).into_response()
    };
    let Some((client_id, person)) = state.access_tokens.get(&token).cloned() else {
        return graph_error(StatusCode::BAD_REQUEST, "Invalid OAuth access token.", 190);
    };
    let app_secret = state
        .clients
        .get(&client_id)
        .and_then(|client| client.secret.clone())
        .unwrap_or_default();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, app_secret.as_bytes());
    let expected = hex::encode(ring::hmac::sign(&key, token.as_bytes()).as_ref());
    if query.get("appsecret_proof") != Some(&expected) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "Invalid appsecret_proof provided in the API argument",
            100,
        );
    }
    state.seen.me_requests.push(query.clone());

    let fields = query
        .get("fields")
        .cloned()
        .unwrap_or_else(|| "id,name".to_owned());
    let mut me = Map::new();
    for field in fields.split(',') {
        match field {
            "id" => me.insert("id".into(), person.subject.clone().into()),
            "name" => me.insert("name".into(), person.name.clone().into()),
            "email" => match &person.email {
                Some(email) => me.insert("email".into(), email.clone().into()),
                None => None,
            },
            _ => None,
        };
    }
    me.entry("id")
        .or_insert_with(|| person.subject.clone().into());
    Json(Value::Object(me)).into_response()
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes).expect("random");
    URL_SAFE_NO_PAD.encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// A browser: cookies per host, redirects followed one at a time, `form_post` pages submitted.

/// Where a sign-in at a stand-in ended: the data plane's answer to the callback.
pub struct Landing {
    pub status: reqwest::StatusCode,
    /// The callback's `Location` (where the browser goes after signing in), if any.
    pub location: Option<String>,
    /// The callback's page (an error page when the sign-in failed).
    pub body: String,
    /// Whether the callback arrived as a POST (Apple's `form_post`).
    pub posted: bool,
}

/// A browser that keeps cookies per host, as a real one does for these plain-HTTP test hosts.
pub struct Browser {
    http: reqwest::Client,
    cookies: Mutex<HashMap<String, BTreeMap<String, String>>>,
}

impl Browser {
    /// A browser whose DNS sends the data plane's hosts to it; redirects are followed by hand.
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            cookies: Mutex::new(HashMap::new()),
        }
    }

    /// The cookie `name` of `host`, if set.
    pub fn cookie(&self, host: &str, name: &str) -> Option<String> {
        let cookies = self.cookies.lock().unwrap();
        cookies.get(host).and_then(|jar| jar.get(name)).cloned()
    }

    /// Forgets every cookie, as a new browser profile would.
    pub fn clear_cookies(&self) {
        self.cookies.lock().unwrap().clear();
    }

    /// Sends one request with the host's cookies and keeps the cookies of the answer.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        form: Option<&[(String, String)]>,
    ) -> reqwest::Response {
        let parsed = reqwest::Url::parse(url).expect("absolute URL");
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let mut request = self.http.request(method, parsed);
        let cookie_header = {
            let cookies = self.cookies.lock().unwrap();
            cookies.get(&host).map(|jar| {
                jar.iter()
                    .map(|(name, value)| format!("{name}={value}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        };
        if let Some(cookie_header) = cookie_header.filter(|header| !header.is_empty()) {
            request = request.header(header::COOKIE, cookie_header);
        }
        if let Some(form) = form {
            request = request
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(form).expect("form"));
        }
        let response = request.send().await.expect("browser request");
        self.keep_cookies(&host, &response);
        response
    }

    fn keep_cookies(&self, host: &str, response: &reqwest::Response) {
        let mut cookies = self.cookies.lock().unwrap();
        let jar = cookies.entry(host.to_owned()).or_default();
        for value in response.headers().get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap_or_default();
            let mut attributes = text.split(';').map(str::trim);
            let Some((name, value)) = attributes.next().and_then(|pair| pair.split_once('='))
            else {
                continue;
            };
            let deleted = attributes.any(|attribute| attribute.eq_ignore_ascii_case("Max-Age=0"));
            if deleted || value.is_empty() {
                jar.remove(name);
            } else {
                jar.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// Signs in from `start_url` (`.../login/start/<provider>`): follows the redirects to the
    /// stand-in and back, submits a `form_post` page as the browser's script would, and stops
    /// at the data plane's answer to the callback.
    pub async fn sign_in(&self, start_url: &str) -> Landing {
        let mut url = start_url.to_owned();
        let mut response = self.send(reqwest::Method::GET, &url, None).await;
        let mut posted = false;
        for _ in 0..10 {
            if url.contains("/login/callback/") {
                let status = response.status();
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned);
                let body = response.text().await.unwrap_or_default();
                return Landing {
                    status,
                    location,
                    body,
                    posted,
                };
            }
            if response.status().is_redirection() {
                let location = response
                    .headers()
                    .get(header::LOCATION)
                    .and_then(|value| value.to_str().ok())
                    .expect("redirect with a Location");
                url = reqwest::Url::parse(&url)
                    .and_then(|base| base.join(location))
                    .expect("Location")
                    .to_string();
                response = self.send(reqwest::Method::GET, &url, None).await;
                continue;
            }
            let status = response.status();
            let page = response.text().await.unwrap_or_default();
            let Some((action, fields)) = auto_post_form(&page) else {
                panic!("sign-in stopped at {url} with {status}: {page}");
            };
            url = action;
            posted = true;
            response = self.send(reqwest::Method::POST, &url, Some(&fields)).await;
        }
        panic!("sign-in from {start_url} did not reach the callback");
    }
}

/// The action and fields of a page whose form posts itself on load (the `form_post` response
/// mode), read the way a browser would.
pub fn auto_post_form(page: &str) -> Option<(String, Vec<(String, String)>)> {
    if !page.contains("document.forms[0].submit()") {
        return None;
    }
    let form_start = page.find("<form")?;
    let form = &page[form_start..];
    let action = attribute(&form[..form.find('>')?], "action")?;
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(start) = rest.find("<input") {
        let end = start + rest[start..].find('>')?;
        let tag = &rest[start..end];
        fields.push((
            attribute(tag, "name")?,
            attribute(tag, "value").unwrap_or_default(),
        ));
        rest = &rest[end..];
    }
    Some((action, fields))
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let length = tag[start..].find('"')?;
    Some(unescape_html(&tag[start..start + length]))
}

fn unescape_html(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
