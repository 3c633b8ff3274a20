//! Integration tests for sightline-stats: reference fixtures and property tests.

mod profile;
mod properties;
mod reference;
