//! Transferability: how well the features of one domain or model serve another, measured
//! before (or instead of) training on the target.
//!
//! The proxy A-distance is computed in [`crate::measure`], below the method families, because
//! domain adaptation reports it too; it is re-exported here with the family's other measures.

pub use crate::measure::pad;
pub use crate::measure::proxy_a_distance;
