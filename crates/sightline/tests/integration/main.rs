//! End-to-end tests of the `sightline` binary: real server processes on loopback
//! ephemeral ports and temporary data dirs, and the real external programs users run
//! beside it (Prometheus, promtool, Alertmanager).

mod admin;
mod alerting;
mod config;
mod durability;
mod explain;
mod export;
// The server crate's test certificates (a CA and a certificate it signed), shared rather
// than written twice.
mod key_rotation;
#[path = "../../../sightline-server/tests/integration/pki.rs"]
mod pki;
mod prometheus;
mod promtool;
mod report_drift;
mod shutdown;
mod support;
mod transport;
