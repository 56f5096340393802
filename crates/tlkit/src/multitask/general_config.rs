//! The general-features study's config: trunks trained as a multi-task config describes them,
//! and the new tasks they are transferred to.
//!
//! ```toml
//! name = "general-features"
//! seeds = [0, 1, 2]
//! trunks = ["single:left", "single:right", "ew", "pcgrad", "random"]
//! representation = "shared"        # the trunk layer whose output is transferred
//!                                  # (default: where the heads start)
//! cka_samples = 500                # trunk test samples the trunks' CKA is measured on
//! [data]                           # the trunks' data, tasks, network and budget, as
//! [network]                        # `tlkit multitask` has them
//! [[tasks]]
//! [train]
//! [[new_tasks]]
//! name = "fashion"
//! dataset = "fashion-mnist"        # a named dataset, or a [new_tasks.data] table
//! target = "label"                 # the target column that is the new task's labels
//! labels_per_class = [10, 100]     # labeled training samples per class, drawn per seed
//! modes = ["probe", "finetune"]    # linear probe of the frozen trunk, or all of it trained
//! test_samples = 1000              # a class-balanced subsample of the test split
//! [new_tasks.train]                # the fine-tune budget (and the probe's, unless
//! [new_tasks.probe]                # [new_tasks.probe] gives one)
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::MultitaskConfig;
use super::weighting::method;
use crate::config::{DataConfig, ModelConfig};
use crate::data::LABEL_TARGET;
use crate::measure::Score;
use crate::nn::NetworkSpec;
use crate::study::StudyHeader;
use crate::train::{Task, TrainConfig, ZeroEpochs};
use crate::{Error, Result};

/// The study's name when the config gives none.
pub const NAME: &str = "general-features";

/// The trunk that is not trained: the initial weights the trained trunks start from.
pub const RANDOM: &str = "random";

/// The built-in configs `--benchmark` names.
pub const BENCHMARKS: &[(&str, &str)] = &[
    (
        "multi-mnist",
        include_str!("../../configs/general-features-multi-mnist.toml"),
    ),
    (
        "digits",
        include_str!("../../configs/general-features-digits.toml"),
    ),
];

/// How a trunk is transferred to a new task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A linear classifier on the frozen trunk's representation.
    Probe,
    /// The trunk and a new linear head, all trained.
    Finetune,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Probe => "probe",
            Mode::Finetune => "finetune",
        }
    }
}

fn both_modes() -> Vec<Mode> {
    vec![Mode::Probe, Mode::Finetune]
}

fn label() -> String {
    LABEL_TARGET.into()
}

fn cka_samples() -> usize {
    500
}

fn feature_scores() -> Vec<Score> {
    vec![Score::Logme, Score::Hscore, Score::Transrate]
}

/// A task none of the trunks was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// Letters, digits, `_` and `-`: names its cells and rows.
    pub name: String,
    /// A named dataset (`fashion-mnist`, `optdigits-embedded`); or give `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// A `[data]`-style table (transforms, derived targets); or give `dataset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataConfig>,
    /// The class target that is this task's labels (`label`, or a target of the data such as
    /// MultiMNIST's `equal`).
    #[serde(default = "label")]
    pub target: String,
    /// Labeled training samples per class; one cell per value. The draws are nested: the
    /// smaller sets are inside the larger ones.
    pub labels_per_class: Vec<usize>,
    #[serde(default = "both_modes")]
    pub modes: Vec<Mode>,
    /// Test on a class-balanced subsample of about this many test samples (the first
    /// ⌈n / classes⌉ of each class in a fixed shuffle, the same for every seed and trunk;
    /// fewer of a class that has fewer); default: the whole test split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_samples: Option<usize>,
    /// The fine-tune budget, and the probe's unless `probe` is given.
    pub train: TrainConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<TrainConfig>,
}

impl NewTask {
    /// The data table: `data`, or `dataset` as one.
    pub fn data_config(&self) -> DataConfig {
        self.data
            .clone()
            .unwrap_or_else(|| DataConfig::named(self.dataset.clone()))
    }

    /// The budget of `mode`.
    pub fn budget(&self, mode: Mode) -> &TrainConfig {
        match (mode, &self.probe) {
            (Mode::Probe, Some(p)) => p,
            _ => &self.train,
        }
    }
}

