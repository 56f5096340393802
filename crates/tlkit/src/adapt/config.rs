//! The `tlkit adapt` study as written in `adapt.toml`: the arms (methods), the two domains,
//! the network and its budget, the methods' settings; and the data they name.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::discriminator::AdversaryConfig;
use super::{CdanConfig, CoralConfig, DanConfig, DannConfig, GrlSchedule, JanConfig};
use crate::config::{DataConfig, ModelConfig};
use crate::data::Split;
use crate::data::normalize::InputNorm;
use crate::data::pairs::{DigitStrokes, check_pair, load_domain};
use crate::nn::Edit;
use crate::study::StudyHeader;
use crate::train::TrainConfig;
use crate::weights::PretrainedSource;
use crate::{Error, Result};

/// The family's name: the default study name.
pub(crate) const NAME: &str = "adapt";
fn methods() -> Vec<Method> {
    vec![Method::SourceOnly, Method::Dann]
}
fn lenet() -> ModelConfig {
    ModelConfig::Lenet { dropout: 0.5 }
}
fn bottleneck() -> String {
    "bottleneck".into()
}
fn yes() -> bool {
    true
}
fn tsne_points() -> usize {
    300
}
fn pad_points() -> usize {
    1000
}
fn ten() -> usize {
    10
}

fn is_none_norm(n: &InputNorm) -> bool {
    *n == InputNorm::None
}

/// The budget of a study built from two dataset names ([`AdaptConfig::for_pair`]): twice the
/// example configs' 1000 iterations of batch 32.
pub const PAIR_ITERATIONS: usize = 2000;

/// Offset of the seed that draws the target's `train_limit` subset.
const TARGET_SUBSET_SEED: u64 = 1_000_003;

/// An adaptation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Source data only (the baseline).
    SourceOnly,
    Dann,
    Dan,
    Coral,
    Jan,
    Cdan,
    /// CDAN with entropy conditioning.
    CdanE,
    /// Trained on the target's labelled training images instead of the source's: not an
    /// adaptation method but the ceiling the methods are measured against (Transfer-Learning-
    /// Library's "Oracle" rows). Same epochs as the others; its iterations per epoch follow the
    /// target's training set size.
    Oracle,
}

impl Method {
    /// The name used in configs, folders and plots.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::SourceOnly => "source_only",
            Method::Dann => "dann",
            Method::Dan => "dan",
            Method::Coral => "coral",
            Method::Jan => "jan",
            Method::Cdan => "cdan",
            Method::CdanE => "cdan_e",
            Method::Oracle => "oracle",
        }
    }

    /// Parses a method name (`source_only`, `dann`, `dan`, `coral`, `jan`, `cdan`, `cdan_e`,
    /// `oracle`).
    pub fn parse(s: &str) -> Result<Self> {
        let all = [
            Method::SourceOnly,
            Method::Dann,
            Method::Dan,
            Method::Coral,
            Method::Jan,
            Method::Cdan,
            Method::CdanE,
            Method::Oracle,
        ];
        crate::config::parse_name(s, &all, Method::as_str, "adaptation method")
    }
}

/// Feature analysis settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Layer whose features are plotted and measured.
    #[serde(default = "bottleneck")]
    pub feature_layer: String,
    /// Test points per domain in the t-SNE plots (0 = no plots).
    #[serde(default = "tsne_points")]
    pub tsne_points: usize,
    /// Compute the proxy A-distance.
    #[serde(default = "yes")]
    pub pad: bool,
    /// Test points per domain for the proxy A-distance.
    #[serde(default = "pad_points")]
    pub pad_points: usize,
    /// Epochs of the linear domain classifier.
    #[serde(default = "ten")]
    pub pad_epochs: usize,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            feature_layer: bottleneck(),
            tsne_points: tsne_points(),
            pad: true,
            pad_points: pad_points(),
            pad_epochs: ten(),
        }
    }
}

/// A domain-adaptation experiment, as written in `adapt.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptConfig {
    /// `name`, `seeds` (every method is trained once per seed) and `device`.
    #[serde(flatten)]
    pub study: StudyHeader,
    /// The arms; `source_only` is the baseline the others are judged against.
    #[serde(default = "methods")]
    pub methods: Vec<Method>,
    /// Labelled source domain (its test split gives the source accuracy).
    pub source: DataConfig,
    /// Target domain: its training split is used without labels; its test split is where
    /// accuracy is reported. `dataset = "mnist-m"` generates the MNIST-M-style set.
    pub target: DataConfig,
    /// Seed of the MNIST-M-style patches (fixed across training seeds).
    #[serde(default)]
    pub blend_seed: u64,
    /// The digit's strokes in the MNIST-M-style blend: `grey` (default, MNIST's grey levels)
    /// or `binary` (every inked pixel 1, as the public MNIST-M generator, tf-dann's).
    #[serde(default)]
    pub blend_digits: DigitStrokes,
    /// Input normalisation: `none` (default), `source` (the source training images'
    /// per-channel mean/std for both domains), `domain_mean` (each domain minus its own
    /// training images' per-channel mean, as Ganin et al.) or `instance` (every image
    /// standardised on its own, as Shu et al.'s DIRT-T code).
    #[serde(default, skip_serializing_if = "is_none_norm")]
    pub normalize: InputNorm,
    /// The network (built for the source data); default LeNet. Ignored with `pretrained`.
    #[serde(default = "lenet")]
    pub model: ModelConfig,
    /// Start from a pretrained network instead; its `head` layer is replaced by a new linear
    /// layer with the data's classes, then `surgery` is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PretrainedSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub surgery: Vec<Edit>,
    pub train: TrainConfig,
    /// The budget in iterations (batches of `train.batch_size` source images, each with as
    /// many target images), rounded up to whole epochs of the source training set; replaces
    /// `train.epochs`. The same for every method, whatever the source set's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<usize>,
    #[serde(default)]
    pub dann: DannConfig,
    #[serde(default)]
    pub dan: DanConfig,
    #[serde(default)]
    pub coral: CoralConfig,
    #[serde(default)]
    pub jan: JanConfig,
    /// CDAN settings (`entropy` is set by the method: `cdan` or `cdan_e`).
    #[serde(default)]
    pub cdan: CdanConfig,
    #[serde(default)]
    pub analysis: AnalysisConfig,
}

