//! A stand-in OpenID Connect provider for HTTP-level tests of the hosted login: discovery,
//! an authorization endpoint that approves a configured person at once, a token endpoint that
//! checks client authentication, the code and the PKCE verifier, a JWKS, ES256 ID tokens
//! signed with ring, and userinfo. Knobs make it misbehave the ways real providers can.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use restapi_shared::Clock;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// Who the provider signs in.
#[derive(Clone, Debug)]
pub struct Person {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: String,
}

impl Person {
    pub fn new(sub: &str, email: &str, verified: bool, name: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            email: Some(email.to_owned()),
            email_verified: verified,
            name: name.to_owned(),
        }
    }
}

/// Ways to misbehave, each off by default.
#[derive(Clone, Debug, Default)]
pub struct Knobs {
    /// The ID token carries another nonce than the one asked for.
    pub wrong_nonce: bool,
    /// The ID token is for another client.
    pub wrong_audience: bool,
    /// The person declines: the callback gets `error=access_denied`.
    pub deny: bool,
    /// Answer the authorization request with a self-posting form (`response_mode=form_post`).
    pub form_post: bool,
}

struct Grant {
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
    person: Person,
    used: bool,
}

struct Inner {
    person: Person,
    knobs: Knobs,
    codes: HashMap<String, Grant>,
    tokens: HashMap<String, Person>,
    /// How many times each code was presented at the token endpoint.
    pub exchanges: usize,
}

/// A running stand-in provider.
#[derive(Clone)]
pub struct Idp {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    clock: Clock,
    key: Arc<EcdsaKeyPair>,
    inner: Arc<Mutex<Inner>>,
}

impl Idp {
    /// Starts a provider on a port-0 listener, signing in `person`; times come from `clock`.
    pub async fn start(clock: Clock, person: Person) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let idp = Self {
            issuer: format!("http://{addr}"),
            client_id: format!("client-{}", addr.port()),
            client_secret: "idp-secret-of-the-test".to_owned(),
            clock,
            key: Arc::new(key),
            inner: Arc::new(Mutex::new(Inner {
                person,
                knobs: Knobs::default(),
                codes: HashMap::new(),
                tokens: HashMap::new(),
                exchanges: 0,
            })),
        };
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .route("/userinfo", get(userinfo))
            .with_state(idp.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        idp
    }

    /// Signs in `person` from now on.
    pub fn set_person(&self, person: Person) {
        self.inner.lock().unwrap().person = person;
    }

    /// Misbehaves as `knobs` say from now on.
    pub fn set_knobs(&self, knobs: Knobs) {
        self.inner.lock().unwrap().knobs = knobs;
    }

