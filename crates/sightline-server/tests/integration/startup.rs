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