/// The general-features study: trunks of one network and budget trained in different ways,
/// each transferred to new tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneralConfig {
    #[serde(flatten)]
    pub study: StudyHeader,
    /// `single:<task>` (that task alone), a weighting method (every task at once, see
    /// `multitask::METHODS`), or `random` (not trained).
    pub trunks: Vec<String>,
    /// The trunk layer whose output is the representation (a layer path as `tlkit inspect`
    /// prints it); default: the layer the first head reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub representation: Option<String>,
    /// Trunk test samples the CKA between the trunks is measured on.
    #[serde(default = "cka_samples")]
    pub cka_samples: usize,
    /// Transferability scores of each trunk's representation for each new task (those that
    /// need only features: logme, logme-icml, hscore, hscore-shrunk, transrate).
    #[serde(default = "feature_scores")]
    pub scores: Vec<Score>,
    /// Weighting methods' settings, as in a multi-task config.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, toml::Table>,
    pub data: DataConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelConfig>,
    pub tasks: Vec<Task>,
    pub train: TrainConfig,
    pub new_tasks: Vec<NewTask>,
}

/// A trunk of the study, parsed from its entry in `trunks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trunk {
    /// One task alone.
    Single(String),
    /// Every task under a weighting method.
    Method(String),
    Random,
}

impl Trunk {
    /// The trunk's folder and row name: `single-<task>`, the method, or `random`.
    pub fn name(&self) -> String {
        match self {
            Trunk::Single(t) => super::pipeline::single(t),
            Trunk::Method(m) => m.clone(),
            Trunk::Random => RANDOM.into(),
        }
    }
}

/// What `tlkit study general-features`' flags change; `None` or empty: keep the config's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeneralOverrides {
    pub seeds: Vec<u64>,
    /// The trunks' epochs.
    pub epochs: Option<usize>,
}

impl GeneralConfig {
    /// The top-level keys besides the study header's.
    pub const KEYS: [&str; 11] = [
        "trunks",
        "representation",
        "cka_samples",
        "scores",
        "settings",
        "data",
        "network",
        "model",
        "tasks",
        "train",
        "new_tasks",
    ];

