//! Naive fine-tuning: train each task in turn with nothing against forgetting — the lower
//! bound every method is measured against (Hsu et al. 2018's "Adam" baseline).

use super::method::Method;

/// Plain sequential fine-tuning.
#[derive(Debug, Clone, Default)]
pub struct Naive;

impl Method for Naive {
    fn name(&self) -> &str {
        "naive"
    }
}
