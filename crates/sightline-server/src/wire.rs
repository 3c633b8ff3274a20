//! The JSON wire format: request documents in, response documents out, and explicit
//! conversion to and from the domain types of `sightline-core` and `sightline-store`.

pub mod audit;
pub mod error_event;
pub mod json;
pub mod label;
pub mod loose;
pub mod model;
pub mod prediction;
pub mod time;
