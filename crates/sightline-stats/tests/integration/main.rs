//! Integration tests for sightline-stats: reference fixtures and property tests.

mod properties;
mod reference;
