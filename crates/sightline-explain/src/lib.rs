//! Explanations of model predictions: tree-ensemble model formats, TreeSHAP (path-dependent
//! and interventional), and the model-agnostic KernelSHAP, LIME, partial dependence and
//! permutation importance.
//!
//! The crate is pure: no IO, no clock, no async runtime, no randomness but the caller's
//! seeds. Model files arrive as bytes from the caller, are parsed by a loader in
//! [`formats`] into the one internal form, [`Ensemble`], and every tree method works on
//! that form, so a method never needs to know which library trained the model.
//! Model-agnostic methods take the model as a [`Predictor`] (a batch prediction closure
//! the caller backs with whatever evaluates it, or an [`Ensemble`]); where a reference
//! library draws random samples, the samples are an input so its numbers can be
//! reproduced, and a seeded sampler of our own is offered beside it.

mod ensemble;
mod error;
pub mod formats;
mod interventional;
pub mod kernelshap;
pub mod lime;
mod model;
pub mod pdp;
pub mod permutation;
mod rng;
pub mod summarize;
mod treeshap;

pub use ensemble::{
    Condition, Ensemble, EnsembleParts, Input, Link, MAX_TREE_DEPTH, Missing, Node, NodeKind, Split, SplitRule, Tree,
};
pub use error::{ExplainError, ModelError};
pub use interventional::InterventionalTreeShap;
pub use model::{DataError, Margins, ModelCallError, PredictError, Predictor};
pub use treeshap::{Attributions, TreeShap};
