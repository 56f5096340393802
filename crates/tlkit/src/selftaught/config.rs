//! A self-taught study's config: where the unlabeled samples come from, the labeled task, the
//! feature arms, the classifier and the numbers of labels per class.
//!
//! ```toml
//! name = "digits"
//! seeds = [0, 1, 2]
//! labels_per_class = [10, 100]       # or "all"
//! [unlabeled]                        # one of: data (labels dropped), photos, folder
//! photos = "wide"                    # "sklearn": scikit-learn's two; "wide": those and six more
//! [data]                             # the labeled task, as `tlkit train`'s
//! dataset = "mnist"
//! [classifier]
//! kind = "logistic"                  # or "svm"
//! l2 = 1e-4
//! [[arms]]
//! kind = "raw"                       # the pixels: the baseline of the verdicts
//! [[arms]]
//! kind = "pca"
//! components = 64
//! patches = { size = 8, stride = 2, grid = 2 }
//! [[arms]]
//! kind = "sparse-coding"
//! atoms = 64
//! alpha = 0.1                        # scikit-learn sparse_encode's alpha
//! patches = { size = 8, stride = 2, grid = 2 }
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::autoencoder::AutoencoderConfig;
use super::classifier::ClassifierConfig;
use super::pooling::PatchEncoding;
use crate::config::DataConfig;
use crate::linalg::Whitening;
use crate::study::StudyHeader;
use crate::{Error, Result};

/// The family's name: the study folder's when the config names none.
pub const NAME: &str = "selftaught";

/// Where the unlabeled samples come from: exactly one of `data`, `photos` and `folder`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlabeledConfig {
    /// Any dataset, its labels dropped (a `[data]` table as `tlkit train`'s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<DataConfig>,
    /// Natural photos, in grey: `sklearn` (scikit-learn's two) or `wide` (those and
    /// scikit-image's six, as the MNIST-M-style generator uses). Patches only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photos: Option<PhotoSet>,
    /// Every PNG/JPEG image in this folder (and its sub-folders), in grey. Patches only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<PathBuf>,
    /// With `data`: at most this many samples of its training split (drawn with the seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// A set of natural photos.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoSet {
    Sklearn,
    Wide,
}

/// A number of labeled training samples per class, or all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LabelsPerClass {
    Count(usize),
    /// Must be the word `all`.
    All(String),
}

impl LabelsPerClass {
    /// `10`, or `all`: the key of this value in results and summaries.
    pub fn key(&self) -> String {
        match self {
            LabelsPerClass::Count(n) => n.to_string(),
            LabelsPerClass::All(_) => "all".into(),
        }
    }

    /// The count; `None` for all.
    pub fn count(&self) -> Option<usize> {
        match self {
            LabelsPerClass::Count(n) => Some(*n),
            LabelsPerClass::All(_) => None,
        }
    }
}

