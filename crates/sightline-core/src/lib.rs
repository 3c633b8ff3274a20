//! Sightline's domain vocabulary: names, model schemas, events and their validation.
//!
//! This crate is pure: no IO, no clock, no async runtime, no wire format. Time is
//! always a parameter (epoch milliseconds), and the server converts its JSON into the
//! [`Scalar`] values that the validators here accept.

pub mod access;
pub mod alerting;
pub mod codec;
pub mod event;
pub mod exception;
pub mod model;
pub mod names;
pub mod outcome_tally;
pub mod problem;
pub mod retraining;
pub mod scalar;

pub use access::{Need, Role};
pub use event::{ErrorInfo, LabelEvent, PredictionEvent, Target};
pub use model::{FeatureSpec, FeatureType, ModelIndex, ModelSpec, Task};
pub use problem::{Problem, Reason};
pub use scalar::{FeatureValue, Scalar};
