//! The `tlkit continual` study as written in its config: the stream, the scenario, the
//! network, the method and its settings.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ewc::{Ewc, EwcConfig, FisherEstimate, FisherLabels};
use super::joint::Joint;
use super::lwf::{Lwf, LwfConfig};
use super::method::Method;
use super::naive::Naive;
use super::replay::{Replay, ReplayConfig};
use super::si::{Si, SiConfig};
use super::stream::{Scenario, StreamConfig};
use crate::backend::DeviceKind;
use crate::config::ModelConfig;
use crate::study::StudyHeader;
use crate::train::{OptimizerConfig, TrainConfig};
use crate::{Error, Result};

/// The family's name: the default study name.
pub(crate) const NAME: &str = "continual";
fn yes() -> bool {
    true
}

/// A continual-learning method by name, as `--method` and `[method] name` spell it; parsed
/// by the helper that parses domain adaptation's method names ([`crate::config::parse_name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodKind {
    Naive,
    Joint,
    Ewc,
    OnlineEwc,
    Si,
    Lwf,
    Replay,
    Pnn,
}

impl MethodKind {
    /// Every method.
    pub const ALL: [MethodKind; 8] = [
        MethodKind::Naive,
        MethodKind::Joint,
        MethodKind::Ewc,
        MethodKind::OnlineEwc,
        MethodKind::Si,
        MethodKind::Lwf,
        MethodKind::Replay,
        MethodKind::Pnn,
    ];

    /// The name used in configs, folders and summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            MethodKind::Naive => "naive",
            MethodKind::Joint => "joint",
            MethodKind::Ewc => "ewc",
            MethodKind::OnlineEwc => "online_ewc",
            MethodKind::Si => "si",
            MethodKind::Lwf => "lwf",
            MethodKind::Replay => "replay",
            MethodKind::Pnn => "pnn",
        }
    }

    /// Parses a method name (`-` accepted for `_`).
    pub fn parse(s: &str) -> Result<Self> {
        crate::config::parse_name(s, &Self::ALL, Self::as_str, "continual method")
    }
}

/// The method and its settings (`[method]`, `name = "..."`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum MethodConfig {
    /// Naive sequential fine-tuning.
    Naive,
    /// Joint training on all tasks (upper bound).
    Joint,
    /// Elastic Weight Consolidation.
    Ewc(EwcConfig),
    /// Online EWC.
    OnlineEwc(EwcConfig),
    /// Synaptic Intelligence.
    Si(SiConfig),
    /// Learning without Forgetting.
    Lwf(LwfConfig),
    /// Experience replay with a bounded memory.
    Replay(ReplayConfig),
    /// Progressive Neural Networks (task-incremental only).
    Pnn,
}

impl MethodConfig {
    /// The method's name.
    pub fn name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// Which method, without its settings.
    pub fn kind(&self) -> MethodKind {
        match self {
            MethodConfig::Naive => MethodKind::Naive,
            MethodConfig::Joint => MethodKind::Joint,
            MethodConfig::Ewc(_) => MethodKind::Ewc,
            MethodConfig::OnlineEwc(_) => MethodKind::OnlineEwc,
            MethodConfig::Si(_) => MethodKind::Si,
            MethodConfig::Lwf(_) => MethodKind::Lwf,
            MethodConfig::Replay(_) => MethodKind::Replay,
            MethodConfig::Pnn => MethodKind::Pnn,
        }
    }

    /// The method with the settings Hsu et al. 2018 use for Split MNIST in `scenario`
    /// (their `reg_coef` per scenario; EWC's λ doubled to our ½ convention; Fisher from the
    /// predicted label on every training sample, one sample at a time; memory 1100).
    pub fn hsu_default(name: &str, scenario: Scenario) -> Result<Self> {
        let by = |t: f64, d: f64, c: f64| match scenario {
            Scenario::Task => t,
            Scenario::Domain => d,
            Scenario::Class => c,
        };
        let ewc = |reg_coef: f64| EwcConfig {
            lambda: 2.0 * reg_coef,
            fisher: FisherEstimate::PerSample,
            labels: FisherLabels::Predicted,
            ..EwcConfig::new(0.0)
        };
        Ok(match MethodKind::parse(name)? {
            MethodKind::Naive => MethodConfig::Naive,
            MethodKind::Joint => MethodConfig::Joint,
            MethodKind::Ewc => MethodConfig::Ewc(ewc(by(100.0, 100.0, 600.0))),
            MethodKind::OnlineEwc => MethodConfig::OnlineEwc(ewc(by(400.0, 700.0, 100.0))),
            MethodKind::Si => MethodConfig::Si(SiConfig {
                c: by(300.0, 3000.0, 600.0),
                xi: 0.1,
            }),
            MethodKind::Lwf => MethodConfig::Lwf(LwfConfig {
                lambda: 1.0,
                temperature: 2.0,
            }),
            MethodKind::Replay => MethodConfig::Replay(ReplayConfig { memory: 1100 }),
            MethodKind::Pnn => MethodConfig::Pnn,
        })
    }

