//! A stack for tests of the hosted login: API `shop` with two providers played by a local
//! Vipps stand-in, and the small browser of raw requests those tests drive it with.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::db::TestDatabase;
use crate::support::presets::{Browser, Client, Landing, Person, Provider, StandIn};
use crate::support::stack::{APP_DOMAIN, DataPlaneHandle, Stack};

pub const API: &str = "shop";
/// The session cookies on the plain-HTTP app host.
pub const ACCESS_COOKIE: &str = "restapi-access";
pub const REFRESH_COOKIE: &str = "restapi-refresh";
pub const LOGIN_COOKIE: &str = "restapi-login";

/// A stack with API `shop` (roles `reader` and `writer`, new users get `reader`) and two
/// Vipps providers: `open` creates users, `invited` only signs in registered ones.
pub struct Setup {
    pub stack: Stack,
    pub plane: DataPlaneHandle,
    pub vipps: StandIn,
    pub open: String,
    pub invited: String,
}

impl Setup {
    pub async fn start(database: &TestDatabase) -> Self {
        let stack = Stack::start(database).await;
        let plane = stack.region_with_data_plane("eu").await;
        stack
            .create(
                "/v1/apis",
                json!({ "name": API, "region": "eu", "description": "login rules",
                        "roles": ["reader", "writer"], "defaultRoles": ["reader"] }),
            )
            .await;
        let vipps = StandIn::start(Provider::Vipps, stack.clock.clone()).await;
        let secret = Client {
            secret: Some("vipps-secret".into()),
            ..Client::default()
        };
        vipps.register("vipps-client", secret);
        let provider = |display_name: &str, auto_create: bool| {
            json!({ "kind": "vipps", "displayName": display_name, "clientId": "vipps-client",
                    "clientSecret": "vipps-secret", "issuer": vipps.vipps_issuer(),
                    "autoCreate": auto_create })
        };
        let providers = format!("/v1/apis/{API}/providers");
        let open = stack.create(&providers, provider("Vipps", true)).await;
        let invited = stack
            .create(&providers, provider("Vipps for members", false))
            .await;
        stack.wait_for_push(&plane).await;
        Self {
            open: open["id"].as_str().expect("provider id").to_owned(),
            invited: invited["id"].as_str().expect("provider id").to_owned(),
            stack,
            plane,
            vipps,
        }
    }

    /// `path` on the API's app host.
    pub fn app(&self, path: &str) -> String {
        format!("http://{API}.{APP_DOMAIN}:{}{path}", self.plane.addr.port())
    }

    pub fn start_url(&self, provider: &str) -> String {
        self.app(&format!("/login/start/{provider}"))
    }

    /// A client that reaches the data plane by the API's host names and follows no redirect.
    pub fn http(&self) -> reqwest::Client {
        let hosts = self.plane.hosts(API);
        self.plane.client(&[&hosts[0], &hosts[1]])
    }

    pub fn browser(&self) -> Browser {
        Browser::new(self.http())
    }

