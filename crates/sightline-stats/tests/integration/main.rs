//! Integration tests for sightline-stats: reference fixtures and property tests.

mod cbpe_properties;
mod cbpe_reference;
mod compare_properties;
mod compare_reference;
mod evidently;
mod isotonic_reference;
mod performance_properties;
mod performance_reference;
mod profile;
mod properties;
mod reference;
mod sketch;
