//! The `tlkit finetune` study as written in its config: the pretrained network, the data, the
//! edits, the strategy and the scratch baseline.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::DataConfig;
use crate::nn::Edit;
use crate::study::StudyHeader;
use crate::train::TrainConfig;
use crate::weights::PretrainedSource;
use crate::{Error, Result};

fn one() -> f64 {
    1.0
}

/// The family's name: the default study name.
pub(crate) const NAME: &str = "finetune";

/// How to fine-tune.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Frozen backbone; its features are computed once and a linear head is trained on them.
    LinearProbe,
    /// Train the whole network (minus `freeze`), backbone at `backbone_lr_mult` × lr.
    #[default]
    Full,
}

/// L2-SP strengths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct L2SpConfig {
    pub alpha: f64,
    pub beta: f64,
}

/// Gradual unfreezing: `groups` (globs, from the head down) unfrozen one every `every` epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnfreezeConfig {
    pub every: usize,
    pub groups: Vec<Vec<String>>,
}

/// The `[finetune]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneSettings {
    #[serde(default)]
    pub strategy: Strategy,
    /// The pretrained classifier layer, replaced by a new linear layer with the data's classes.
    pub head: String,
    /// Layer whose output the head reads (for the linear probe); default: the top-level layer
    /// before `head`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_layer: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub freeze: Vec<String>,
    #[serde(default = "one")]
    pub backbone_lr_mult: f64,
    #[serde(default)]
    pub freeze_bn: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub l2sp: Option<L2SpConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfreeze: Option<UnfreezeConfig>,
    /// Also train the same architecture from random initialisation with the same budget.
    #[serde(default)]
    pub compare_scratch: bool,
    /// Epochs of the scratch comparison; default: the fine-tune's `train.epochs`. A network
    /// from random initialisation usually needs more steps than a pretrained one, so a longer
    /// scratch budget is the fairer baseline (the summary states both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scratch_epochs: Option<usize>,
}

/// A fine-tuning study: arm `pretrained` (and with `compare_scratch`, arm `scratch`, the
/// baseline) once per seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneConfig {
    /// `name`, `seeds` (one fine-tune, and one scratch run, per seed) and `device`.
    #[serde(flatten)]
    pub study: StudyHeader,
    pub pretrained: PretrainedSource,
    pub data: DataConfig,
    /// Further edits, applied after the head is replaced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub surgery: Vec<Edit>,
    pub finetune: FinetuneSettings,
    pub train: TrainConfig,
}

impl FinetuneConfig {
    /// The top-level keys besides the study header's.
    pub const KEYS: [&str; 5] = ["pretrained", "data", "surgery", "finetune", "train"];

    /// The built-in demo's transfer study (`configs/demo-transfer.toml`): the network of the
    /// run in `source` re-used for digits 5–9 of the embedded optdigits data, 5 labelled images
    /// each, against scratch, over 3 seeds.
    pub fn demo(source: &Path) -> Self {
        let text = include_str!("../../configs/demo-transfer.toml");
        let cfg: Self = crate::config::parse_toml(text, Path::new("configs/demo-transfer.toml"))
            .expect("the embedded demo study parses");
        FinetuneConfig {
            pretrained: PretrainedSource::Run {
                run: source.to_path_buf(),
                checkpoint: None,
            },
            ..cfg
        }
    }

    /// Reads a config file; unknown keys are errors naming the key.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg: Self = crate::study::load_study_toml(path, &Self::KEYS)?;
        cfg.train
            .validate(path, "train", crate::train::ZeroEpochs::EvaluatesOnly)?;
        Ok(FinetuneConfig {
            study: cfg.study.or_name(NAME),
            ..cfg
        })
    }
}

/// Checks everything that can be checked before training: the header, the scratch budget,
/// and that the edited pretrained network takes the data's samples.
pub(crate) fn check(cfg: &FinetuneConfig, config: &Path) -> Result<()> {
    cfg.study.check(config)?;
    let bad = |msg: &str| Error::Config {
        path: config.to_path_buf(),
        msg: msg.into(),
    };
    match (cfg.finetune.scratch_epochs, cfg.finetune.compare_scratch) {
        (Some(0), _) => Err(bad("`finetune.scratch_epochs` is 0; give at least 1 epoch")),
        (Some(_), false) => Err(bad(
            "`finetune.scratch_epochs` is set but `compare_scratch` is false; \
             set `compare_scratch = true` or remove `scratch_epochs`",
        )),
        _ => Ok(()),
    }
}