    /// Reads a config file; unknown keys and bad values are errors naming the key.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg: Self = crate::study::load_study_toml(path, &Self::KEYS)?;
        cfg.check(path)?;
        Ok(cfg.named())
    }

    /// The built-in config `name`.
    pub fn benchmark(name: &str) -> Result<Self> {
        let (text, origin) =
            crate::study::builtin_config("general-features config", BENCHMARKS, name)?;
        let cfg: Self = crate::config::parse_toml(text, &origin)?;
        cfg.check(&origin)?;
        Ok(cfg.named())
    }

    /// This config, named after the study when it names nothing.
    pub fn named(self) -> Self {
        GeneralConfig {
            study: self.study.clone().or_name(NAME),
            ..self
        }
    }

    /// Applies the flags.
    pub fn apply(&mut self, o: &GeneralOverrides) {
        if !o.seeds.is_empty() {
            self.study.seeds = o.seeds.clone();
        }
        if let Some(e) = o.epochs {
            self.train.epochs = e;
        }
    }

    /// The trunks, parsed; an unknown one is an error naming the entry and what it may be.
    pub fn trunk_list(&self, path: &Path) -> Result<Vec<Trunk>> {
        let bad = |msg: String| Error::Config {
            path: path.to_path_buf(),
            msg,
        };
        let mut out: Vec<Trunk> = vec![];
        for t in &self.trunks {
            let trunk = if t == RANDOM {
                Trunk::Random
            } else if let Some(task) = t.strip_prefix("single:") {
                if !self.tasks.iter().any(|x| x.name == task) {
                    return Err(bad(format!(
                        "trunks: `{t}` names no task of [[tasks]] ({})",
                        self.task_names().join(", ")
                    )));
                }
                Trunk::Single(task.into())
            } else {
                method(t).map_err(|e| {
                    bad(format!(
                        "trunks: `{t}` is neither `random`, `single:<task>` nor a weighting method: {e}"
                    ))
                })?;
                Trunk::Method(t.clone())
            };
            if out.contains(&trunk) {
                return Err(bad(format!("trunks: `{t}` is listed twice")));
            }
            out.push(trunk);
        }
        Ok(out)
    }

    fn task_names(&self) -> Vec<String> {
        self.tasks.iter().map(|t| t.name.clone()).collect()
    }

    /// The trunks' part as a multi-task config: its checks and its training.
    pub fn trunk_config(&self) -> MultitaskConfig {
        MultitaskConfig {
            study: self.study.clone(),
            methods: self
                .trunks
                .iter()
                .filter(|t| *t != RANDOM && !t.starts_with("single:"))
                .cloned()
                .collect(),
            single_task: true,
            sweep_branch: false,
            branch_points: vec![],
            settings: self.settings.clone(),
            data: self.data.clone(),
            network: self.network.clone(),
            model: self.model.clone(),
            tasks: self.tasks.clone(),
            train: self.train.clone(),
        }
    }

    /// What can be checked before any data is read: the trunks' part as a multi-task config,
    /// the trunk list (at least two), the scores, and every new task's fields.
    pub fn check(&self, path: &Path) -> Result<()> {
        let bad = |msg: String| Error::Config {
            path: path.to_path_buf(),
            msg,
        };
        self.trunk_config().check(path)?;
        if self.trunks.len() < 2 {
            return Err(bad(
                "trunks: give at least two trunks to compare (e.g. [\"single:<task>\", \"ew\", \"random\"])".into(),
            ));
        }
        self.trunk_list(path)?;
        if self.cka_samples < 2 {
            return Err(bad(format!(
                "cka_samples = {}: CKA compares at least 2 samples",
                self.cka_samples
            )));
        }
        if let Some(s) = self.scores.iter().find(|s| s.needs_predictions()) {
            return Err(bad(format!(
                "scores: `{s}` needs a source classifier's outputs, which a trunk has not; use logme, logme-icml, hscore, hscore-shrunk or transrate"
            )));
        }
        if self.new_tasks.is_empty() {
            return Err(bad(
                "no [[new_tasks]]: give at least one task to transfer the trunks to".into(),
            ));
        }
        let mut names: Vec<&str> = vec![];
        for t in &self.new_tasks {
            let at = format!("new_tasks `{}`", t.name);
            if t.name.is_empty()
                || !t
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(bad(format!(
                    "new_tasks: name `{}` must be letters, digits, `_` and `-` (it names folders)",
                    t.name
                )));
            }
            if names.contains(&t.name.as_str()) {
                return Err(bad(format!("{at} is defined twice")));
            }
            names.push(&t.name);
            match (&t.dataset, &t.data) {
                (Some(_), None) | (None, Some(_)) => {}
                _ => {
                    return Err(bad(format!(
                        "{at}: give either `dataset = \"<name>\"` or a [new_tasks.data] table, not {}",
                        if t.dataset.is_some() {
                            "both"
                        } else {
                            "neither"
                        }
                    )));
                }
            }
            if t.labels_per_class.is_empty() || t.labels_per_class.contains(&0) {
                return Err(bad(format!(
                    "{at}: labels_per_class = {:?}; give one or more counts of at least 1",
                    t.labels_per_class
                )));
            }
            if t.modes.is_empty() {
                return Err(bad(format!(
                    "{at}: modes is empty; give \"probe\", \"finetune\" or both"
                )));
            }
            if t.test_samples == Some(0) {
                return Err(bad(format!("{at}: test_samples must be at least 1")));
            }
            let prefix = format!("new_tasks.{}.train", t.name);
            t.train.validate(path, &prefix, ZeroEpochs::Refused)?;
            if let Some(p) = &t.probe {
                let prefix = format!("new_tasks.{}.probe", t.name);
                p.validate(path, &prefix, ZeroEpochs::Refused)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_configs_parse_and_bad_fields_are_named() {
        for (name, _) in BENCHMARKS {
            let cfg = GeneralConfig::benchmark(name).unwrap();
            assert!(
                cfg.trunk_list(Path::new(name)).unwrap().len() >= 3,
                "{name}"
            );
        }
        let text = include_str!("../../configs/general-features-digits.toml");
        let with = |edit: &dyn Fn(&mut toml::Table)| -> String {
            let mut v: toml::Table = toml::from_str(text).unwrap();
            edit(&mut v);
            let cfg: GeneralConfig =
                crate::config::parse_toml(&toml::to_string(&v).unwrap(), Path::new("g.toml"))
                    .unwrap();
            cfg.check(Path::new("g.toml")).unwrap_err().to_string()
        };
        let err =
            with(&|v| v["trunks"] = toml::Value::Array(vec!["single:colour".into(), "ew".into()]));
        assert!(
            err.contains("g.toml") && err.contains("`single:colour`") && err.contains("digit"),
            "{err}"
        );
        let err = with(&|v| v["trunks"] = toml::Value::Array(vec!["nash".into(), "ew".into()]));
        assert!(err.contains("`nash`") && err.contains("pcgrad"), "{err}");
        let err = with(&|v| {
            v.insert("scores".into(), toml::Value::Array(vec!["leep".into()]));
        });
        assert!(
            err.contains("`leep`") && err.contains("classifier"),
            "{err}"
        );
        let err = with(&|v| {
            v["new_tasks"][0]["labels_per_class"] = toml::Value::Array(vec![0.into()]);
        });
        assert!(
            err.contains("new_tasks `big`") && err.contains("labels_per_class"),
            "{err}"
        );
        let err = with(&|v| {
            let t = v["new_tasks"][0].as_table_mut().unwrap();
            t.insert("dataset".into(), "optdigits-embedded".into());
        });
        assert!(
            err.contains("new_tasks `big`") && err.contains("both"),
            "{err}"
        );
        let err = with(&|v| {
            v["new_tasks"][0]["train"]["epochs"] = 0.into();
        });
        assert!(err.contains("new_tasks.big.train.epochs"), "{err}");
    }
}
