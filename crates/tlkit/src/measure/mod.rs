//! Measures of representations that several method families report: how far apart two
//! domains' features are (proxy A-distance), how alike two representations of the same samples
//! are (linear CKA), and the checks every measure makes of its input. A family that reports one
//! takes it from here, so no family imports another; the transferability family re-exports them
//! beside its scores.

pub mod cka;
pub mod input;
pub mod pad;

pub use cka::linear_cka;
pub use pad::proxy_a_distance;
