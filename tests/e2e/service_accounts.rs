//! The first complete flow: an operator provisions an API and a service account, the service
//! account obtains tokens in every way the reference page shows, and uses them.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::db::test_databases;
use crate::support::stack::{DataPlaneHandle, Stack};

/// Everything a test needs about one provisioned service account.
#[derive(Clone)]
pub struct Provisioned {
    pub client_id: String,
    pub client_secret: String,
    pub account_id: String,
    pub secret_id: String,
}

/// Creates API `name` in `region` with a `billing` service account holding role `reader`.
pub async fn provision(stack: &Stack, name: &str, region: &str) -> Provisioned {
    stack
        .create(
            "/v1/apis",
            json!({ "name": name, "region": region, "description": "test API",
                    "roles": ["reader", "writer"], "defaultRoles": ["reader"] }),
        )
        .await;
    let account = stack
        .create(
            &format!("/v1/apis/{name}/service-accounts"),
            json!({ "name": "billing", "roles": ["reader"] }),
        )
        .await;
    Provisioned {
        client_id: account["clientId"].as_str().expect("clientId").to_owned(),
        client_secret: account["clientSecret"]
            .as_str()
            .expect("clientSecret")
            .to_owned(),
        account_id: account["id"].as_str().expect("id").to_owned(),
        secret_id: account["secretId"].as_str().expect("secretId").to_owned(),
    }
}