    pub async fn users(&self) -> Vec<Value> {
        let path = format!("/v1/apis/{API}/users");
        let (status, page) = self.stack.admin_request(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"].as_array().expect("items").clone()
    }

    /// Starts a sign-in at `provider` on the app host and lets the stand-in sign the person
    /// in, stopping before the callback: the login cookie and the callback URL the browser
    /// would follow.
    pub async fn until_callback(&self, provider: &str) -> (String, String) {
        self.until_callback_at(&self.start_url(provider), "/").await
    }

    /// [`Self::until_callback`] from `start_url`, whose login cookie has the path `path`.
    pub async fn until_callback_at(&self, start_url: &str, path: &str) -> (String, String) {
        let http = self.http();
        let start = http.get(start_url).send().await.expect("start");
        assert_eq!(start.status(), StatusCode::FOUND);
        let login_cookie = set_cookie(&start, LOGIN_COOKIE, path).expect("login cookie");
        let authorize = location(&start);
        let answer = http.get(&authorize).send().await.expect("authorize");
        assert!(answer.status().is_redirection(), "{}", answer.status());
        (login_cookie, location(&answer))
    }

    /// Sends the callback with the login cookie `login_cookie`.
    pub async fn callback(
        &self,
        url: &str,
        login_cookie: &str,
    ) -> (StatusCode, String, Vec<Cookie>) {
        let response = self
            .http()
            .get(url)
            .header(COOKIE, format!("{LOGIN_COOKIE}={login_cookie}"))
            .send()
            .await
            .expect("callback");
        let status = response.status();
        let cookies = set_cookies(&response);
        if status != StatusCode::SEE_OTHER {
            assert_eq!(
                response.headers()[CONTENT_TYPE],
                "text/html; charset=utf-8",
                "a refusal is a page"
            );
        }
        (status, response.text().await.expect("body"), cookies)
    }

    /// `POST path` on the app host with `cookies`, from the app's own origin.
    pub async fn post(&self, path: &str, cookies: &[(&str, &str)]) -> reqwest::Response {
        let header = cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        self.http()
            .post(self.app(path))
            .header(ORIGIN, self.app(""))
            .header(COOKIE, header)
            .send()
            .await
            .expect("POST")
    }
}

/// A cookie set by a response: name, value, path and whether it is being removed.
#[derive(Clone, Debug)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub path: String,
    pub removed: bool,
}

pub fn set_cookies(response: &reqwest::Response) -> Vec<Cookie> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|text| {
            let mut attributes = text.split(';').map(str::trim);
            let (name, value) = attributes.next()?.split_once('=')?;
            let mut cookie = Cookie {
                name: name.to_owned(),
                value: value.to_owned(),
                path: String::new(),
                removed: false,
            };
            for attribute in attributes {
                if let Some(path) = attribute.strip_prefix("Path=") {
                    cookie.path = path.to_owned();
                }
                cookie.removed |= attribute.eq_ignore_ascii_case("Max-Age=0");
            }
            Some(cookie)
        })
        .collect()
}

/// The value of the cookie `name` of `path` that `response` sets (not removes).
pub fn set_cookie(response: &reqwest::Response, name: &str, path: &str) -> Option<String> {
    find_cookie(&set_cookies(response), name, path)
}

pub fn find_cookie(cookies: &[Cookie], name: &str, path: &str) -> Option<String> {
    cookies
        .iter()
        .find(|cookie| cookie.name == name && cookie.path == path && !cookie.removed)
        .map(|cookie| cookie.value.clone())
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()[LOCATION]
        .to_str()
        .expect("Location")
        .to_owned()
}

pub fn person(subject: &str, name: &str, email: &str) -> Person {
    Person {
        subject: subject.to_owned(),
        name: Some(name.to_owned()),
        email: Some(email.to_owned()),
        email_verified: true,
        ..Person::default()
    }
}

/// The claims of the access token the sign-in set.
pub fn signed_in(browser: &Browser, landing: &Landing) -> Value {
    assert_eq!(landing.status, StatusCode::SEE_OTHER, "{}", landing.body);
    let token = browser
        .cookie(&format!("{API}.{APP_DOMAIN}"), ACCESS_COOKIE)
        .expect("access cookie after sign-in");
    let payload = token.split('.').nth(1).expect("JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("claims")
}

/// Asserts a sign-in ended at a page with `status` saying `text`, and without a session.
pub fn refused(browser: &Browser, landing: &Landing, status: StatusCode, text: &str) {
    assert_eq!(landing.status, status, "{}", landing.body);
    assert!(landing.body.contains(text), "{text:?} in {}", landing.body);
    let host = format!("{API}.{APP_DOMAIN}");
    assert!(browser.cookie(&host, ACCESS_COOKIE).is_none());
}
