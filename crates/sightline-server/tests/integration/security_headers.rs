//! Security headers on every kind of answer: a success, a route that does not exist, a
//! refused request, a request without credentials and a method the route does not
//! allow, over HTTP and HTTPS.

use crate::pki::Pki;
use crate::support::{Reply, TestServer};
use reqwest::Method;

fn check(what: &str, r: &Reply) {
    let expected = [
        ("content-security-policy", "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ];
    for (name, value) in expected {
        assert_eq!(r.header(name), Some(value), "{what}: {name} on a {} answer: {:?}", r.status, r.headers);
    }
}

/// One answer of each kind from `server`, checked.
async fn check_answers(server: &TestServer) {
    let ok = server.get("/api/v1/models").await;
    ok.expect_status(200);
    check("GET /api/v1/models", &ok);
    let healthz = server.get("/healthz").await;
    healthz.expect_status(200);
    check("GET /healthz", &healthz);
    let not_found = server.get("/api/v1/no-such-thing").await;
    not_found.expect_problem(404);
    check("an unknown route", &not_found);
    let bad = server.post_raw("/api/v1/models", Some("application/json"), None, b"{not json".to_vec()).await;
    bad.expect_problem(400);
    check("an unparseable body", &bad);
    let unsupported = server.post_raw("/api/v1/models", Some("text/csv"), None, b"a,b".to_vec()).await;
    unsupported.expect_problem(415);
    check("an unsupported content type", &unsupported);
    let anonymous = server.request_as(None, Method::GET, "/api/v1/models", None).await;
    anonymous.expect_problem(401);
    check("a request without credentials", &anonymous);
    let not_allowed = server.request(Method::DELETE, "/api/v1/models", &[], None).await;
    not_allowed.expect_problem(405);
    check("a method not allowed", &not_allowed);
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    check_answers(&TestServer::start().await).await;
}

#[tokio::test]
async fn every_answer_over_tls_carries_them_too() {
    let pki = Pki::new();
    check_answers(&TestServer::start_tls(&pki, |_| {}).await).await;
}
