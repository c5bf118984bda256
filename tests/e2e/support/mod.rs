//! What every end-to-end test stands on: databases, a running stack, HTTP helpers.

pub mod db;
pub mod dns;
pub mod hosted;
pub mod passkeys;
pub mod pebble;
pub mod presets;
pub mod stack;
pub mod upstream;

/// Carries a request of the `oauth2` crate over reqwest, so the library talks to the test
/// stack through a client that resolves the test hosts.
pub async fn oauth_http(
    client: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut answer = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    Ok(answer
        .body(body)
        .expect("a response rebuilt from a valid one"))
}
