//! Router-level tests through `tower::ServiceExt::oneshot`: no socket, a SQLite file.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use restapi_shared::Clock;
use restapi_shared::node::{CHANGES_PATH, INSTANCE_HEADER, REGION_HEADER, SNAPSHOT_PATH};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{ControlPlane, Settings};

const ADMIN_TOKEN: &str = "rot_router-test-token-0123456789";

struct TestPlane {
    plane: ControlPlane,
    router: Router,
    data_dir: std::path::PathBuf,
}

impl Drop for TestPlane {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

async fn start() -> TestPlane {
    let data_dir = std::env::temp_dir().join(restapi_shared::ids::new_id("cp-router-test"));
    let settings = Settings {
        data_dir: data_dir.clone(),
        admin_token: Some(restapi_shared::secret::SecretString::new(
            ADMIN_TOKEN.to_owned(),
        )),
        master_key: Some(crate::load_or_create_dev_master_key(&data_dir).unwrap()),
        signing_key_publish_delay_seconds: 0,
        ..Settings::default()
    };
    let plane = ControlPlane::start(&settings, Clock::manual(1_800_000_000))
        .await
        .unwrap();
    let router = plane.router();
    TestPlane {
        plane,
        router,
        data_dir,
    }
}

impl TestPlane {
    async fn call(&self, request: Request<Body>) -> (StatusCode, Value, axum::http::HeaderMap) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body, headers)
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"));
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let (status, body, _) = self.call(request.body(body).unwrap()).await;
        (status, body)
    }

    async fn region_and_api(&self) {
        let region = json!({"name": "eu", "host": "eu.restapi.test"});
        assert_eq!(
            self.admin(Method::POST, "/v1/regions", Some(region))
                .await
                .0,
            StatusCode::CREATED
        );
        let api = json!({"name": "shop", "region": "eu", "roles": ["reader"], "defaultRoles": []});
        assert_eq!(
            self.admin(Method::POST, "/v1/apis", Some(api)).await.0,
            StatusCode::CREATED
        );
    }
}

#[tokio::test]
async fn admin_api_needs_an_operator_token() {
    let plane = start().await;
    for authorization in [None, Some("Bearer rot_wrong"), Some("Basic abc")] {
        let mut request = Request::get("/v1/apis");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let (status, body, headers) = plane.call(request.body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "unauthorized");
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
    }
    assert!(plane.plane.generated_admin_token().is_none());
}

#[tokio::test]
async fn bad_bodies_get_json_errors_and_change_nothing() {
    let plane = start().await;
    let request = |content_type: &str, body: Body| {
        Request::post("/v1/regions")
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .unwrap()
    };

    let (status, body, _) = plane
        .call(request("application/json", Body::from("{\"name\":")))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_body"))
    );
    let (status, body, _) = plane.call(request("text/plain", Body::from("{}"))).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body["error"], "unsupported_media_type");
    let huge = format!("{{\"name\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let (status, body, _) = plane
        .call(request("application/json", Body::from(huge)))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "payload_too_large");
    let unknown = json!({"name": "eu", "host": "eu.test", "extra": 1}).to_string();
    let (status, body, _) = plane
        .call(request("application/json", Body::from(unknown)))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_body"))
    );

    assert_eq!(
        plane.admin(Method::GET, "/v1/regions", None).await.1,
        json!([])
    );
}

