//! A multi-task study's config: tasks on a network with heads, the weighting methods to
//! compare, and the single-task baselines.
//!
//! ```toml
//! name = "digits"
//! seeds = [0, 1]
//! methods = ["ew", "uw", "pcgrad"]   # one arm each (see `multitask::METHODS`)
//! single_task = true                 # and one single-task network per task (the baselines)
//! sweep_branch = false               # true: one arm per method and branch point of the trunk
//! branch_points = []                 # the points of the sweep (default: `input` and each
//!                                    # point before a layer with parameters, and the last)
//! [settings.gradnorm]                # a method's settings (see its file); defaults as there
//! alpha = 1.0
//! [data]                             # as `tlkit train`'s, with the tasks' targets
//! [network]                          # a trunk and one head per task (or `[model]`)
//! [[tasks]]                          # as `tlkit train`'s: name, head, target, loss, weight
//! [train]
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::weighting::{METHODS, method, method_with};
use crate::config::{DataConfig, ModelConfig};
use crate::nn::NetworkSpec;
use crate::study::StudyHeader;
use crate::train::GradientStrategy;
use crate::train::{Task, TrainConfig, ZeroEpochs};
use crate::{Error, Result};

/// The family's name: the study folder's when the config names none.
pub const NAME: &str = "multitask";

fn yes() -> bool {
    true
}

fn all_methods() -> Vec<String> {
    METHODS.iter().map(|m| m.name.to_string()).collect()
}

/// A multi-task study: one arm per weighting method (all tasks on one network) and, with
/// `single_task`, one arm `single-<task>` per task (that task alone on the same network).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultitaskConfig {
    #[serde(flatten)]
    pub study: StudyHeader,
    /// Weighting methods, one arm each; default: all.
    #[serde(default = "all_methods")]
    pub methods: Vec<String>,
    /// Also train each task alone on the same network: the baselines of the gains.
    #[serde(default = "yes")]
    pub single_task: bool,
    /// Replace each method's arm by one arm per branch point of the trunk (`<method>@<point>`,
    /// see [`crate::nn::branch`]): the trunk shared up to the point, the rest copied into
    /// every head.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sweep_branch: bool,
    /// The branch points of the sweep (trunk layer paths as `tlkit inspect` prints them, a
    /// `sequential` trunk flattened into its children, or `input`); giving any implies the
    /// sweep. Default: `input`, each point followed by a layer with parameters, and the last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub branch_points: Vec<String>,
    /// Each method's settings by method name (`[settings.dwa] temperature = 2.0`); fields
    /// as the method's settings struct declares them (e.g. [`super::weighting::gradnorm::GradNormSettings`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, toml::Table>,
    pub data: DataConfig,
    /// The network, written inline with its heads (a [`NetworkSpec`]); or give `model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelConfig>,
    pub tasks: Vec<Task>,
    pub train: TrainConfig,
}

/// The built-in benchmarks `--benchmark` names.
pub const BENCHMARKS: &[(&str, &str)] = &[
    (
        "multi-mnist",
        include_str!("../../configs/multitask-multi-mnist.toml"),
    ),
    (
        "multi-mnist-cross-stitch",
        include_str!("../../configs/multitask-multi-mnist-cross-stitch.toml"),
    ),
    (
        "multi-mnist-mmoe",
        include_str!("../../configs/multitask-multi-mnist-mmoe.toml"),
    ),
    (
        "multi-fashion-mnist",
        include_str!("../../configs/multitask-multi-fashion-mnist.toml"),
    ),
    (
        "digits-parity",
        include_str!("../../configs/multitask-digits.toml"),
    ),
    (
        "gradnorm-toy",
        include_str!("../../configs/multitask-gradnorm-toy.toml"),
    ),
    (
        "gradnorm-toy-10",
        include_str!("../../configs/multitask-gradnorm-toy-10.toml"),
    ),
];