/// `POST <base>/_token` with a JSON body, returning status and body.
pub async fn token_json(client: &reqwest::Client, base: &str, body: Value) -> (StatusCode, Value) {
    let response = client
        .post(format!("{base}/_token"))
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_gets_tokens_in_every_documented_way_and_uses_them() {
    for database in test_databases().await {
        let stack = Stack::start(&database).await;
        let plane = stack.region_with_data_plane("eu").await;
        let account = provision(&stack, "shop", "eu").await;
        let pushed_in = stack.wait_for_push(&plane).await;
        assert!(
            pushed_in < Duration::from_secs(1),
            "{}: push took {pushed_in:?}",
            database.backend
        );

        let hosts = plane.hosts("shop");
        let client = plane.client(&hosts.each_ref().map(String::as_str));
        for base in [plane.regional_base("shop"), plane.app_base("shop")] {
            let tokens = every_client_authentication(&client, &base, &account).await;
            for token in &tokens {
                verify_with_independent_library(&client, &base, token, &account).await;
            }
            userinfo_answers_for_the_token(&client, &base, &tokens[0], &account).await;
        }
        independent_oauth_client_gets_a_token(&plane, &account).await;
        database.drop_database().await;
    }
}

/// Every way the reference page and RFC 6749 allow a confidential client to authenticate.
async fn every_client_authentication(
    client: &reqwest::Client,
    base: &str,
    account: &Provisioned,
) -> Vec<String> {
    let mut tokens = Vec::new();

    // The reference page's `/_auth` with `authority: serviceaccount`.
    let response = client
        .post(format!("{base}/_auth"))
        .json(
            &json!({ "authority": "serviceaccount", "clientId": account.client_id,
                       "clientSecret": account.client_secret }),
        )
        .send()
        .await
        .expect("_auth");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("_auth body");
    tokens.push(body["token"].as_str().expect("token").to_owned());

    // `/_token` with the credentials in a JSON body.
    let (status, body) = token_json(
        client,
        base,
        json!({ "grant_type": "client_credentials", "client_id": account.client_id,
                "client_secret": account.client_secret }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_token_response(&body);
    tokens.push(
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
    );

    // HTTP Basic with a JSON body, as the reference page shows.
    let basic = STANDARD.encode(format!("{}:{}", account.client_id, account.client_secret));
    let response = client
        .post(format!("{base}/_token"))
        .header("authorization", format!("Basic {basic}"))
        .json(&json!({ "grant_type": "client_credentials" }))
        .send()
        .await
        .expect("basic json");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("body");
    assert_token_response(&body);
    tokens.push(
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned(),
    );

    // RFC 6749's own forms: urlencoded body, with credentials in the body or in Basic.
    for basic_auth in [false, true] {
        let mut request = client.post(format!("{base}/_token"));
        let mut form = vec![("grant_type", "client_credentials")];
        if basic_auth {
            request = request.basic_auth(&account.client_id, Some(&account.client_secret));
        } else {
            form.push(("client_id", &account.client_id));
            form.push(("client_secret", &account.client_secret));
        }
        let response = request.form(&form).send().await.expect("form");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "form, basic={basic_auth}"
        );
        let body: Value = response.json().await.expect("body");
        assert_token_response(&body);
        tokens.push(
            body["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned(),
        );
    }
    tokens
}

fn assert_token_response(body: &Value) {
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert_eq!(body["expires_in"], 3600, "{body}");
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3),
        "{body}"
    );
    assert!(
        body["refresh_token"].as_str().is_some_and(|t| t.len() > 40),
        "{body}"
    );
}

/// Checks a token with `jsonwebtoken` (RustCrypto), not the ring code that signed it, against
/// the JWKS the discovery document names.
async fn verify_with_independent_library(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    account: &Provisioned,
) {
    let discovery: Value = client
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("discovery body");
    assert_eq!(discovery["issuer"], base);
    let jwks_uri = discovery["jwks_uri"].as_str().expect("jwks_uri");
    let jwks: jsonwebtoken::jwk::JwkSet = client
        .get(jwks_uri)
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks body");

    let header = jsonwebtoken::decode_header(token).expect("header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let kid = header.kid.expect("kid");
    let jwk = jwks.find(&kid).expect("token's key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("decoding key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_audience(&["shop"]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("valid")
        .claims;

    assert_eq!(claims["sub"], account.account_id);
    assert_eq!(claims["name"], "billing");
    assert_eq!(claims["roles"], json!(["reader"]));
    assert_eq!(claims["client_id"], account.client_id);
    assert!(
        claims["iss"]
            .as_str()
            .is_some_and(|iss| iss.ends_with("/shop") || iss.ends_with("/api"))
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()));
}

/// The userinfo endpoint is the first protected endpoint: it answers for a valid bearer token
/// and challenges everything else (RFC 6750 §3).
async fn userinfo_answers_for_the_token(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    account: &Provisioned,
) {
    let url = format!("{base}/_userinfo");
    let response = client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .expect("userinfo");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("userinfo body");
    assert_eq!(body["sub"], account.account_id);
    assert_eq!(body["name"], "billing");
    assert_eq!(body["roles"], json!(["reader"]));

    let response = client.get(&url).send().await.expect("anonymous");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    let tampered = format!("{}x", &token[..token.len() - 1]);
    let response = client
        .get(&url)
        .bearer_auth(tampered)
        .send()
        .await
        .expect("tampered");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

/// The `oauth2` crate, a widely used client library, gets a token with both client
/// authentication methods and parses our answer as RFC 6749 says.
async fn independent_oauth_client_gets_a_token(plane: &DataPlaneHandle, account: &Provisioned) {
    use oauth2::basic::BasicClient;
    use oauth2::{AuthType, ClientId, ClientSecret, TokenResponse, TokenUrl};

    let http = plane.client(&plane.hosts("shop").each_ref().map(String::as_str));
    for auth_type in [AuthType::BasicAuth, AuthType::RequestBody] {
        let token_url = TokenUrl::new(format!("{}/_token", plane.regional_base("shop"))).unwrap();
        let client = BasicClient::new(ClientId::new(account.client_id.clone()))
            .set_client_secret(ClientSecret::new(account.client_secret.clone()))
            .set_auth_type(auth_type.clone())
            .set_token_uri(token_url);
        let token = client
            .exchange_client_credentials()
            .request_async(&|request| crate::support::oauth_http(&http, request))
            .await
            .expect("oauth2 crate accepts our token response");
        assert_eq!(token.expires_in(), Some(Duration::from_secs(3600)));
        assert!(token.refresh_token().is_some());

        let wrong = BasicClient::new(ClientId::new(account.client_id.clone()))
            .set_client_secret(ClientSecret::new("rcs_wrong".to_owned()))
            .set_auth_type(auth_type)
            .set_token_uri(TokenUrl::new(format!("{}/_token", plane.app_base("shop"))).unwrap());
        let error = wrong
            .exchange_client_credentials()
            .request_async(&|request| crate::support::oauth_http(&http, request))
            .await
            .expect_err("wrong secret refused");
        let oauth2::RequestTokenError::ServerResponse(response) = error else {
            panic!("expected an RFC 6749 error response, got {error:?}");
        };
        assert_eq!(
            response.error(),
            &oauth2::basic::BasicErrorResponseType::InvalidClient
        );
    }
}
