//! Integration tests for sightline-stats: reference fixtures and property tests.

mod evidently;
mod performance_properties;
mod performance_reference;
mod profile;
mod properties;
mod reference;
mod sketch;