    /// How many code exchanges were attempted.
    pub fn exchanges(&self) -> usize {
        self.inner.lock().unwrap().exchanges
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": "idp-key-1" });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .unwrap();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

async fn discovery(State(idp): State<Idp>) -> impl IntoResponse {
    axum::Json(json!({
        "issuer": idp.issuer,
        "authorization_endpoint": format!("{}/authorize", idp.issuer),
        "token_endpoint": format!("{}/token", idp.issuer),
        "userinfo_endpoint": format!("{}/userinfo", idp.issuer),
        "jwks_uri": format!("{}/jwks", idp.issuer),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    nonce: Option<String>,
    scope: String,
    code_challenge: String,
    code_challenge_method: String,
}

async fn authorize(State(idp): State<Idp>, Query(query): Query<AuthorizeQuery>) -> Response {
    if query.response_type != "code"
        || query.client_id != idp.client_id
        || query.code_challenge_method != "S256"
        || !query.scope.split(' ').any(|scope| scope == "openid")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let mut inner = idp.inner.lock().unwrap();
    let answer: Vec<(&str, String)> = if inner.knobs.deny {
        vec![("error", "access_denied".into()), ("state", query.state.clone())]
    } else {
        let code = restapi_shared::ids::new_id("code");
        let grant = Grant {
            nonce: query.nonce.clone(),
            challenge: query.code_challenge.clone(),
            redirect_uri: query.redirect_uri.clone(),
            person: inner.person.clone(),
            used: false,
        };
        inner.codes.insert(code.clone(), grant);
        vec![("code", code), ("state", query.state.clone())]
    };
    if inner.knobs.form_post {
        let inputs: String = answer
            .iter()
            .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{value}\">"))
            .collect();
        let html = format!(
            "<form method=\"post\" action=\"{}\">{inputs}</form>",
            query.redirect_uri
        );
        return ([(header::CONTENT_TYPE, "text/html")], html).into_response();
    }
    let query_string = serde_urlencoded::to_string(&answer).unwrap();
    Redirect::to(&format!("{}?{query_string}", query.redirect_uri)).into_response()
}

#[derive(Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn token(State(idp): State<Idp>, headers: HeaderMap, Form(form): Form<TokenForm>) -> Response {
    let refuse = |code: &str| {
        (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": code }))).into_response()
    };
    // RFC 6749 §2.3.1: Basic (form-encoded parts) or the body.
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| {
            let (id, secret) = pair.split_once(':')?;
            let decode = |part: &str| {
                percent_encoding::percent_decode_str(&part.replace('+', " "))
                    .decode_utf8()
                    .ok()
                    .map(|text| text.into_owned())
            };
            Some((decode(id)?, decode(secret)?))
        });
    let (client_id, client_secret) = match (basic, form.client_id, form.client_secret) {
        (Some(pair), _, _) => pair,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => return refuse("invalid_client"),
    };
    if client_id != idp.client_id || client_secret != idp.client_secret {
        return refuse("invalid_client");
    }
    if form.grant_type != "authorization_code" {
        return refuse("unsupported_grant_type");
    }

    let mut inner = idp.inner.lock().unwrap();
    inner.exchanges += 1;
    let knobs = inner.knobs.clone();
    let Some(grant) = inner.codes.get_mut(&form.code) else {
        return refuse("invalid_grant");
    };
    if grant.used || grant.redirect_uri != form.redirect_uri {
        return refuse("invalid_grant");
    }
    grant.used = true;
    // RFC 7636 §4.6: BASE64URL(SHA256(verifier)) must equal the challenge.
    let digest = ring::digest::digest(&ring::digest::SHA256, form.code_verifier.as_bytes());
    if URL_SAFE_NO_PAD.encode(digest.as_ref()) != grant.challenge {
        return refuse("invalid_grant");
    }
    let person = grant.person.clone();
    let nonce = if knobs.wrong_nonce {
        Some("not-the-nonce".to_owned())
    } else {
        grant.nonce.clone()
    };

    let access_token = restapi_shared::ids::new_id("idp_at");
    inner.tokens.insert(access_token.clone(), person.clone());
    drop(inner);
    let at_digest = ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes());
    let now = idp.clock.now();
    let mut claims = json!({
        "iss": idp.issuer,
        "sub": person.sub,
        "aud": if knobs.wrong_audience { "someone-else".to_owned() } else { idp.client_id.clone() },
        "iat": now,
        "exp": now + 300,
        "name": person.name,
        "email_verified": person.email_verified,
        "at_hash": URL_SAFE_NO_PAD.encode(&at_digest.as_ref()[..16]),
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(email) = &person.email {
        claims["email"] = json!(email);
    }
    axum::Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": idp.sign(&claims),
    }))
    .into_response()
}

async fn jwks(State(idp): State<Idp>) -> impl IntoResponse {
    let point = idp.key.public_key().as_ref();
    axum::Json(json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "idp-key-1", "use": "sig", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    }]}))
}

async fn userinfo(State(idp): State<Idp>, headers: HeaderMap) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let person = token.and_then(|token| idp.inner.lock().unwrap().tokens.get(token).cloned());
    match person {
        Some(person) => axum::Json(json!({
            "sub": person.sub, "email": person.email,
            "email_verified": person.email_verified, "name": person.name,
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}
