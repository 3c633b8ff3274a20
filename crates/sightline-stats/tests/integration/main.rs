//! Integration tests for sightline-stats: reference fixtures and property tests.

mod performance_properties;
mod performance_reference;
mod profile;
mod properties;
mod reference;
