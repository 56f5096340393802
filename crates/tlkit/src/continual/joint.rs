//! Joint ("offline") training on the union of all tasks at once: the upper bound, as in
//! Hsu et al. 2018 (`--offline_training`). It is not continual, so its accuracy matrix has a
//! single row (after all tasks) and no backward or forward transfer.

use super::method::Method;

/// Joint training on all tasks together.
#[derive(Debug, Clone, Default)]
pub struct Joint;

impl Method for Joint {
    fn name(&self) -> &str {
        "joint"
    }
    fn is_joint(&self) -> bool {
        true
    }
}
