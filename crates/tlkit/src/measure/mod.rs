//! Measures of representations that several method families report: how far apart two
//! domains' features are (proxy A-distance). A family that reports one takes it from here, so no
//! family imports another; the transferability family re-exports them beside its scores.

pub mod pad;

pub use pad::proxy_a_distance;