impl AdaptConfig {
    /// The top-level keys besides the study header's.
    pub const KEYS: [&str; 18] = [
        "methods",
        "source",
        "target",
        "blend_seed",
        "blend_digits",
        "normalize",
        "model",
        "pretrained",
        "head",
        "surgery",
        "train",
        "iterations",
        "dann",
        "dan",
        "coral",
        "jan",
        "cdan",
        "analysis",
    ];

    /// Reads a config file; unknown keys are errors naming the key.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg: Self = crate::study::load_study_toml(path, &Self::KEYS)?;
        cfg.train
            .validate(path, "train", crate::train::ZeroEpochs::Refused)?;
        Ok(AdaptConfig {
            study: cfg.study.or_name(NAME),
            ..cfg
        })
    }
}

/// The source and target splits that the runs of `seed` train and test on, before the input
/// normalisation (`normalize`), which the runs apply on top.
pub fn load_pair(
    cfg: &AdaptConfig,
    seed: u64,
    base: &Path,
    cache: &Path,
) -> Result<(Split, Split)> {
    let blend = (cfg.blend_seed, cfg.blend_digits);
    let s = load_domain(&cfg.source, seed, blend, base, cache)?;
    // The target subset is drawn with another seed, so that when both domains come from
    // MNIST (MNIST-M-style) the target digits are not the source digits re-coloured.
    let t = load_domain(
        &cfg.target,
        seed.wrapping_add(TARGET_SUBSET_SEED),
        blend,
        base,
        cache,
    )?;
    check_pair(&s.train, &t.train)?;
    check_pair(&s.test, &t.test)?;
    Ok((s, t))
}

/// Writes the first seed's data ([`load_pair`]) into `dir` as `{source,target}_{train,test}.npz`
/// (arrays `x`, samples × channels × height × width in [0, 1] for images, and `y`; the target's
/// training labels are kept, for checks, though no method sees them), so that another
/// framework can train on exactly the same images. Returns the files written.
pub fn export_data(
    cfg: &AdaptConfig,
    dir: &Path,
    base: &Path,
    cache: &Path,
) -> Result<Vec<std::path::PathBuf>> {
    let seed = *cfg.study.seeds.first().ok_or_else(|| Error::Config {
        path: base.join("<config>"),
        msg: "`seeds` is empty".into(),
    })?;
    let (s, t) = load_pair(cfg, seed, base, cache)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let mut written = vec![];
    for (name, d) in [
        ("source_train", &s.train),
        ("source_test", &s.test),
        ("target_train", &t.train),
        ("target_test", &t.test),
    ] {
        let path = dir.join(format!("{name}.npz"));
        let mut shape = vec![d.len()];
        shape.extend(&d.sample_shape);
        crate::data::save_npz(&path, &d.x, &shape, &d.y, ("x", "y"))?;
        written.push(path);
    }
    Ok(written)
}