/// One feature arm. Adding a kind of features is one variant here and one match arm in the
/// study's [`learn_features`](super::study).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ArmConfig {
    /// The samples as they are (the baseline of every verdict).
    Raw(RawArm),
    /// PCA components learned on the unlabeled samples (or their patches).
    Pca(PcaArm),
    /// A dictionary learned on the unlabeled samples (or their patches); codes by FISTA.
    SparseCoding(SparseArm),
    /// An autoencoder trained on the unlabeled samples (or their patches); codes from its
    /// encoder.
    Autoencoder(Box<AutoencoderArm>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArm {
    /// The arm's folder name; default `raw`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcaArm {
    /// Default `pca-<components>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub components: usize,
    #[serde(default)]
    pub whitening: Whitening,
    #[serde(default)]
    pub epsilon: f64,
    /// Learn on patches of the unlabeled images; encode images by pooled patch codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<PatchEncoding>,
    /// Random patches to learn from.
    #[serde(default = "default_patch_count")]
    pub patch_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseArm {
    /// Default `sparse-<atoms>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub atoms: usize,
    /// The L1 weight: scikit-learn `sparse_encode`'s `alpha` (see `selftaught::fista`).
    pub alpha: f64,
    /// Dictionary updates (mini-batches).
    #[serde(default = "default_iterations")]
    pub iterations: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<PatchEncoding>,
    #[serde(default = "default_patch_count")]
    pub patch_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoencoderArm {
    /// Default `<kind>-autoencoder-<hidden>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The autoencoder and its training, as `tlkit features learn` takes it; its `seed` is
    /// replaced by the study's.
    pub autoencoder: AutoencoderConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<PatchEncoding>,
    #[serde(default = "default_patch_count")]
    pub patch_count: usize,
}

fn default_patch_count() -> usize {
    20_000
}

fn default_iterations() -> usize {
    100
}

fn default_batch_size() -> usize {
    256
}

impl ArmConfig {
    /// The arm's name: its folder and its row in the tables.
    pub fn name(&self) -> String {
        match self {
            ArmConfig::Raw(a) if a.name.is_empty() => "raw".into(),
            ArmConfig::Raw(a) => a.name.clone(),
            ArmConfig::Pca(a) if a.name.is_empty() => format!("pca-{}", a.components),
            ArmConfig::Pca(a) => a.name.clone(),
            ArmConfig::SparseCoding(a) if a.name.is_empty() => format!("sparse-{}", a.atoms),
            ArmConfig::SparseCoding(a) => a.name.clone(),
            ArmConfig::Autoencoder(a) if a.name.is_empty() => format!(
                "{}-{}",
                a.autoencoder.kind.method_name(),
                a.autoencoder.hidden
            ),
            ArmConfig::Autoencoder(a) => a.name.clone(),
        }
    }

    /// The kind, as the config spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            ArmConfig::Raw(_) => "raw",
            ArmConfig::Pca(_) => "pca",
            ArmConfig::SparseCoding(_) => "sparse-coding",
            ArmConfig::Autoencoder(_) => "autoencoder",
        }
    }

    /// Patch learning and encoding, for the arms that learn.
    pub fn patches(&self) -> Option<&PatchEncoding> {
        match self {
            ArmConfig::Raw(_) => None,
            ArmConfig::Pca(a) => a.patches.as_ref(),
            ArmConfig::SparseCoding(a) => a.patches.as_ref(),
            ArmConfig::Autoencoder(a) => a.patches.as_ref(),
        }
    }
}

/// A self-taught study: features learned without labels per arm and seed, a linear classifier
/// on each number of labels per class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelftaughtConfig {
    #[serde(flatten)]
    pub study: StudyHeader,
    /// Labeled training samples per class, each drawn with the seed (the smaller sets are
    /// part of the larger ones).
    pub labels_per_class: Vec<LabelsPerClass>,
    /// The arm the verdicts compare with; default: the first `raw` arm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Test on this fraction of the labeled training split (its last samples, in file order)
    /// instead of the test split, as the UFLDL exercise does with one half.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<f64>,
    #[serde(default)]
    pub classifier: ClassifierConfig,
    pub unlabeled: UnlabeledConfig,
    /// The labeled task.
    pub data: DataConfig,
    pub arms: Vec<ArmConfig>,
}

/// The built-in benchmarks `--benchmark` names.
pub const BENCHMARKS: &[(&str, &str)] = &[
    (
        "ufldl-digits",
        include_str!("../../configs/selftaught-ufldl-digits.toml"),
    ),
    (
        "raina-mnist",
        include_str!("../../configs/selftaught-raina-mnist.toml"),
    ),
    (
        "raina-optdigits",
        include_str!("../../configs/selftaught-raina-optdigits.toml"),
    ),
];

impl SelftaughtConfig {
    /// The top-level keys besides the study header's.
    pub const KEYS: [&str; 7] = [
        "labels_per_class",
        "baseline",
        "holdout",
        "classifier",
        "unlabeled",
        "data",
        "arms",
    ];

