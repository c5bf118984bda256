//! The hosted login in a real browser: Debian's Chromium, driven by playwright-core
//! (`tests/browser/login.spec.mjs`), signs in at a real OpenID provider (`oidc-provider`,
//! `tests/browser/idp.mjs`) configured as the API's `oidc` provider, lands on the API's web
//! upstream with session cookies, calls the upstream through an access rule with the reference
//! page's `apiCall`, lives through the access token's expiry by refreshing, and signs out.
//!
//! A native app's sign-in runs there too: `tests/browser/pkce.spec.mjs` drives the
//! authorization code flow with PKCE through the hosted login with `openid-client`, then
//! refreshes, introspects and revokes.
//!
//! Passkeys run there as well: `tests/browser/passkey.spec.mjs` gives Chromium a virtual
//! authenticator, signs up with a passkey through the real page, signs out, signs in with it
//! and calls the API with the cookies.
//!
//! Chromium and the npm packages are installed by `tests/run`; when either is missing this
//! test fails and says so. It runs on every backend under test: one pass takes a few seconds.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use restapi_shared::Clock;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::db::test_databases;
use crate::support::stack::{APP_DOMAIN, Stack};

/// Debian's Chromium, installed by `tests/run`.
const CHROMIUM: &str = "/usr/bin/chromium";
/// The API under test and the names the login page must show.
const API: &str = "shop";
const DISPLAY_NAME: &str = "shop";
const PROVIDER_NAME: &str = "Test IdP";
/// The person signing in at the provider: login name (the provider's `sub`), name, email.
const LOGIN_NAME: &str = "ada";
const PERSON_NAME: &str = "Ada Lovelace";
const PERSON_EMAIL: &str = "ada@example.test";
/// What the web upstream's page says, so the script knows it landed there.
const WEB_MARKER: &str = "Shop web app";
/// How long the whole browser script may take before it is killed.
const SCRIPT_LIMIT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_login_signs_in_refreshes_and_signs_out_in_a_real_browser() {
    let browser_dir = require_browser_tools();
    for database in test_databases().await {
        let started = Instant::now();
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        let upstream = Upstream::start().await;

        stack
            .create(
                "/v1/apis",
                json!({ "name": API, "region": "eu", "description": "browser test",
                        "roles": ["reader", "writer"], "defaultRoles": ["reader"] }),
            )
            .await;
        let (status, body) = stack
            .admin_request(
                Method::PATCH,
                &format!("/v1/apis/{API}"),
                Some(json!({
                    "upstream": upstream.api_base,
                    "webUpstream": upstream.web_base,
                    "accessRules": [
                        { "role": "_AUTHENTICATED_USER", "methods": ["GET"], "path": "/products" }
                    ],
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "PATCH upstreams and rules: {body}");

        // The provider listens first, so its issuer is known when the API's provider is
        // created; the redirect URI the control plane answers is then registered with it.
        let mut idp = Idp::start(&browser_dir);
        let client_secret = "browser-test-client-secret-0123456789abcdef";
        let provider = stack
            .create(
                &format!("/v1/apis/{API}/providers"),
                json!({ "kind": "oidc", "displayName": PROVIDER_NAME,
                        "clientId": "restapi-browser-test", "clientSecret": client_secret,
                        "issuer": idp.issuer, "autoCreate": true }),
            )
            .await;
        // The data plane listens on a port picked after the control plane started, so the
        // control plane answers the URLs without it (operators set `public_port`); the port
        // is added here before they are registered at the provider.
        let id = provider["id"].as_str().expect("provider id");
        let expected = json!([
            format!("http://{API}.{APP_DOMAIN}/login/callback/{id}"),
            format!("http://{}/{API}/login/callback/{id}", plane.region_host),
        ]);
        assert_eq!(provider["redirectUris"], expected, "{provider}");
        let port = plane.addr.port();
        let redirect_uris = json!([
            format!("http://{API}.{APP_DOMAIN}:{port}/login/callback/{id}"),
            format!(
                "http://{}:{port}/{API}/login/callback/{id}",
                plane.region_host
            ),
        ]);
        idp.register(&json!({ "client_id": "restapi-browser-test",
                               "client_secret": client_secret,
                               "redirect_uris": redirect_uris }));
        stack.wait_for_push(&plane).await;

        let clock = ClockEndpoint::start(stack.clock.clone()).await;
        let app_origin = format!("http://{API}.{APP_DOMAIN}:{}", plane.addr.port());
        let run = run_script(
            &browser_dir,
            "login.spec.mjs",
            &[
                ("APP_ORIGIN", app_origin.as_str()),
                ("CLOCK_URL", clock.url.as_str()),
                ("DISPLAY_NAME", DISPLAY_NAME),
                ("PROVIDER_NAME", PROVIDER_NAME),
                ("LOGIN_NAME", LOGIN_NAME),
                ("WEB_MARKER", WEB_MARKER),
                ("CHROMIUM", CHROMIUM),
            ],
        )
        .await;
        let report = format!(
            "{}: login.spec.mjs {}\n--- stdout\n{}\n--- stderr\n{}\n--- idp.mjs\n{}",
            database.backend,
            run.outcome,
            run.stdout,
            run.stderr,
            idp.log()
        );
        assert!(run.passed, "{report}");

        // The provider's person became a user of the API, linked to the provider's subject.
        let (status, page) = stack
            .admin_request(
                Method::GET,
                &format!("/v1/apis/{API}/users?email={PERSON_EMAIL}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let users = page["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(users.len(), 1, "one user auto-created: {page}\n{report}");
        let user = &users[0];
        assert_eq!(user["name"], PERSON_NAME, "{user}");
        assert_eq!(user["roles"], json!(["reader"]), "default roles: {user}");
        let user_id = user["id"].as_str().expect("user id").to_owned();
        let (_, identities) = stack
            .admin_request(
                Method::GET,
                &format!("/v1/apis/{API}/users/{user_id}/identities"),
                None,
            )
            .await;
        assert!(
            identities
                .to_string()
                .contains(&format!("\"{LOGIN_NAME}\"")),
            "the user is linked to the provider's subject {LOGIN_NAME}: {identities}"
        );

        // The upstream saw exactly the two signed-in calls (before and after the refresh),
        // each naming the user; the call after logout never reached it.
        let seen = upstream.requests();
        assert_eq!(
            seen.len(),
            2,
            "the upstream's requests: {seen:#?}\n{report}"
        );
        for request in &seen {
            assert_eq!(request.target, "/products", "{request:#?}");
            assert!(
                request
                    .headers
                    .values()
                    .any(|value| value.contains(&user_id)),
                "the upstream is told the caller is {user_id}: {request:#?}"
            );
        }
        for line in run
            .stdout
            .lines()
            .filter(|line| line.starts_with("IDENTITY "))
        {
            assert!(
                line.contains(&user_id),
                "the page got the upstream's answer: {line}"
            );
        }

        eprintln!(
            "browser test on {}: {:.1} s in all, of which the script {:.1} s",
            database.backend,
            started.elapsed().as_secs_f64(),
            run.took.as_secs_f64()
        );
        drop(idp);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_app_signs_in_with_pkce_through_an_independent_library() {
    let browser_dir = require_browser_tools();
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        stack
            .create(
                "/v1/apis",
                json!({ "name": API, "region": "eu", "description": "native app",
                        "roles": ["reader"], "defaultRoles": ["reader"] }),
            )
            .await;
        let mut idp = Idp::start(&browser_dir);
        let client_secret = "pkce-test-client-secret-0123456789abcdef";
        let provider = stack
            .create(
                &format!("/v1/apis/{API}/providers"),
                json!({ "kind": "oidc", "displayName": PROVIDER_NAME,
                        "clientId": "restapi-pkce-test", "clientSecret": client_secret,
                        "issuer": idp.issuer, "autoCreate": true }),
            )
            .await;
        let id = provider["id"].as_str().expect("provider id");
        let port = plane.addr.port();
        idp.register(
            &json!({ "client_id": "restapi-pkce-test", "client_secret": client_secret,
            "redirect_uris": [format!("http://{API}.{APP_DOMAIN}:{port}/login/callback/{id}")] }),
        );
        let app = stack
            .create(
                &format!("/v1/apis/{API}/clients"),
                json!({ "name": "Shop for Android", "redirectUris": ["http://127.0.0.1/callback"] }),
            )
            .await;
        let service = stack
            .create(
                &format!("/v1/apis/{API}/service-accounts"),
                json!({ "name": "inventory", "roles": ["reader"] }),
            )
            .await;
        stack.wait_for_push(&plane).await;

        let issuer = format!("http://{API}.{APP_DOMAIN}:{port}/api");
        let data_plane = plane.addr.to_string();
        let run = run_script(
            &browser_dir,
            "pkce.spec.mjs",
            &[
                ("ISSUER", issuer.as_str()),
                ("DATA_PLANE", data_plane.as_str()),
                ("CLIENT_ID", app["clientId"].as_str().expect("clientId")),
                (
                    "SERVICE_ID",
                    service["clientId"].as_str().expect("clientId"),
                ),
                (
                    "SERVICE_SECRET",
                    service["clientSecret"].as_str().expect("secret"),
                ),
                ("PROVIDER_NAME", PROVIDER_NAME),
                ("LOGIN_NAME", LOGIN_NAME),
                ("CHROMIUM", CHROMIUM),
            ],
        )
        .await;
        assert!(
            run.passed,
            "{}: pkce.spec.mjs {}\n--- stdout\n{}\n--- stderr\n{}\n--- idp.mjs\n{}",
            database.backend,
            run.outcome,
            run.stdout,
            run.stderr,
            idp.log()
        );
        let summary = run.stdout.lines().last().unwrap_or_default();
        eprintln!("pkce.spec.mjs on {}: {summary}", database.backend);
        drop(idp);
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_up_and_in_with_a_passkey_in_a_real_browser() {
    let browser_dir = require_browser_tools();
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        stack
            .create(
                "/v1/apis",
                json!({ "name": API, "region": "eu", "description": "passkeys",
                        "roles": ["reader"], "defaultRoles": ["reader"] }),
            )
            .await;
        stack
            .create(
                &format!("/v1/apis/{API}/providers"),
                json!({ "kind": "passkey", "autoCreate": true }),
            )
            .await;
        stack.wait_for_push(&plane).await;

        let app_origin = format!("http://{API}.{APP_DOMAIN}:{}", plane.addr.port());
        let run = run_script(
            &browser_dir,
            "passkey.spec.mjs",
            &[
                ("APP_ORIGIN", app_origin.as_str()),
                ("PERSON_NAME", PERSON_NAME),
                ("PERSON_EMAIL", PERSON_EMAIL),
                ("CHROMIUM", CHROMIUM),
            ],
        )
        .await;
        let report = format!(
            "{}: passkey.spec.mjs {}\n--- stdout\n{}\n--- stderr\n{}",
            database.backend, run.outcome, run.stdout, run.stderr
        );
        assert!(run.passed, "{report}");

        // The person became one user with the API's default roles and one passkey.
        let (status, page) = stack
            .admin_request(Method::GET, &format!("/v1/apis/{API}/users"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let users = page["items"].as_array().cloned().unwrap_or_default();
        assert_eq!(users.len(), 1, "{page}\n{report}");
        assert_eq!(users[0]["roles"], json!(["reader"]), "{page}");
        let user_id = users[0]["id"].as_str().expect("user id");
        assert!(
            run.stdout.contains(&format!("USER {user_id}")),
            "the browser signed in as {user_id}:\n{report}"
        );
        let (_, passkeys) = stack
            .admin_request(
                Method::GET,
                &format!("/v1/apis/{API}/users/{user_id}/passkeys"),
                None,
            )
            .await;
        let passkeys = passkeys.as_array().cloned().unwrap_or_default();
        assert_eq!(passkeys.len(), 1, "{passkeys:?}");
        assert!(passkeys[0]["lastUsedAt"].is_string(), "{passkeys:?}");
        eprintln!(
            "passkey.spec.mjs on {}: {:.1} s",
            database.backend,
            run.took.as_secs_f64()
        );
        database.drop_database().await;
    }
}

/// Fails, never skips, when what `tests/run` installs is missing; answers `tests/browser`.
fn require_browser_tools() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run tests/run, which installs Debian's chromium"
    );
    for package in ["playwright-core", "oidc-provider", "openid-client"] {
        assert!(
            dir.join("node_modules").join(package).is_dir(),
            "tests/browser/node_modules/{package} is missing: run tests/run, which runs npm ci"
        );
    }
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|output| output.status.success()),
        "node is missing: install Node.js 20 or later, then run tests/run ({node:?})"
    );
    dir
}

/// Collects everything a child writes to one of its pipes, on a thread of its own.
fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        let mut buffer = [0_u8; 4096];
        while let Ok(read) = pipe.read(&mut buffer) {
            if read == 0 {
                break;
            }
            sink.lock()
                .expect("log lock")
                .push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    });
    text
}

/// `tests/browser/idp.mjs`, killed when dropped (and ending by itself when its stdin closes).
struct Idp {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    issuer: String,
}

impl Idp {
    fn start(dir: &Path) -> Self {
        let mut child = Command::new("node")
            .arg("idp.mjs")
            .current_dir(dir)
            .env("IDP_NAME", PERSON_NAME)
            .env("IDP_EMAIL", PERSON_EMAIL)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node tests/browser/idp.mjs starts");
        let stdout = child.stdout.take().expect("idp stdout");
        let stderr = collect(child.stderr.take().expect("idp stderr"));
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut idp = Self {
            stdin: child.stdin.take(),
            child,
            lines,
            stderr,
            issuer: String::new(),
        };
        let ready = idp.next_line("READY ");
        idp.issuer = ready.trim_start_matches("READY ").to_owned();
        idp
    }

    /// Registers the provider's one client; panics with the provider's words if refused.
    fn register(&mut self, client: &Value) {
        let stdin = self.stdin.as_mut().expect("idp stdin");
        writeln!(stdin, "{client}").expect("write to idp.mjs");
        stdin.flush().expect("flush idp.mjs");
        let answer = self.next_line("CLIENT ");
        assert!(
            answer.starts_with("CLIENT "),
            "idp.mjs refused the client: {answer}"
        );
    }

    /// The next line starting with `prefix` or `ERROR`; panics after ten seconds.
    fn next_line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::task::block_in_place(|| self.lines.recv_timeout(left)) {
                Ok(line) if line.starts_with(prefix) || line.starts_with("ERROR") => return line,
                Ok(_) => {}
                Err(error) => panic!(
                    "idp.mjs said no `{prefix}` line ({error}); its stderr:\n{}",
                    self.log()
                ),
            }
        }
    }

    fn log(&self) -> String {
        self.stderr.lock().expect("log lock").clone()
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a run of a script went.
struct ScriptRun {
    passed: bool,
    outcome: String,
    stdout: String,
    stderr: String,
    took: Duration,
}

/// Runs `node <script>` with `env`, without holding up the runtime the stack runs on.
async fn run_script(dir: &Path, script: &str, env: &[(&str, &str)]) -> ScriptRun {
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg(script)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts the script in tests/browser");
    let stdout = collect(child.stdout.take().expect("script stdout"));
    let stderr = collect(child.stderr.take().expect("script stderr"));
    let (passed, outcome) = loop {
        match child.try_wait().expect("script status") {
            Some(status) => break (status.success(), format!("ended: {status}")),
            None if started.elapsed() > SCRIPT_LIMIT => {
                let _ = child.kill();
                let _ = child.wait();
                break (false, format!("killed after {SCRIPT_LIMIT:?}"));
            }
            None => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    // The pipes close with the process; give the readers a moment to take the last bytes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let stdout = stdout.lock().expect("log lock").clone();
    let stderr = stderr.lock().expect("log lock").clone();
    ScriptRun {
        passed,
        outcome,
        stdout,
        stderr,
        took: started.elapsed(),
    }
}

/// One request as a small HTTP/1.1 server read it.
#[derive(Clone, Debug)]
struct Request {
    method: String,
    target: String,
    /// Header names in lower case; repeated headers joined with `, `.
    headers: BTreeMap<String, String>,
}

/// Serves `listener` with `handler`, one request per connection (`Connection: close`):
/// enough for the data plane's forwarding and for node's `fetch`.
fn serve<F>(listener: TcpListener, handler: F)
where
    F: Fn(&Request) -> (u16, &'static str, String) + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let handler = Arc::clone(&handler);
            tokio::spawn(async move {
                if let Some((request, mut stream)) = read_request(stream).await {
                    let (status, content_type, body) = handler(&request);
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(body.as_bytes()).await;
                    let _ = stream.shutdown().await;
                }
            });
        }
    });
}

/// Reads one request's head and skips its body (by `content-length`).
async fn read_request(mut stream: TcpStream) -> Option<(Request, TcpStream)> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let end = loop {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(at) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break at;
        }
        if buffer.len() > 64 * 1024 {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?.to_owned();
    let mut headers = BTreeMap::<String, String>::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers
            .entry(name.trim().to_ascii_lowercase())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(value.trim());
            })
            .or_insert_with(|| value.trim().to_owned());
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|value| value.parse().ok())
        .unwrap_or(0);
    let mut have = buffer.len() - (end + 4);
    while have < length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            break;
        }
        have += read;
    }
    Some((
        Request {
            method,
            target,
            headers,
        },
        stream,
    ))
}

