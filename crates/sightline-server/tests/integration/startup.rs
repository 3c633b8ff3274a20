//! Start-up guards: one server per data directory.

use crate::support::TestServer;
use sightline_server::{Server, ServerConfig, StartError};

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let first = TestServer::start().await;
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        data_dir: first.data_dir().to_path_buf(),
        ..ServerConfig::default()
    };
    match Server::start(config).await {
        Err(StartError::DataDirInUse(dir)) => assert_eq!(dir, first.data_dir()),
        Err(other) => panic!("expected DataDirInUse, got {other}"),
        Ok(_) => panic!("a second server started on a data dir in use"),
    }
    // The first one is unaffected.
    assert_eq!(first.get("/readyz").await.status, 200);
}

/// A client that never finishes its request cannot hold shutdown hostage: after the
/// grace period the server stops anyway.
#[tokio::test]
async fn shutdown_waits_for_stuck_requests_only_for_the_grace_period() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("a temporary data dir");
    let token = sightline_server::auth::secret::generate_token();
    let config = ServerConfig {
        listen: "127.0.0.1:0".parse().expect("a socket address"),
        data_dir: dir.path().to_path_buf(),
        shutdown_grace: std::time::Duration::from_millis(300),
        bootstrap_token: Some(token.clone()),
        ..ServerConfig::default()
    };
    let server = Server::start(config).await.expect("start");
    let addr = server.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));
    // A request whose body never arrives in full.
    let mut stuck = std::net::TcpStream::connect(addr).expect("connect");
    stuck
        .write_all(
            format!(
                "POST /api/v1/models HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
                 authorization: Bearer {token}\r\ncontent-length: 1000\r\n\r\n{{\"name\": "
            )
            .as_bytes(),
        )
        .expect("write");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    stop.send(()).expect("signal");
    let result = tokio::time::timeout(std::time::Duration::from_secs(10), serving).await;
    let served = result.expect("serve returned within the timeout").expect("serve task");
    served.expect("a clean stop");
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_millis(300), "stopped before the grace period: {took:?}");
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
}
