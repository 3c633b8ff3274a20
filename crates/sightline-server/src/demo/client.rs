//! The demo generator's HTTP client: the server's own API on loopback with a bearer
//! token, so demo data goes through authentication, validation, the writer and the
//! aggregator like any client's.

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    auth: HeaderValue,
}

/// Attempts per request while the server starts or sheds load (503/429/connection).
const ATTEMPTS: u32 = 30;

impl Client {
    pub fn new(addr: std::net::SocketAddr, token: &str) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;
        Ok(Client { http, base: format!("http://{addr}/api/v1"), auth })
    }

    /// Sends a request, retrying while the server is not ready or overloaded; answers
    /// the status and the JSON body (`Null` when there is none).
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Value), String> {
        let url = format!("{}{path}", self.base);
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt.min(10)))).await;
            }
            let sent = self
                .http
                .request(method.clone(), &url)
                .header(AUTHORIZATION, self.auth.clone())
                .header(CONTENT_TYPE, content_type)
                .body(body.clone())
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = format!("{method} {path}: {e}");
                    continue;
                }
            };
            let status = response.status();
            if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
                last = format!("{method} {path}: {status}");
                continue;
            }
            let bytes = response.bytes().await.map_err(|e| format!("{method} {path}: {e}"))?;
            let value =
                if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
            return Ok((status, value));
        }
        Err(last)
    }

    /// POSTs or PUTs a JSON document.
    pub async fn json(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<(StatusCode, Value), String> {
        self.send(method, path, "application/json", body.to_string().into_bytes()).await
    }

    /// Like [`Client::json`], but anything other than success or `409` (already there,
    /// from an earlier demo run) is an error.
    pub async fn ensure(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<Value, String> {
        let (status, value) = self.json(method.clone(), path, body).await?;
        if status.is_success() || status == StatusCode::CONFLICT {
            Ok(value)
        } else {
            Err(format!("{method} {path}: {status} {value}"))
        }
    }
}