#[tokio::test]
async fn api_names_are_checked_with_reasons() {
    let plane = start().await;
    plane.region_and_api().await;
    for (name, reason) in [
        ("www", "reserved"),
        ("eu", "region"),
        ("Shop", "lowercase"),
        ("-a", "'-'"),
    ] {
        let api = json!({"name": name, "region": "eu"});
        let (status, body) = plane.admin(Method::POST, "/v1/apis", Some(api)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}");
        assert_eq!(body["error"], "invalid_name");
        assert!(body["message"].as_str().unwrap().contains(reason), "{body}");
    }
    let again = json!({"name": "shop", "region": "eu"});
    let (status, body) = plane.admin(Method::POST, "/v1/apis", Some(again)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    let bad_default =
        json!({"name": "blog", "region": "eu", "roles": ["a"], "defaultRoles": ["b"]});
    let (status, body) = plane
        .admin(Method::POST, "/v1/apis", Some(bad_default))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_field"))
    );
    let (status, body) = plane.admin(Method::DELETE, "/v1/regions/eu", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
}

#[tokio::test]
async fn service_accounts_show_their_secret_once() {
    let plane = start().await;
    plane.region_and_api().await;
    let base = "/v1/apis/shop/service-accounts";
    let new = json!({"name": "billing", "roles": ["reader"]});
    let (status, created) = plane.admin(Method::POST, base, Some(new)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(
        created["clientSecret"]
            .as_str()
            .unwrap()
            .starts_with("rcs_")
    );
    assert!(created["clientId"].as_str().unwrap().starts_with("cid_"));
    let id = created["id"].as_str().unwrap();

    let (status, listed) = plane.admin(Method::GET, base, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !listed
            .to_string()
            .contains(created["clientSecret"].as_str().unwrap())
    );
    assert!(listed[0].get("clientSecret").is_none());

    let secrets = format!("{base}/{id}/secrets");
    let (status, secret) = plane.admin(Method::POST, &secrets, None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(secret["enabled"], true);
    // Two years of 365 days after the manual clock's 2027-01-15T08:00:00Z.
    assert_eq!(secret["expiresAt"], "2029-01-14T08:00:00Z");
    let secret_path = format!("{secrets}/{}", secret["id"].as_str().unwrap());
    let (status, changed) = plane
        .admin(Method::PATCH, &secret_path, Some(json!({"enabled": false})))
        .await;
    assert_eq!(
        (status, &changed["enabled"]),
        (StatusCode::OK, &json!(false))
    );
    assert_eq!(
        plane.admin(Method::DELETE, &secret_path, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        plane.admin(Method::DELETE, &secret_path, None).await.0,
        StatusCode::NOT_FOUND
    );

    let unknown_role = json!({"roles": ["owner"]});
    let account = format!("{base}/{id}");
    let (status, body) = plane
        .admin(Method::PATCH, &account, Some(unknown_role))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_field"))
    );
    let drop_role = json!({"roles": []});
    let (status, _) = plane
        .admin(Method::PATCH, "/v1/apis/shop", Some(drop_role))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn rotation_adds_a_key_and_retires_the_old_one() {
    let plane = start().await;
    plane.region_and_api().await;
    let (status, rotated) = plane
        .admin(Method::POST, "/v1/apis/shop/signing-keys/rotate", None)
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(rotated["publicJwk"]["kid"], rotated["kid"]);
    let (_, keys) = plane
        .admin(Method::GET, "/v1/apis/shop/signing-keys", None)
        .await;
    let states: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    // The publish delay is 0 here, so the new key signs at once.
    assert_eq!(states, ["retiring", "active"]);
    assert!(keys[0]["retireAt"].is_string());
}

#[tokio::test]
async fn node_api_checks_the_credential_and_region() {
    let plane = start().await;
    plane.region_and_api().await;
    let token = plane.plane.ensure_dev_region().await.unwrap();
    let node = |path: &str, region: &str, token: &str| {
        Request::get(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(REGION_HEADER, region)
            .header(INSTANCE_HEADER, "instance-1")
            .body(Body::empty())
            .unwrap()
    };

    let (status, snapshot, _) = plane.call(node(SNAPSHOT_PATH, "eu", token.expose())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(snapshot["apis"][0]["name"], "shop");
    let (status, body, _) = plane.call(node(SNAPSHOT_PATH, "no", token.expose())).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("wrong_region"))
    );
    let (status, _, _) = plane.call(node(SNAPSHOT_PATH, "eu", "rnt_wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let revision = snapshot["revision"].as_i64().unwrap();
    let path = format!("{CHANGES_PATH}?after={revision}&waitSeconds=0");
    let (status, batch, _) = plane.call(node(&path, "eu", token.expose())).await;
    assert_eq!(
        (status, batch["changes"].clone()),
        (StatusCode::OK, json!([]))
    );
    let (status, body, _) = plane
        .call(node(
            &format!("{CHANGES_PATH}?after=-5"),
            "eu",
            token.expose(),
        ))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::GONE, Some("revision_gone"))
    );
    let (status, body, _) = plane.call(node(CHANGES_PATH, "eu", token.expose())).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    let (_, planes) = plane.admin(Method::GET, "/v1/data-planes", None).await;
    assert_eq!(planes[0]["instance"], "instance-1");
    assert_eq!(planes[0]["credentialName"], "dev");
    assert_eq!(planes[0]["connected"], true);

    // A second dev start replaces the credential.
    plane.plane.ensure_dev_region().await.unwrap();
    let (status, _, _) = plane.call(node(SNAPSHOT_PATH, "eu", token.expose())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_long_poll_answers_when_its_region_changes() {
    let plane = start().await;
    plane.region_and_api().await;
    let token = plane.plane.ensure_dev_region().await.unwrap();
    let head = plane.plane.store().refresh_head().await.unwrap();
    let request = Request::get(format!("{CHANGES_PATH}?after={head}&waitSeconds=20"))
        .header(header::AUTHORIZATION, format!("Bearer {}", token.expose()))
        .header(REGION_HEADER, "eu")
        .header(INSTANCE_HEADER, "instance-1")
        .body(Body::empty())
        .unwrap();
    let poll = tokio::spawn(plane.router.clone().oneshot(request));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!poll.is_finished());

    let started = std::time::Instant::now();
    let change = json!({"description": "changed"});
    assert_eq!(
        plane
            .admin(Method::PATCH, "/v1/apis/shop", Some(change))
            .await
            .0,
        StatusCode::OK
    );
    let response = poll.await.unwrap().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    let batch: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(batch["changes"][0]["type"], "apiUpserted");
    assert_eq!(batch["revision"], head + 1);
}

#[tokio::test]
async fn probes_unknown_routes_and_request_ids() {
    let plane = start().await;
    let (status, body, headers) = plane
        .call(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    assert!(!headers["x-request-id"].is_empty());
    let request = Request::get("/readyz")
        .header("x-request-id", "req-42")
        .body(Body::empty());
    let (status, _, headers) = plane.call(request.unwrap()).await;
    assert_eq!(
        (status, &headers["x-request-id"]),
        (StatusCode::OK, &"req-42".parse().unwrap())
    );

    let (status, body, _) = plane
        .call(Request::get("/nowhere").body(Body::empty()).unwrap())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (status, body, _) = plane
        .call(Request::put("/v1/regions").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"], "method_not_allowed");

    let (status, document, _) = plane
        .call(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
    let response = plane
        .router
        .clone()
        .oneshot(Request::get("/docs/").body(Body::empty()).unwrap());
    assert_eq!(response.await.unwrap().status(), StatusCode::OK);
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let committed = include_str!("../../../openapi/control-plane.json");
    let generated = crate::openapi().to_pretty_json().unwrap() + "\n";
    assert!(
        committed == generated,
        "regenerate: restapi-control-plane openapi > openapi/control-plane.json"
    );
}

#[test]
fn node_paths_match_the_shared_constants() {
    let document = crate::openapi();
    for path in [
        SNAPSHOT_PATH,
        CHANGES_PATH,
        restapi_shared::node::REDEEM_REFRESH_PATH,
        restapi_shared::node::RESOLVE_USER_PATH,
    ] {
        assert!(document.paths.paths.contains_key(path), "{path}");
    }
}

#[tokio::test]
async fn graceful_shutdown_answers_open_long_polls_at_once() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let plane = start().await;
    plane.region_and_api().await;
    let token = plane.plane.ensure_dev_region().await.unwrap();
    let head = plane.plane.store().refresh_head().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(crate::serve(listener, plane.router.clone(), async {
        let _ = stopped.await;
    }));

    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {CHANGES_PATH}?after={head}&waitSeconds=25 HTTP/1.1\r\nhost: cp\r\n\
         authorization: Bearer {}\r\n{REGION_HEADER}: eu\r\n{INSTANCE_HEADER}: i-1\r\n\
         connection: close\r\n\r\n",
        token.expose()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let started = std::time::Instant::now();
    stop.send(()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    server.await.unwrap().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"changes\":[]"), "{response}");
}