    pub(crate) fn build(&self) -> Result<Box<dyn Method>> {
        Ok(match self {
            MethodConfig::Naive => Box::new(Naive),
            MethodConfig::Joint => Box::new(Joint),
            MethodConfig::Ewc(c) => Box::new(Ewc::new(c.clone())),
            MethodConfig::OnlineEwc(c) => Box::new(Ewc::online(c.clone())),
            MethodConfig::Si(c) => Box::new(Si::new(c.clone())),
            MethodConfig::Lwf(c) => Box::new(Lwf::new(c.clone())),
            MethodConfig::Replay(c) => Box::new(Replay::new(c.clone())?),
            MethodConfig::Pnn => {
                return Err(Error::Spec(
                    "method pnn grows a column per task (a progressive network), not one network with extensions".into(),
                ));
            }
        })
    }
}

/// A continual-learning experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContinualConfig {
    /// `name`, `seeds` (the stream is trained once per seed) and `device`.
    #[serde(flatten)]
    pub study: StudyHeader,
    pub scenario: Scenario,
    /// Evaluate every task after every epoch for the learning curves (first seed only).
    #[serde(default = "yes")]
    pub curves: bool,
    pub stream: StreamConfig,
    /// The network (the column of a progressive network): `arch = "mlp"` or `"conv"` (any
    /// other arch for the methods but pnn); the old spelling `kind = ...` is still read.
    #[serde(deserialize_with = "crate::config::model_with_old_tag")]
    pub model: ModelConfig,
    pub method: MethodConfig,
    /// Training of each task (`epochs` per task).
    pub train: TrainConfig,
}

impl ContinualConfig {
    /// The top-level keys besides the study header's.
    pub const KEYS: [&str; 6] = ["scenario", "curves", "stream", "model", "method", "train"];

    /// Reads a config file; unknown keys are errors naming the key.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg: Self = crate::study::load_study_toml(path, &Self::KEYS)?;
        cfg.train
            .validate(path, "train", crate::train::ZeroEpochs::Refused)?;
        Ok(ContinualConfig {
            study: cfg.study.or_name(NAME),
            ..cfg
        })
    }

    /// A built-in benchmark with Hsu et al. 2018's protocol: MLP 2×400, Adam lr 1e-3, batch
    /// 128, 4 epochs per task. `benchmark` is `split-mnist` (5 tasks) or `permuted-mnist`
    /// (10 tasks).
    pub fn benchmark(benchmark: &str, scenario: Scenario, method: &str) -> Result<Self> {
        let stream = match benchmark {
            "split-mnist" => StreamConfig::split("mnist"),
            "permuted-mnist" => StreamConfig::permuted("mnist", 10),
            "split-optdigits" => StreamConfig::split("optdigits-embedded"),
            other => {
                return Err(Error::Unknown {
                    kind: "continual benchmark",
                    name: other.into(),
                    known: "split-mnist, permuted-mnist, split-optdigits".into(),
                });
            }
        };
        Ok(ContinualConfig {
            study: StudyHeader {
                device: DeviceKind::Cpu,
                ..StudyHeader::new(format!("{benchmark}-{}-{method}", scenario.as_str()))
            },
            scenario,
            curves: true,
            stream,
            model: ModelConfig::Mlp {
                hidden: vec![400, 400],
                dropout: 0.0,
            },
            method: MethodConfig::hsu_default(method, scenario)?,
            train: TrainConfig {
                eval_batch_size: 1000,
                valid_every: 0,
                ..TrainConfig::new(4, 128, OptimizerConfig::adam(1e-3))
            },
        })
    }
}

/// Checks everything that can be checked before training.
pub(crate) fn check(cfg: &ContinualConfig, base: &Path) -> Result<()> {
    let config = base.join("<config>");
    cfg.study.check(&config)?;
    let bad = |msg: String| Error::Config {
        path: config.clone(),
        msg,
    };
    if cfg.train.epochs == 0 {
        return Err(bad("train.epochs must be > 0".into()));
    }
    if cfg.method == MethodConfig::Pnn && cfg.scenario != Scenario::Task {
        return Err(bad(format!(
            "method pnn picks the column of each sample's task, so it needs the task label at test time: scenario must be \"task\", not \"{}\"",
            cfg.scenario.as_str()
        )));
    }
    Ok(())
}
