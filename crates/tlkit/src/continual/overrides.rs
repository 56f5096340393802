//! Command-line changes to a continual config (`tlkit continual --seeds 0,1 --epochs 2`) and
//! the built-in benchmarks the flags name, applied here so that the binary only parses flags.

use super::{ContinualConfig, Scenario};
use crate::Result;

/// What `tlkit continual`'s flags change; `None`: keep the config's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContinualOverrides {
    pub seeds: Option<Vec<u64>>,
    /// Epochs per task.
    pub epochs: Option<usize>,
}

impl ContinualConfig {
    /// A built-in benchmark (`split-mnist`, `permuted-mnist`, `split-optdigits`) under the
    /// scenario and method named as on the command line (`task`, `ewc`).
    ///
    /// # Errors
    /// An unknown benchmark, scenario or method, naming the known ones.
    pub fn from_names(benchmark: &str, scenario: &str, method: &str) -> Result<Self> {
        Self::benchmark(benchmark, Scenario::parse(scenario)?, method)
    }

    /// Applies `o` to this config.
    pub fn apply(&mut self, o: &ContinualOverrides) {
        if let Some(s) = &o.seeds {
            self.study.seeds = s.clone();
        }
        if let Some(e) = o.epochs {
            self.train.epochs = e;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_build_the_benchmark_and_flags_replace_seeds_and_epochs() {
        let mut cfg = ContinualConfig::from_names("split-optdigits", "class", "ewc").unwrap();
        assert_eq!(cfg.scenario, Scenario::Class);
        let before = cfg.clone();
        cfg.apply(&ContinualOverrides::default());
        assert_eq!(cfg, before);
        cfg.apply(&ContinualOverrides {
            seeds: Some(vec![5, 6]),
            epochs: Some(2),
        });
        assert_eq!(cfg.study.seeds, [5, 6]);
        assert_eq!(cfg.train.epochs, 2);
        let e = ContinualConfig::from_names("split-optdigits", "tasks", "ewc")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown scenario `tasks`") && e.contains("task, domain, class"),
            "{e}"
        );
    }
}