    /// Reads a config file; unknown keys and bad values are errors naming the field.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg: Self = crate::study::load_study_toml(path, &Self::KEYS)?;
        cfg.check(path)?;
        Ok(cfg.named())
    }

    /// Gives an unnamed study the family's name.
    pub fn named(self) -> Self {
        SelftaughtConfig {
            study: self.study.clone().or_name(NAME),
            ..self
        }
    }

    /// The built-in benchmark `name`.
    pub fn benchmark(name: &str) -> Result<Self> {
        let (text, origin) =
            crate::study::builtin_config("self-taught benchmark", BENCHMARKS, name)?;
        let cfg: Self = crate::config::parse_toml(text, &origin)?;
        cfg.check(&origin)?;
        Ok(cfg.named())
    }

    /// The arm of the verdicts' baseline, if any.
    pub fn baseline_arm(&self) -> Option<String> {
        self.baseline.clone().or_else(|| {
            self.arms
                .iter()
                .find(|a| matches!(a, ArmConfig::Raw(_)))
                .map(ArmConfig::name)
        })
    }

    /// What can be checked before any data is read; errors name the file and the field.
    pub fn check(&self, path: &Path) -> Result<()> {
        let bad = |msg: String| Error::Config {
            path: path.to_path_buf(),
            msg,
        };
        self.study.check(path)?;
        self.classifier.validate().map_err(|e| bad(e.to_string()))?;
        if self.labels_per_class.is_empty() {
            return Err(bad(
                "`labels_per_class` is empty; give at least one, e.g. [10, 100]".into(),
            ));
        }
        for l in &self.labels_per_class {
            match l {
                LabelsPerClass::Count(0) => {
                    return Err(bad(
                        "labels_per_class: 0 labels per class leave nothing to train on".into(),
                    ));
                }
                LabelsPerClass::All(w) if w != "all" => {
                    return Err(bad(format!(
                        "labels_per_class: `{w}` is neither a number nor \"all\""
                    )));
                }
                _ => {}
            }
        }
        let mut keys: Vec<String> = self.labels_per_class.iter().map(|l| l.key()).collect();
        keys.sort();
        if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad(format!("labels_per_class: {} is listed twice", w[0])));
        }
        if let Some(h) = self.holdout
            && !(h > 0.0 && h < 1.0)
        {
            return Err(bad(format!(
                "holdout = {h}: give the fraction of the training split to test on, between 0 and 1"
            )));
        }
        let u = &self.unlabeled;
        let sources = [u.data.is_some(), u.photos.is_some(), u.folder.is_some()];
        if sources.iter().filter(|&&s| s).count() != 1 {
            return Err(bad(
                "[unlabeled] needs exactly one of `data` (a [data] table), `photos` (\"sklearn\" or \"wide\") and `folder` (a path)".into(),
            ));
        }
        if u.limit == Some(0) {
            return Err(bad("unlabeled.limit = 0 leaves no unlabeled samples".into()));
        }
        if self.arms.is_empty() {
            return Err(bad(
                "no [[arms]]; give e.g. kind = \"raw\", \"pca\", \"sparse-coding\" or \"autoencoder\"".into(),
            ));
        }
        let mut names: Vec<String> = self.arms.iter().map(ArmConfig::name).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(bad(format!(
                "two arms are named `{}`; give one a `name`",
                w[0]
            )));
        }
        for arm in &self.arms {
            let at = |field: &str| format!("arms `{}`: {field}", arm.name());
            match arm {
                ArmConfig::Raw(_) => {}
                // Checked against the samples when it is trained (`AutoencoderConfig::check`).
                ArmConfig::Autoencoder(_) => {}
                ArmConfig::Pca(a) => {
                    if a.components == 0 {
                        return Err(bad(format!("{} = 0: give at least 1", at("components"))));
                    }
                    if a.epsilon < 0.0 {
                        return Err(bad(format!(
                            "{} = {} must be ≥ 0",
                            at("epsilon"),
                            a.epsilon
                        )));
                    }
                }
                ArmConfig::SparseCoding(a) => {
                    if a.atoms == 0 {
                        return Err(bad(format!("{} = 0: give at least 1", at("atoms"))));
                    }
                    if !(a.alpha > 0.0 && a.alpha.is_finite()) {
                        return Err(bad(format!(
                            "{} = {}: the L1 weight must be > 0",
                            at("alpha"),
                            a.alpha
                        )));
                    }
                    if a.iterations == 0 || a.batch_size == 0 {
                        return Err(bad(format!(
                            "{}: iterations and batch_size must be at least 1",
                            at("iterations")
                        )));
                    }
                }
            }
            let count = match arm {
                ArmConfig::Pca(a) => a.patch_count,
                ArmConfig::SparseCoding(a) => a.patch_count,
                ArmConfig::Autoencoder(a) => a.patch_count,
                ArmConfig::Raw(_) => 1,
            };
            if arm.patches().is_some() && count == 0 {
                return Err(bad(format!("{} = 0: give at least 1", at("patch_count"))));
            }
            if arm.patches().is_none()
                && !matches!(arm, ArmConfig::Raw(_))
                && self.unlabeled.data.is_none()
            {
                return Err(bad(format!(
                    "arms `{}`: photos and image folders have images of many sizes, so learn on patches: add `patches = {{ size = 8 }}` (say)",
                    arm.name()
                )));
            }
        }
        if let Some(b) = &self.baseline
            && !self.arms.iter().any(|a| &a.name() == b)
        {
            return Err(bad(format!(
                "baseline = \"{b}\" names no arm; the arms are {}",
                self.arms
                    .iter()
                    .map(ArmConfig::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }
}

/// What `tlkit selftaught`'s flags change; `None` or empty: keep the config's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelftaughtOverrides {
    pub seeds: Vec<u64>,
    pub labels_per_class: Vec<usize>,
    /// Keep only the arms of these names.
    pub arms: Vec<String>,
    pub test_limit: Option<usize>,
}

impl SelftaughtConfig {
    /// Applies `o`; an arm name the config lacks is an error naming the arms.
    pub fn apply(&mut self, o: &SelftaughtOverrides) -> Result<()> {
        if !o.arms.is_empty() {
            let names: Vec<String> = self.arms.iter().map(ArmConfig::name).collect();
            if let Some(a) = o.arms.iter().find(|a| !names.contains(a)) {
                return Err(Error::Unknown {
                    kind: "arm",
                    name: a.clone(),
                    known: names.join(", "),
                });
            }
            self.arms.retain(|a| o.arms.contains(&a.name()));
            if self.baseline.as_ref().is_some_and(|b| !o.arms.contains(b)) {
                self.baseline = None;
            }
        }
        if !o.seeds.is_empty() {
            self.study.seeds = o.seeds.clone();
        }
        if !o.labels_per_class.is_empty() {
            self.labels_per_class = o
                .labels_per_class
                .iter()
                .map(|&n| LabelsPerClass::Count(n))
                .collect();
        }
        if o.test_limit.is_some() {
            self.data.test_limit = o.test_limit;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("study.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    const GOOD: &str = "seeds = [0, 1]\nlabels_per_class = [2, \"all\"]\n\
        [unlabeled]\ndata = { dataset = \"optdigits-embedded\", classes = [5, 6, 7, 8, 9] }\n\
        [data]\ndataset = \"optdigits-embedded\"\nclasses = [0, 1, 2, 3, 4]\n\
        [[arms]]\nkind = \"raw\"\n\
        [[arms]]\nkind = \"pca\"\ncomponents = 8\n\
        [[arms]]\nkind = \"sparse-coding\"\natoms = 8\nalpha = 0.1\npatches = { size = 4 }\n";

    #[test]
    fn benchmarks_parse_and_configs_name_their_arms() {
        for (name, _) in BENCHMARKS {
            let cfg = SelftaughtConfig::benchmark(name).unwrap();
            assert_eq!(cfg.baseline_arm().as_deref(), Some("raw"), "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        let cfg = SelftaughtConfig::load(&write(dir.path(), GOOD)).unwrap();
        let names: Vec<String> = cfg.arms.iter().map(ArmConfig::name).collect();
        assert_eq!(names, ["raw", "pca-8", "sparse-8"]);
        assert_eq!(cfg.study.name, NAME);
        let keys: Vec<String> = cfg.labels_per_class.iter().map(|l| l.key()).collect();
        assert_eq!(keys, ["2", "all"]);
        let p = cfg.arms[2].patches().unwrap();
        assert_eq!((p.size, p.stride, p.grid), (4, 1, 2));
        // The resolved config reads back as it was.
        let text = toml::to_string_pretty(&cfg).unwrap();
        let back: SelftaughtConfig = toml::from_str(&text).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn config_errors_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (GOOD.replace("alpha = 0.1", "alpha = 0.0"), "alpha = 0"),
            (
                GOOD.replace("kind = \"pca\"", "kind = \"ica\""),
                "unknown variant `ica`",
            ),
            (
                GOOD.replace("components = 8", "componets = 8"),
                "unknown field `componets`",
            ),
            (GOOD.replace("[2, \"all\"]", "[2, \"many\"]"), "`many`"),
            (
                GOOD.replace("[2, \"all\"]", "[]"),
                "`labels_per_class` is empty",
            ),
            (
                GOOD.replace("[unlabeled]\n", "[unlabeled]\nphotos = \"wide\"\n"),
                "exactly one of `data`",
            ),
            (format!("baseline = \"pixels\"\n{GOOD}"), "names no arm"),
            (format!("holdout = 1.5\n{GOOD}"), "holdout = 1.5"),
            (
                GOOD.replace(
                    "[[arms]]\nkind = \"raw\"\n",
                    "[[arms]]\nkind = \"raw\"\n[[arms]]\nkind = \"raw\"\n",
                ),
                "two arms are named `raw`",
            ),
            (
                GOOD.replace("[classifier]", "")
                    .replace("[unlabeled]", "[classifier]\nl2 = -1\n[unlabeled]"),
                "classifier.l2",
            ),
            (
                GOOD.replace("seeds = [0, 1]", "seeds = [0, 1]\nlabels = 3"),
                "unknown field `labels`",
            ),
        ];
        for (text, want) in cases {
            let err = SelftaughtConfig::load(&write(dir.path(), &text))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(want) && err.contains("study.toml"),
                "{want}: {err}"
            );
        }
        // Photos without patches.
        let photos = GOOD
            .replace(
                "data = { dataset = \"optdigits-embedded\", classes = [5, 6, 7, 8, 9] }",
                "photos = \"sklearn\"",
            )
            .replace("components = 8", "components = 8\n");
        let err = SelftaughtConfig::load(&write(dir.path(), &photos))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("arms `pca-8`") && err.contains("patches"),
            "{err}"
        );
    }

    #[test]
    fn flags_keep_arms_and_change_seeds_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = SelftaughtConfig::load(&write(dir.path(), GOOD)).unwrap();
        let o = SelftaughtOverrides {
            seeds: vec![4],
            labels_per_class: vec![5],
            arms: vec!["raw".into(), "sparse-8".into()],
            test_limit: Some(50),
        };
        cfg.apply(&o).unwrap();
        assert_eq!(cfg.arms.len(), 2);
        assert_eq!(cfg.study.seeds, [4]);
        assert_eq!(cfg.labels_per_class, [LabelsPerClass::Count(5)]);
        assert_eq!(cfg.data.test_limit, Some(50));
        let err = cfg
            .apply(&SelftaughtOverrides {
                arms: vec!["ica".into()],
                ..Default::default()
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("ica") && err.contains("sparse-8"), "{err}");
    }
}
