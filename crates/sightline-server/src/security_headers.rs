//! Security headers on every answer (success, error and fallback alike), and HSTS when
//! the server speaks TLS.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// A strict policy for everything the server sends: only its own origin may be loaded,
/// nothing may frame it, no plugins, no `<base>` rewriting of relative URLs. JSON
/// answers are not affected; pages added later start from this and must loosen it
/// explicitly (a handler that sets its own policy keeps it).
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'";

/// One year, the value browsers' preload lists ask for. Without `includeSubDomains`:
/// the server cannot know that every sibling host on its domain speaks HTTPS.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Headers that are right for every answer whatever its handler did.
const ALWAYS: [(HeaderName, &str); 3] = [
    // Browsers must not guess a type: a JSON body echoing input must never run as HTML.
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    // For browsers too old for `frame-ancestors`.
    (header::X_FRAME_OPTIONS, "DENY"),
    // URLs carry model names and ids; they are nobody else's business.
    (header::REFERRER_POLICY, "no-referrer"),
];

/// Headers a handler may choose otherwise (a page with its own policy, a static asset
/// that may be cached); added only when absent.
const DEFAULTS: [(HeaderName, &str); 2] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    // API answers hold production data; no shared or browser cache should keep them.
    (header::CACHE_CONTROL, "no-store"),
];

/// The middleware for every route and fallback (`routes::router`).
pub async fn layer(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in ALWAYS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    for (name, value) in DEFAULTS {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// Added by `Server::serve` when TLS is on: tells browsers to use HTTPS only for this
/// host from now on. Never sent over plain HTTP, where it would be meaningless (and
/// browsers ignore it).
pub async fn hsts(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(STRICT_TRANSPORT_SECURITY));
    response
}