/// The customer's backend (`/products`, answering with the headers it was sent, so the page
/// sees the identity the data plane forwarded) and web app (`/`), each on its own port.
struct Upstream {
    api_base: String,
    web_base: String,
    seen: Arc<Mutex<Vec<Request>>>,
}

impl Upstream {
    async fn start() -> Self {
        let api = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let web = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind web upstream");
        let api_base = format!("http://{}", api.local_addr().expect("upstream addr"));
        let web_base = format!("http://{}", web.local_addr().expect("web addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        serve(api, move |request| {
            log.lock().expect("upstream log").push(request.clone());
            if request.method == "GET" && request.target == "/products" {
                let body = json!({ "products": ["tea", "scones"], "headers": request.headers });
                (200, "application/json", body.to_string())
            } else {
                (
                    404,
                    "application/json",
                    json!({ "error": "not_found" }).to_string(),
                )
            }
        });
        serve(web, |request| {
            if request.target == "/" {
                let page = format!(
                    "<!DOCTYPE html><html lang=\"en\"><title>Shop</title>\
                     <h1>{WEB_MARKER}</h1><p>Signed-in pages live here.</p></html>"
                );
                (200, "text/html; charset=utf-8", page)
            } else {
                (404, "text/plain", "not found".to_owned())
            }
        });
        Self {
            api_base,
            web_base,
            seen,
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().expect("upstream log").clone()
    }
}

/// `POST /advance?seconds=N` moves the stack's manual clock N seconds forward.
struct ClockEndpoint {
    url: String,
}

impl ClockEndpoint {
    async fn start(clock: Clock) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind clock");
        let url = format!("http://{}", listener.local_addr().expect("clock addr"));
        serve(listener, move |request| {
            let seconds = request
                .target
                .strip_prefix("/advance?seconds=")
                .and_then(|seconds| seconds.parse::<i64>().ok());
            match (request.method.as_str(), seconds) {
                ("POST", Some(seconds)) if seconds > 0 => {
                    clock.advance(seconds);
                    (200, "text/plain", format!("advanced {seconds} s"))
                }
                _ => (400, "text/plain", "POST /advance?seconds=N".to_owned()),
            }
        });
        Self { url }
    }
}
