//! Integration tests of sightline-explain: one binary (see the crate's `[[test]]`).

mod additivity;
mod fixtures;
mod interventional;
mod kernelshap;
mod lime;
mod onnx;
mod pdp;
mod permutation;
mod reference;
