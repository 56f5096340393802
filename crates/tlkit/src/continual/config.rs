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
        match self {
            MethodConfig::Naive => "naive",
            MethodConfig::Joint => "joint",
            MethodConfig::Ewc(_) => "ewc",
            MethodConfig::OnlineEwc(_) => "online_ewc",
            MethodConfig::Si(_) => "si",
            MethodConfig::Lwf(_) => "lwf",
            MethodConfig::Replay(_) => "replay",
            MethodConfig::Pnn => "pnn",
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
        Ok(match name {
            "naive" => MethodConfig::Naive,
            "joint" => MethodConfig::Joint,
            "ewc" => MethodConfig::Ewc(ewc(by(100.0, 100.0, 600.0))),
            "online_ewc" | "online-ewc" => MethodConfig::OnlineEwc(ewc(by(400.0, 700.0, 100.0))),
            "si" => MethodConfig::Si(SiConfig {
                c: by(300.0, 3000.0, 600.0),
                xi: 0.1,
            }),
            "lwf" => MethodConfig::Lwf(LwfConfig {
                lambda: 1.0,
                temperature: 2.0,
            }),
            "replay" => MethodConfig::Replay(ReplayConfig { memory: 1100 }),
            "pnn" => MethodConfig::Pnn,
            other => {
                return Err(Error::Unknown {
                    kind: "continual method",
                    name: other.into(),
                    known: "naive, joint, ewc, online_ewc, si, lwf, replay, pnn".into(),
                });
            }
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
            MethodConfig::Pnn => unreachable!("pnn is trained by its own loop"),
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
    /// Reads a config file; unknown keys are errors naming the key.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg: Self = crate::config::load_toml(path)?;
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
