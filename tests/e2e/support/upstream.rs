//! A customer's backend for gateway tests: a local HTTP server on port 0 that answers every
//! request with what it received, as JSON.
//!
//! - any path: `{"method", "path", "query", "headers": {name: "v1 | v2"}, "bodyLength",
//!   "bodySha256", "body"}` (`body` only when shorter than 64 KiB);
//! - `?status=NNN`: answers with that status instead of 200;
//! - `?download=N`: answers N bytes of a repeating pattern, for streaming downloads.

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::net::TcpListener;

/// A running upstream.
pub struct Upstream {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Upstream {
    /// Starts an upstream on a free loopback port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let router = Router::new().fallback(echo);
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url }
    }

    /// A base URL on a loopback port nobody listens on.
    pub fn unreachable() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("local addr"))
    }
}

/// The byte at `index` of every download: a pattern that a shifted or truncated copy breaks.
pub fn pattern_byte(index: usize) -> u8 {
    u8::try_from((index * 31 + index / 251) % 256).expect("below 256")
}

async fn echo(request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let query: Vec<(String, String)> =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    if let Some(length) = param("download").and_then(|value| value.parse::<usize>().ok()) {
        let bytes: Vec<u8> = (0..length).map(pattern_byte).collect();
        return Body::from(bytes).into_response();
    }

    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .expect("request body");
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let values: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
            .collect();
        headers.insert(name.to_string(), json!(values.join(" | ")));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let answer = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "bodyLength": bytes.len(),
        "bodySha256": hex::encode(digest.as_ref()),
        "body": (bytes.len() < 64 * 1024).then(|| String::from_utf8_lossy(&bytes).into_owned()),
    });
    let status = param("status")
        .and_then(|value| value.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    (status, axum::Json(answer)).into_response()
}
