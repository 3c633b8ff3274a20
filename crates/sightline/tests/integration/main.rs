//! End-to-end tests of the `sightline` binary: real server processes on loopback
//! ephemeral ports and temporary data dirs, and the real external programs users run
//! beside it (Prometheus, promtool).

mod admin;
mod config;
mod durability;
mod key_rotation;
mod prometheus;
mod promtool;
mod report_drift;
mod shutdown;
mod support;
