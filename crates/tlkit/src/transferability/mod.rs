//! Transferability: how well the features of one domain or model serve another, measured
//! before (or instead of) training on the target.

pub mod pad;

pub use pad::proxy_a_distance;
