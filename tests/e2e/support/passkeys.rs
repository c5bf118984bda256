//! Passkeys for end-to-end tests: webauthn-rs' software authenticator as a person's device,
//! a browser tab that keeps its cookies, and a stack with two APIs that take passkeys.
//!
//! The software authenticator (`SoftPasskey`) keeps no discoverable credentials: it signs
//! only for the credential ids it is given and returns no user handle. The [`Device`] here
//! plays the part a passkey provider plays for it: it remembers which user handle each
//! credential was made for, picks the credential, and returns that handle with the assertion
//! (the handle is not signed, so this changes nothing the server verifies). It also drops
//! `requireResidentKey` before creating, after checking that the server asked for it.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use webauthn_authenticator_rs::AuthenticatorBackend;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse, Url,
};

use super::db::TestDatabase;
use super::hosted::{ACCESS_COOKIE, API};
use super::stack::{APP_DOMAIN, DataPlaneHandle, Stack};

pub const PASSKEY_COOKIE: &str = "restapi-passkey";
/// A second API of the region, whose passkeys must mean nothing to `shop`.
pub const OTHER_API: &str = "mall";

/// A person's device: the software authenticator and the user handles of its credentials.
pub struct Device {
    authenticator: SoftPasskey,
    handles: HashMap<Vec<u8>, Vec<u8>>,
}

impl Device {
    pub fn new() -> Self {
        Self {
            // `true`: the soft authenticator reports user verification, as a passkey does.
            authenticator: SoftPasskey::new(true),
            handles: HashMap::new(),
        }
    }

    /// `navigator.credentials.create()` at `origin` with the server's options.
    pub fn create(&mut self, origin: &str, options: &Value) -> Value {
        let selection = &options["publicKey"]["authenticatorSelection"];
        assert_eq!(
            (&selection["residentKey"], &selection["requireResidentKey"]),
            (&json!("required"), &json!(true)),
            "a passkey must be a discoverable credential: {options}"
        );
        let mut options = options.clone();
        options["publicKey"]["authenticatorSelection"]["requireResidentKey"] = json!(false);
        let options: CreationChallengeResponse =
            serde_json::from_value(options).expect("creation options");
        let user_handle = options.public_key.user.id.to_vec();
        let origin = Url::parse(origin).expect("origin");
        let credential = self
            .authenticator
            .perform_register(origin, options.public_key, 60_000)
            .expect("the authenticator creates a credential");
        self.handles.insert(credential.raw_id.to_vec(), user_handle);
        serde_json::to_value(credential).expect("credential JSON")
    }

    /// `navigator.credentials.get()` at `origin`, the person choosing `credential_id`.
    pub fn get(&mut self, origin: &str, options: &Value, credential_id: &[u8]) -> Value {
        assert_eq!(
            options["publicKey"]["allowCredentials"],
            json!([]),
            "a passkey sign-in names no credential: the browser offers them"
        );
        let mut options = options.clone();
        options["publicKey"]["allowCredentials"] =
            json!([{ "type": "public-key", "id": URL_SAFE_NO_PAD.encode(credential_id) }]);
        let options: RequestChallengeResponse =
            serde_json::from_value(options).expect("request options");
        let origin = Url::parse(origin).expect("origin");
        let mut credential: PublicKeyCredential = self
            .authenticator
            .perform_auth(origin, options.public_key, 60_000)
            .expect("the authenticator signs");
        let handle = self.handles.get(credential_id).expect("known credential");
        credential.response.user_handle = Some(handle.clone().into());
        serde_json::to_value(credential).expect("assertion JSON")
    }

    /// The id of the only credential made so far, or the last one.
    pub fn last_credential(&self) -> Vec<u8> {
        self.handles.keys().last().expect("a credential").clone()
    }
}

/// A browser tab on one host: its cookies, sending the host's own `Origin`.
pub struct Tab {
    pub http: reqwest::Client,
    pub origin: String,
    pub login: String,
    pub cookies: BTreeMap<String, String>,
}

impl Tab {
    pub fn new(plane: &DataPlaneHandle, api: &str) -> Self {
        let host = format!("{api}.{APP_DOMAIN}");
        Self {
            http: plane.client(&[&host]),
            origin: format!("http://{host}:{}", plane.addr.port()),
            login: "/login".to_owned(),
            cookies: BTreeMap::new(),
        }
    }

