//! Integration tests of the store: one conformance suite, run against every backend.

mod conformance;
mod sqlite;