impl MultitaskConfig {
    /// The top-level keys besides the study header's.
    pub const KEYS: [&str; 10] = [
        "methods",
        "settings",
        "single_task",
        "sweep_branch",
        "branch_points",
        "data",
        "network",
        "model",
        "tasks",
        "train",
    ];

    /// Reads a config file; unknown keys are errors naming the key.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg: Self = crate::study::load_study_toml(path, &Self::KEYS)?;
        cfg.check(path)?;
        Ok(MultitaskConfig {
            study: cfg.study.clone().or_name(NAME),
            ..cfg
        })
    }

    /// The built-in benchmark `name`.
    pub fn benchmark(name: &str) -> Result<Self> {
        let (text, origin) =
            crate::study::builtin_config("multi-task benchmark", BENCHMARKS, name)?;
        crate::config::parse_toml(text, &origin)
    }

    /// What can be checked before any data is read: the header, the budget, the methods
    /// (known, and given at least two tasks when they compare gradients), the tasks (at
    /// least one, distinct names) and the network (exactly one of `network` and `model`).
    pub fn check(&self, path: &Path) -> Result<()> {
        let bad = |msg: String| Error::Config {
            path: path.to_path_buf(),
            msg,
        };
        self.study.check(path)?;
        self.train.validate(path, "train", ZeroEpochs::Refused)?;
        if self.tasks.is_empty() {
            return Err(bad(
                "no [[tasks]]; give each task a name, head, target and loss".into(),
            ));
        }
        let mut names: Vec<&str> = self.tasks.iter().map(|t| t.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad(format!("task `{}` is defined twice", w[0])));
        }
        if self.methods.is_empty() && !self.single_task {
            return Err(bad(
                "no arms: `methods` is empty and `single_task` is false".into(),
            ));
        }
        let task_names: Vec<String> = self.tasks.iter().map(|t| t.name.clone()).collect();
        for m in &self.methods {
            method(m).map_err(|e| bad(format!("methods: {e}")))?;
        }
        for (m, table) in &self.settings {
            method_with(m, Some(table)).map_err(|e| bad(e.to_string()))?;
        }
        for m in &self.methods {
            self.strategy(m)
                .and_then(|s| s.check(&task_names))
                .map_err(|e| bad(e.to_string()))?;
        }
        match (&self.network, &self.model) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err(bad(format!(
                "give the network either inline as [network] (a trunk and one head per task) or as [model], not {}",
                if self.network.is_some() {
                    "both"
                } else {
                    "neither"
                }
            ))),
        }
    }
}

/// What `tlkit multitask`'s flags change; `None` or empty: keep the config's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MultitaskOverrides {
    /// Weighting method names (see [`METHODS`]).
    pub methods: Vec<String>,
    pub seeds: Vec<u64>,
    pub epochs: Option<usize>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    /// Leave out the single-task arms.
    pub no_single_task: bool,
    /// Sweep the branch point (see [`MultitaskConfig::sweep_branch`]).
    pub sweep_branch: bool,
    /// The sweep's branch points (replace the config's).
    pub branch_points: Vec<String>,
}

impl MultitaskConfig {
    /// The weighting method `name` with its `[settings.<name>]`.
    pub fn strategy(&self, name: &str) -> Result<Box<dyn GradientStrategy>> {
        method_with(name, self.settings.get(name))
    }

    /// True when the method arms are one per branch point.
    pub fn sweeps(&self) -> bool {
        self.sweep_branch || !self.branch_points.is_empty()
    }