    /// A tab on the region's shared host, where the API lives under `/<api>`.
    pub fn regional(plane: &DataPlaneHandle, api: &str) -> Self {
        let host = plane.region_host.clone();
        Self {
            http: plane.client(&[&host]),
            origin: format!("http://{host}:{}", plane.addr.port()),
            login: format!("/{api}/login"),
            cookies: BTreeMap::new(),
        }
    }

    /// `POST <login path><path>` with a JSON body; the status and the JSON answer.
    pub async fn post(&mut self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .send(
                Method::POST,
                path,
                Some(body.to_string()),
                "application/json",
            )
            .await;
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<String>,
        content_type: &str,
    ) -> reqwest::Response {
        let url = format!("{}{}{path}", self.origin, self.login);
        let mut request = self
            .http
            .request(method, url)
            .header(ORIGIN, &self.origin)
            .header(COOKIE, self.cookie_header());
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, content_type).body(body);
        }
        let response = request.send().await.expect("request");
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().expect("cookie header");
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').expect("cookie pair");
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else if !attributes.contains("Path=/api/_logout") {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        response
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn cookie(&self, name: &str) -> Option<&String> {
        self.cookies.get(name)
    }

    /// The claims of the access cookie.
    pub fn claims(&self) -> Value {
        let token = self.cookie(ACCESS_COOKIE).expect("access cookie");
        let payload = token.split('.').nth(1).expect("JWT");
        let bytes = URL_SAFE_NO_PAD.decode(payload).expect("base64url");
        serde_json::from_slice(&bytes).expect("claims")
    }

    /// Signs up with a new passkey on `device`; the status and answer of the last step.
    pub async fn sign_up(
        &mut self,
        device: &mut Device,
        name: &str,
        email: &str,
    ) -> (StatusCode, Value) {
        let (status, options) = self
            .post(
                "/passkey/sign-up/options",
                &json!({ "name": name, "email": email }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{options}");
        let credential = device.create(&self.origin, &options);
        self.post("/passkey/sign-up", &credential).await
    }

    /// Signs in with `device`'s credential `credential_id`.
    pub async fn sign_in(
        &mut self,
        device: &mut Device,
        credential_id: &[u8],
    ) -> (StatusCode, Value) {
        let (status, options) = self.post("/passkey/sign-in/options", &json!({})).await;
        assert_eq!(status, StatusCode::OK, "{options}");
        assert_eq!(options["mediation"], "conditional", "{options}");
        let assertion = device.get(&self.origin, &options, credential_id);
        self.post("/passkey/sign-in", &assertion).await
    }

    /// The hosted page of the user's passkeys.
    pub async fn passkeys_page(&mut self) -> (StatusCode, String) {
        let response = self.send(Method::GET, "/passkeys", None, "").await;
        let status = response.status();
        (status, response.text().await.expect("page"))
    }

    /// Calls the API with the cookies, as the page's own scripts would.
    pub async fn call_api(&mut self, path: &str) -> StatusCode {
        let url = format!("{}/api{path}", self.origin);
        let response = self
            .http
            .get(url)
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("API call");
        response.status()
    }
}

/// A region with APIs `shop` (passkeys create users) and `mall`, both with a passkey provider.
pub struct PasskeyStack {
    pub stack: Stack,
    pub plane: DataPlaneHandle,
}

impl PasskeyStack {
    pub async fn start(database: &TestDatabase) -> Self {
        let stack = Stack::start(database).await;
        let plane = stack.region_with_data_plane("eu").await;
        for name in [API, OTHER_API] {
            stack
                .create(
                    "/v1/apis",
                    json!({ "name": name, "region": "eu", "roles": ["reader", "writer"],
                            "defaultRoles": ["reader"] }),
                )
                .await;
            stack
                .create(
                    &format!("/v1/apis/{name}/providers"),
                    json!({ "kind": "passkey", "autoCreate": true }),
                )
                .await;
        }
        stack.wait_for_push(&plane).await;
        Self { stack, plane }
    }

    pub fn tab(&self) -> Tab {
        Tab::new(&self.plane, API)
    }

    pub async fn users(&self, api: &str) -> Vec<Value> {
        let path = format!("/v1/apis/{api}/users");
        let (status, page) = self.stack.admin_request(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().expect("items").clone()
    }

    pub async fn passkeys(&self, user_id: &str) -> Vec<Value> {
        let path = format!("/v1/apis/{API}/users/{user_id}/passkeys");
        let (status, list) = self.stack.admin_request(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list.as_array().expect("passkeys").clone()
    }
}
