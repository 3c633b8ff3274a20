//! Statistics for Sightline: drift tests on raw values (checked against scipy),
//! model performance metrics from labels (checked against scikit-learn), performance
//! estimated without labels (checked against NannyML), champion/challenger comparison with
//! bootstrap intervals, and mergeable column profiles.
//!
//! The crate is pure: no IO, no clock, no async runtime, randomness only from a caller's
//! seed. Callers hand it values and get numbers back, so the same code serves the server
//! and the offline report.

pub mod column_drift;
pub mod default_method;
pub mod drift;
pub mod performance;
pub mod profile;
pub mod quality;
pub mod sketch_drift;
