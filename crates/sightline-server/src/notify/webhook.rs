//! The generic webhook: the notification as JSON, signed so the receiver can check it
//! came from us and is fresh.
//!
//! Headers: `X-Sightline-Timestamp: <unix seconds>` and `X-Sightline-Signature:
//! sha256=<hex>`, the HMAC-SHA256 under the channel's secret of `<timestamp>.<body>`.
//! Signing the timestamp with the body lets a receiver refuse replays: it recomputes
//! the HMAC and rejects a timestamp more than a few minutes old (docs/operations.md).

use super::Notification;
use crate::wire::time::format;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "x-sightline-timestamp";
pub const SIGNATURE_HEADER: &str = "x-sightline-signature";

/// The JSON body of a notification.
pub fn body(n: &Notification) -> Value {
    json!({
        "version": "1",
        "id": n.id,
        "status": n.status.as_str(),
        "fingerprint": n.fingerprint,
        "severity": n.severity.as_str(),
        "labels": n.labels,
        "annotations": n.annotations,
        "value": n.value,
        "starts_at": format(n.starts_at_ms),
        "ends_at": n.ends_at_ms.map(format),
    })
}

/// `sha256=<hex>` of `<timestamp>.<body>` under `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here; the
    // fallback keeps this total anyway.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else { return String::new() };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

pub async fn send(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    n: &Notification,
    now_s: i64,
) -> Result<(), String> {
    post_signed(client, url, secret, body(n).to_string(), now_s).await
}

/// POSTs a JSON `body` with the timestamp and signature headers; any webhook Sightline
/// sends (alert notifications, retraining triggers) goes through here.
pub async fn post_signed(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    body: String,
    now_s: i64,
) -> Result<(), String> {
    let sig = signature(secret.as_bytes(), now_s, body.as_bytes());
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, now_s.to_string())
        .header(SIGNATURE_HEADER, sig)
        .body(body)
        .send()
        .await
        .map_err(super::worker::describe)?;
    super::worker::check_status(response).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac() {
        // The framing: `<timestamp>.<body>` under the secret.
        let direct = {
            let mut mac = Hmac::<Sha256>::new_from_slice(b"key").expect("hmac key");
            mac.update(b"1700000000.{\"a\":1}");
            mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        assert_eq!(signature(b"key", 1_700_000_000, b"{\"a\":1}"), format!("sha256={direct}"));
        // And the primitive itself against RFC 4231 test case 2.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").expect("hmac key");
        mac.update(b"what do ya want for nothing?");
        let rfc: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(rfc, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
