//! What operators run the platform with: the metrics both planes serve, and the operator
//! tokens of the admin API.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::service_accounts::{provision, token_json};
use crate::support::db::test_databases;
use crate::support::stack::{ADMIN_TOKEN, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_planes_count_the_traffic_they_served() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        let account = provision(&stack, "shop", "eu").await;
        stack.wait_for_push(&plane).await;
        let hosts = plane.hosts("shop");
        let client = plane.client(&hosts.each_ref().map(String::as_str));
        let base = plane.regional_base("shop");

        let credentials = json!({ "grant_type": "client_credentials",
            "client_id": account.client_id, "client_secret": account.client_secret });
        let mut issued = Vec::new();
        for _ in 0..3 {
            let (status, body) = token_json(&client, &base, credentials.clone()).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            issued.push(body);
        }
        let wrong_secret = json!({ "grant_type": "client_credentials",
            "client_id": account.client_id, "client_secret": "rcs_wrong" });
        let (status, _) = token_json(&client, &base, wrong_secret).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let refresh = json!({ "grant_type": "refresh_token", "client_id": account.client_id,
            "refresh_token": issued[0]["refresh_token"] });
        let (status, _) = token_json(&client, &base, refresh.clone()).await;
        assert_eq!(status, StatusCode::OK);
        // The same refresh token again, after the grace window for a lost answer: reuse,
        // which revokes the family.
        stack.clock.advance(31);
        let (status, _) = token_json(&client, &base, refresh).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        // The revoked family is announced to the data plane: a revision of its own.
        stack.wait_for_push(&plane).await;

        let data_plane = scrape(
            &format!("http://{}:{}/metrics", plane.region_host, plane.addr.port()),
            &client,
        )
        .await;
        let served = plane.plane.revision().expect("served revision");
        assert_eq!(data_plane.value("restapi_config_revision"), served);
        assert_eq!(data_plane.value("restapi_config_ready"), 1);
        assert_eq!(data_plane.value("restapi_config_apis"), 1);
        assert!(data_plane.value("restapi_sync_snapshots_total") >= 1);
        let grants = |grant_type: &str, outcome: &str| {
            data_plane.value(&format!(
                "restapi_token_grants_total{{grant_type=\"{grant_type}\",outcome=\"{outcome}\"}}"
            ))
        };
        assert_eq!(grants("client_credentials", "issued"), 3);
        assert_eq!(grants("client_credentials", "refused"), 1);
        assert_eq!(grants("refresh_token", "issued"), 1);
        assert_eq!(grants("refresh_token", "refused"), 1);
        assert_eq!(grants("serviceaccount_auth", "issued"), 0);
        let refusals = |error: &str| {
            data_plane.value(&format!(
                "restapi_token_refusals_total{{error=\"{error}\"}}"
            ))
        };
        assert_eq!(
            (refusals("invalid_client"), refusals("invalid_grant")),
            (1, 1)
        );
        assert_eq!(
            data_plane.value("restapi_http_requests_total{class=\"2xx\"}"),
            4
        );

        // The control plane's metrics need no operator token.
        let control = scrape(
            &format!("{}/metrics", stack.control_url),
            &reqwest::Client::new(),
        )
        .await;
        assert_eq!(control.value("restapi_config_head_revision"), served);
        assert_eq!(
            control.value("restapi_data_planes_connected{region=\"eu\"}"),
            1
        );
        assert!(control.value("restapi_node_requests_total{call=\"snapshot\"}") >= 1);
        assert_eq!(
            control.value("restapi_node_requests_total{call=\"redeem\"}"),
            2
        );
        let redemptions = |outcome: &str| {
            control.value(&format!(
                "restapi_refresh_redemptions_total{{outcome=\"{outcome}\"}}"
            ))
        };
        assert_eq!(
            (
                redemptions("redeemed"),
                redemptions("reused"),
                redemptions("revoked")
            ),
            (1, 1, 0)
        );
        database.drop_database().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_tokens_are_created_used_listed_and_deleted() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let created = stack
            .create("/v1/operator-tokens", json!({ "name": "deploy-pipeline" }))
            .await;
        let token = created["token"].as_str().expect("token").to_owned();
        let id = created["id"].as_str().expect("id").to_owned();
        assert!(
            token.starts_with("rot_") && id.starts_with("op_"),
            "{created}"
        );
        assert_eq!(created["name"], "deploy-pipeline");
        assert!(created["createdAt"].is_string(), "{created}");

        // The new token works on the admin API.
        let (status, _) = as_operator(&stack, &token, Method::GET, "/v1/regions").await;
        assert_eq!(status, StatusCode::OK);

        // The list shows both tokens, never a value or a digest.
        let (status, listed) =
            as_operator(&stack, &token, Method::GET, "/v1/operator-tokens").await;
        assert_eq!(status, StatusCode::OK);
        let id_named = |name: &str| {
            let entries = listed.as_array().expect("list");
            let entry = entries.iter().find(|entry| entry["name"] == name);
            entry.map(|entry| entry["id"].as_str().expect("id").to_owned())
        };
        assert_eq!(listed.as_array().expect("list").len(), 2, "{listed}");
        assert_eq!(id_named("deploy-pipeline").as_deref(), Some(id.as_str()));
        let bootstrap = id_named("bootstrap").expect("the bootstrap token is listed");
        for entry in listed.as_array().expect("list") {
            let mut keys: Vec<&String> = entry.as_object().expect("object").keys().collect();
            keys.sort();
            assert_eq!(keys, ["createdAt", "id", "name"], "{entry}");
        }
        let text = listed.to_string();
        assert!(!text.contains(&token) && !text.contains(ADMIN_TOKEN));

        // A token cannot delete itself: that could lock the operator out.
        let path = format!("/v1/operator-tokens/{id}");
        let (status, body) = as_operator(&stack, &token, Method::DELETE, &path).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"], "conflict");
        assert!(body["message"].as_str().expect("message").contains("lock"));
        let (status, _) = stack
            .admin_request(
                Method::DELETE,
                &format!("/v1/operator-tokens/{bootstrap}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);

        // Deleted with another token, it is refused from the next request on.
        let (status, _) = stack.admin_request(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, body) = as_operator(&stack, &token, Method::GET, "/v1/regions").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "unauthorized");
        let (status, _) = stack.admin_request(Method::DELETE, &path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // The bootstrap's name is reserved: a token named so would vanish on a restart.
        let (status, body) = stack
            .admin_request(
                Method::POST,
                "/v1/operator-tokens",
                Some(json!({ "name": "bootstrap" })),
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_field"))
        );
        database.drop_database().await;
    }
}

/// An admin request with `token` instead of the stack's operator token.
async fn as_operator(
    stack: &Stack,
    token: &str,
    method: Method,
    path: &str,
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .request(method, format!("{}{path}", stack.control_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("admin request");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A scraped text exposition.
struct Scrape {
    text: String,
}

impl Scrape {
    /// The value of the series `series` (name and labels, as written); panics when absent.
    fn value(&self, series: &str) -> i64 {
        let line = self
            .text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .find(|line| {
                line.rsplit_once(' ')
                    .is_some_and(|(name, _)| name == series)
            })
            .unwrap_or_else(|| panic!("no {series} in\n{}", self.text));
        let value = line.rsplit_once(' ').expect("value").1;
        value
            .parse()
            .unwrap_or_else(|_| panic!("{series}: {value}"))
    }
}

async fn scrape(url: &str, client: &reqwest::Client) -> Scrape {
    let response = client.get(url).send().await.expect("scrape");
    assert_eq!(response.status(), StatusCode::OK, "{url}");
    let content_type = response.headers()["content-type"].to_str().expect("type");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.expect("metrics text");
    for line in text.lines() {
        assert!(
            line.starts_with("# HELP ") || line.starts_with("# TYPE ") || !line.starts_with('#'),
            "{line}"
        );
    }
    Scrape { text }
}
