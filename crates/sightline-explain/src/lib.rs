//! Explanations of model predictions: tree-ensemble model formats, TreeSHAP, and the
//! model-agnostic KernelSHAP.
//!
//! The crate is pure: no IO, no clock, no async runtime. Model files arrive as bytes
//! from the caller, are parsed by a loader in [`formats`] into the one internal form,
//! [`Ensemble`], and every tree method works on that form, so a method never needs to
//! know which library trained the model. Model-agnostic methods take the model as a
//! closure that the caller backs with whatever evaluates it.

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
mod treeshap;

pub use ensemble::{
    Condition, Ensemble, EnsembleParts, Input, Link, MAX_TREE_DEPTH, Missing, Node, NodeKind, Split, SplitRule, Tree,
};
pub use error::{ExplainError, ModelError};
pub use interventional::InterventionalTreeShap;
pub use model::{DataError, Margins, ModelCallError, PredictError, Predictor};
pub use treeshap::{Attributions, TreeShap};
