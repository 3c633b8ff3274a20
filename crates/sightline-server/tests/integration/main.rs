//! Integration tests of the server against a real listener and a temporary data dir.

mod access;
mod alerting;
mod api;
mod bad_input;
mod concurrency;
mod drift;
mod encryption;
mod errors;
mod explain;
mod export;
mod lineage;
mod performance;
mod pki;
mod registry;
mod retraining;
mod security_headers;
mod startup;
mod support;
mod transport;
mod ui;