impl AdaptConfig {
    /// A config for two named datasets with Transfer-Learning-Library's digits conventions:
    /// LeNet, SGD (lr 0.01, Nesterov momentum 0.9, weight decay 1e-3), lr·(1 + 0.001·iter)^−0.75,
    /// batch 32, and the transforms that line the pair up ([`crate::data::pairs::default_transforms`]);
    /// the budget and the reversal schedule of the example configs: [`PAIR_ITERATIONS`]
    /// iterations whatever the source set's size, and DANN's and CDAN's λ over the run's
    /// progress (γ = 10), which TLlib's iteration-based schedule would keep below 0.5 on a
    /// budget this short.
    pub fn for_pair(source: &str, target: &str, methods: Vec<Method>) -> Self {
        let (st, tt) = crate::data::pairs::default_transforms(source, target);
        let data = |name: &str, transforms| DataConfig {
            transforms,
            ..DataConfig::named(Some(name.into()))
        };
        let adversary = AdversaryConfig {
            grl: GrlSchedule {
                gamma: 10.0,
                max_iters: 0,
                ..GrlSchedule::default()
            },
            ..AdversaryConfig::default()
        };
        let mut optimizer = crate::train::OptimizerConfig::sgd(0.01, 0.9);
        optimizer.nesterov = true;
        optimizer.weight_decay = 1e-3;
        AdaptConfig {
            study: StudyHeader::new(format!("adapt-{source}-{target}")),
            iterations: Some(PAIR_ITERATIONS),
            methods,
            source: data(source, st),
            target: data(target, tt),
            blend_seed: 0,
            blend_digits: DigitStrokes::Grey,
            normalize: InputNorm::None,
            model: lenet(),
            pretrained: None,
            head: None,
            surgery: vec![],
            train: TrainConfig {
                epochs: 2,
                batch_size: 32,
                optimizer,
                schedule: crate::train::Schedule::InvDecay {
                    gamma: 0.001,
                    power: 0.75,
                    per_iteration: true,
                },
                clip_grad_norm: None,
                early_stopping: None,
                drop_last: true,
                eval_batch_size: 512,
                valid_every: 1,
            },
            dann: DannConfig {
                adversary: adversary.clone(),
                ..DannConfig::default()
            },
            dan: DanConfig::default(),
            coral: CoralConfig::default(),
            jan: JanConfig::default(),
            cdan: CdanConfig {
                adversary,
                ..CdanConfig::default()
            },
            analysis: AnalysisConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::nn::Network;

    /// The paper-protocol example parses into Ganin et al.'s settings, and its network puts
    /// 768-d features where the domain classifier attaches.
    #[test]
    fn ganin_example_config_has_the_paper_protocol() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/adapt-mnist-mnistm");
        let cfg = AdaptConfig::load(&dir.join("ganin.toml")).unwrap();
        assert_eq!(cfg.normalize, InputNorm::DomainMean);
        // DANN: the paper's domain classifier; CDAN: its authors' digits discriminator
        // (500-500, dropout 0.5, no BN).
        let (d, c) = (&cfg.dann.adversary, &cfg.cdan.adversary);
        let shapes = [
            (
                &cfg.dann.feature_layer,
                d.hidden,
                d.depth,
                d.batch_norm,
                d.dropout,
            ),
            (
                &cfg.cdan.feature_layer,
                c.hidden,
                c.depth,
                c.batch_norm,
                c.dropout,
            ),
        ];
        for ((layer, hidden, depth, bn, dropout), want) in
            shapes.into_iter().zip([(100, 1, 0.0), (500, 2, 0.5)])
        {
            assert_eq!((layer.as_str(), bn), ("features", false));
            assert_eq!((hidden, depth, dropout), want);
        }
        assert_eq!(cfg.train.batch_size, 64);
        let spec = cfg.model.build(&[3, 28, 28], 10, &dir).unwrap();
        let net = Network::new(spec, 0, &Device::flex()).unwrap();
        assert_eq!(
            super::super::dann::feature_width(&net, "features").unwrap(),
            768
        );
        // The TLlib-protocol config keeps the old defaults.
        let old = AdaptConfig::load(&dir.join("config.toml")).unwrap();
        assert_eq!(old.normalize, InputNorm::None);
        let a = &old.dann.adversary;
        assert_eq!((a.depth, a.batch_norm), (2, true));
    }

    /// A study built from two dataset names trains the examples' budget in iterations.
    #[test]
    fn a_study_from_two_names_has_a_budget_in_iterations() {
        let cfg = AdaptConfig::for_pair("mnist", "optdigits", vec![Method::Dann]);
        assert_eq!(cfg.iterations, Some(PAIR_ITERATIONS));
        assert_eq!(
            (
                cfg.dann.adversary.grl.gamma,
                cfg.dann.adversary.grl.max_iters
            ),
            (10.0, 0)
        );
        let text = toml::to_string_pretty(&cfg).unwrap();
        let back: AdaptConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, cfg);
    }

    /// Every top-level key a config writes is one `load` knows (the header's or `KEYS`), and a
    /// misspelt one is named with its line.
    #[test]
    fn top_level_keys_are_known_and_typos_named_with_their_line() {
        let cfg = AdaptConfig {
            pretrained: Some(PretrainedSource::Run {
                run: "r".into(),
                checkpoint: None,
            }),
            head: Some("head".into()),
            ..AdaptConfig::for_pair("mnist", "optdigits", vec![Method::Dann])
        };
        let t: toml::Table = toml::from_str(&toml::to_string_pretty(&cfg).unwrap()).unwrap();
        for k in t.keys() {
            assert!(
                ["name", "seeds", "device"].contains(&k.as_str())
                    || AdaptConfig::KEYS.contains(&k.as_str()),
                "{k}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.toml");
        let text = toml::to_string_pretty(&cfg)
            .unwrap()
            .replacen("methods", "method", 1);
        std::fs::write(&p, text).unwrap();
        let err = AdaptConfig::load(&p).unwrap_err().to_string();
        assert!(
            err.contains("a.toml")
                && err.contains("line ")
                && err.contains("unknown field `method`")
                && err.contains("`methods`"),
            "{err}"
        );
    }
}
