//! Explanations in the server: each version's explainer (a model file Sightline
//! evaluates itself, or the team's prediction endpoint), the rows it is asked about,
//! and a cache of results. The methods are `sightline-explain`'s; `compute` runs them.

pub mod cache;
pub mod compute;
pub mod endpoint;
pub mod importance;
pub mod loaded;
pub mod rows;
