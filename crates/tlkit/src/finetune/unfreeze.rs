//! Gradual unfreezing (Howard & Ruder, "Universal Language Model Fine-tuning for Text
//! Classification", ACL 2018, §3.3): start with only the last group trainable and unfreeze one
//! more group, from the top down, every `every` epochs.

use crate::Result;
use crate::nn::{Network, Selector};
use crate::train::Hook;

/// Unfreezes `groups[0]`, then `groups[1]`, ... one group every `every` epochs, starting at
/// epoch `every` (groups are given from the head towards the input).
pub struct GradualUnfreeze {
    groups: Vec<Selector>,
    every: usize,
}

impl GradualUnfreeze {
    /// `groups` are parameter globs, ordered from the output towards the input.
    pub fn new<S: AsRef<str>>(groups: &[Vec<S>], every: usize) -> Result<Self> {
        let groups = groups
            .iter()
            .map(|g| Selector::new(g))
            .collect::<Result<_>>()?;
        Ok(GradualUnfreeze {
            groups,
            every: every.max(1),
        })
    }
}

impl Hook for GradualUnfreeze {
    /// Depends only on `epoch`, so a resumed run unfreezes the same groups.
    fn on_epoch_start(&mut self, net: &mut Network, epoch: usize) -> Result<()> {
        let n = (epoch / self.every).min(self.groups.len());
        for g in &self.groups[..n] {
            net.unfreeze(g)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::nn::zoo;

    #[test]
    fn unfreezes_one_group_per_period_from_the_top() {
        let mut net = Network::new(zoo::lenet(1, 28, 10, 0.5), 0, &Device::flex()).unwrap();
        net.freeze(&Selector::new(&["backbone.*", "bottleneck.*"]).unwrap())
            .unwrap();
        let mut hook = GradualUnfreeze::new(
            &[
                vec!["bottleneck.*"],
                vec!["backbone.3.*"],
                vec!["backbone.0.*"],
            ],
            2,
        )
        .unwrap();
        hook.on_epoch_start(&mut net, 1).unwrap();
        assert_eq!(net.trainable_paths(), ["head.weight", "head.bias"]);
        hook.on_epoch_start(&mut net, 2).unwrap();
        assert!(net.slot("bottleneck.0.weight").unwrap().trainable());
        assert!(!net.slot("backbone.3.weight").unwrap().trainable());
        hook.on_epoch_start(&mut net, 7).unwrap();
        assert_eq!(net.trainable_paths().len(), 8);
    }
}
