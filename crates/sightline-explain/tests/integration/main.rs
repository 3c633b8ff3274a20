//! Integration tests of sightline-explain: one binary (see the crate's `[[test]]`).

mod fixtures;
mod xgboost;
