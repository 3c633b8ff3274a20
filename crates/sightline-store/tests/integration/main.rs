//! Integration tests of the store: one conformance suite, run against every backend.

mod access;
mod alerting;
mod conformance;
mod issues;
mod registry;
mod retraining;
mod sqlite;
mod tail;