    /// Applies `o` to this config; an unknown method is an error naming the known ones, and
    /// the config is then unchanged.
    pub fn apply(&mut self, o: &MultitaskOverrides) -> Result<()> {
        for m in &o.methods {
            method(m)?;
        }
        if !o.methods.is_empty() {
            self.methods = o.methods.clone();
        }
        if !o.seeds.is_empty() {
            self.study.seeds = o.seeds.clone();
        }
        if let Some(e) = o.epochs {
            self.train.epochs = e;
        }
        if o.train_limit.is_some() {
            self.data.train_limit = o.train_limit;
        }
        if o.test_limit.is_some() {
            self.data.test_limit = o.test_limit;
        }
        if o.no_single_task {
            self.single_task = false;
        }
        self.sweep_branch |= o.sweep_branch;
        if !o.branch_points.is_empty() {
            self.branch_points = o.branch_points.clone();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn benchmarks_parse_and_flags_change_them() {
        for (name, _) in BENCHMARKS {
            let cfg = MultitaskConfig::benchmark(name).unwrap();
            cfg.check(Path::new(name)).unwrap();
            assert_eq!(cfg.methods.len(), METHODS.len(), "{name}");
        }
        // GradNorm's toy: four 100-unit layers on the 250 inputs, a 100-output head per task.
        for (name, tasks) in [("gradnorm-toy", 2), ("gradnorm-toy-10", 10)] {
            let cfg = MultitaskConfig::benchmark(name).unwrap();
            assert_eq!(cfg.tasks.len(), tasks);
            let net =
                crate::nn::Network::new(cfg.network.unwrap(), 0, &crate::backend::Device::flex())
                    .unwrap();
            assert_eq!(net.slot("trunk.0.weight").unwrap().shape, [100, 250]);
            assert_eq!(net.slot("trunk.6.weight").unwrap().shape, [100, 100]);
            let last = format!("t{}", tasks - 1);
            assert_eq!(net.head_output_shape(Some(&last)).unwrap(), [100]);
        }
        let mut cfg = MultitaskConfig::benchmark("multi-mnist").unwrap();
        assert_eq!(cfg.train.epochs, 100);
        let spec = cfg.network.clone().unwrap();
        let net = crate::nn::Network::new(spec, 0, &crate::backend::Device::flex()).unwrap();
        // Sener & Koltun's network: 320 features into the shared 50-unit layer, two heads.
        assert_eq!(net.head_output_shape(Some("left")).unwrap(), [10]);
        assert_eq!(net.slot("shared.8.weight").unwrap().shape, [50, 320]);
        let o = MultitaskOverrides {
            methods: vec!["ew".into(), "mgda".into()],
            seeds: vec![0, 1],
            epochs: Some(2),
            train_limit: Some(100),
            ..Default::default()
        };
        cfg.apply(&o).unwrap();
        assert_eq!(
            (cfg.methods.len(), cfg.train.epochs, cfg.data.train_limit),
            (2, 2, Some(100))
        );
        let bad = MultitaskOverrides {
            methods: vec!["ew".into(), "nash".into()],
            ..Default::default()
        };
        let err = cfg.apply(&bad).unwrap_err().to_string();
        assert!(err.contains("`nash`") && err.contains("gradnorm"), "{err}");
        assert_eq!(cfg.methods, ["ew", "mgda"]);
        // Method settings: read, used, and a bad one named with its method and field.
        let text = include_str!("../../configs/multitask-digits.toml");
        let with = |extra: &str| -> Result<MultitaskConfig> {
            let cfg: MultitaskConfig =
                crate::config::parse_toml(&format!("{text}\n{extra}"), Path::new("t.toml"))?;
            cfg.check(Path::new("t.toml"))?;
            Ok(cfg)
        };
        let cfg =
            with("[settings.gradnorm]\nalpha = 1.0\n[settings.dwa]\ntemperature = 3.0").unwrap();
        assert_eq!(cfg.settings["gradnorm"]["alpha"].as_float(), Some(1.0));
        assert_eq!(cfg.strategy("gradnorm").unwrap().name(), "gradnorm");
        let err = with("[settings.cagrad]\nradius = 0.4")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.toml") && err.contains("[settings.cagrad]") && err.contains("radius"),
            "{err}"
        );
        let err = with("[settings.nash]\nx = 1").unwrap_err().to_string();
        assert!(err.contains("`nash`") && err.contains("gradnorm"), "{err}");
        let err = MultitaskConfig::benchmark("cityscapes")
            .unwrap_err()
            .to_string();
        assert!(err.contains("multi-mnist"), "{err}");
    }
}
