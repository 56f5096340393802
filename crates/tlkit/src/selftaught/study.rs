//! `tlkit selftaught`: features learned without labels on one kind of data, a linear
//! classifier on a labeled task of another, at several numbers of labels per class, over seeds.
//!
//! Raina, Battle, Lee, Packer & Ng 2007, "Self-taught learning: transfer learning from
//! unlabeled data", ICML. <https://doi.org/10.1145/1273496.1273592>
//!
//! Per (arm, seed), one cell of the study runner: the arm's features are learned once on the
//! unlabeled samples (the basis is kept in the cell's `basis/` folder, so an interrupted cell
//! does not learn it again), the labeled training samples of every labels-per-class value are
//! drawn with the seed (the same draw for every arm, the smaller sets inside the larger ones)
//! and encoded with the test samples, and a classifier ([`LinearClassifier`]) is fitted on each
//! draw and tested. The summary has each arm's test accuracy per labels-per-class, mean ± std
//! over seeds, and its gain over the baseline arm (raw pixels) with the study layer's verdict:
//! NEGATIVE TRANSFER where the learned features do worse than the pixels.
//!
//! ```text
//! <arm>/seed-<n>/basis/       the learned basis (`tlkit features encode --basis` reads it)
//! <arm>/seed-<n>/result.json  accuracies, feature width, times, reconstruction error
//! plots/accuracy.png          accuracy against labels per class, one line per arm
//! plots/basis-<arm>.png       the first seed's atoms as an image grid
//! plots/reconstruction.png    sparse coding's error per dictionary update (mean over seeds)
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::autoencoder::{
    AUTOENCODER_META, AutoencoderConfig, RECONSTRUCTION as AE_RECONSTRUCTION, TrainedAutoencoder,
    train_autoencoder,
};
use super::basis::{BASIS_META, Basis, LearnMethod, learn};
use super::classifier::{ClassifierConfig, LinearClassifier};
use super::config::{ArmConfig, LabelsPerClass, PhotoSet, SelftaughtConfig};
use super::dictionary::DictionaryConfig;
use super::pooling::{self, PatchEncoding};
use crate::data::patches::{self, Image, dataset_images, random_patches};
use crate::data::{self, Dataset, Split};
use crate::experiment::load_data;
use crate::linalg::PcaConfig;
use crate::plot::{self, Series};
use crate::run::RunDir;
use crate::study::{ArmStats, Folder, Study, StudyOptions, Verdict};
use crate::{Error, Result};

/// What one (arm, seed) cell leaves in `result.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellResult {
    /// Test accuracy per labels-per-class (`"10"`, `"all"`).
    pub accuracy: BTreeMap<String, f64>,
    /// Labeled training samples per labels-per-class.
    pub train_samples: BTreeMap<String, usize>,
    /// Classes of the labeled task.
    pub classes: usize,
    /// Features per sample.
    pub feature_width: usize,
    pub learn_seconds: f64,
    pub encode_seconds: f64,
    pub classify_seconds: f64,
    /// Sparse coding: the reconstruction error on each mini-batch before its update.
    #[serde(default)]
    pub reconstruction: Vec<f64>,
}

/// One arm at one number of labels per class.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub arm: String,
    pub kind: String,
    pub labels_per_class: String,
    /// Test accuracy, one value per seed.
    pub values: Vec<f64>,
    pub mean: f64,
    pub std: f64,
    /// Against the baseline arm at the same labels per class.
    pub gain_points: Option<f64>,
    pub verdict: Option<String>,
    pub negative_transfer: bool,
}

/// What `summary.json` of a self-taught study holds.
#[derive(Debug, Clone, Serialize)]
pub struct SelftaughtSummary {
    pub name: String,
    pub seeds: Vec<u64>,
    /// The unlabeled source and the labeled task, as loaded.
    pub unlabeled: String,
    pub labeled: String,
    pub test_samples: usize,
    pub baseline: Option<String>,
    pub classifier: ClassifierConfig,
    /// Arm by arm, labels-per-class by labels-per-class.
    pub rows: Vec<Row>,
    pub verdicts: Vec<String>,
    /// Mean seconds per seed of each arm's stages: learn, encode, classify.
    pub seconds: BTreeMap<String, [f64; 3]>,
    pub wall_seconds: f64,
}

/// Runs a self-taught study into a new folder under `out_root`; relative paths in the config
/// resolve against `base`, datasets are read from `cache`.
pub fn run(
    cfg: &SelftaughtConfig,
    out_root: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, SelftaughtSummary)> {
    let cfg = cfg.clone().named();
    execute(&cfg, Folder::New(out_root), base, cache, opts)
}

/// Continues a killed study in its folder: finished cells are read back, an interrupted one
/// reuses the basis it had learned.
pub fn resume(
    dir: &Path,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, SelftaughtSummary)> {
    let (folder, cfg, base) = Folder::reopen(dir, base, opts, SelftaughtConfig::load)?;
    execute(&cfg, folder, &base, cache, opts)
}

/// The labeled task of one seed: the training pool, the test samples, and the indices into the
/// pool of each labels-per-class draw.
struct Labeled {
    pool: Dataset,
    test: Dataset,
    /// Sorted indices into `pool`: every draw's samples.
    union: Vec<usize>,
    /// Per labels-per-class key, positions into `union`.
    draws: Vec<(String, Vec<usize>)>,
}

fn labeled(cfg: &SelftaughtConfig, seed: u64, base: &Path, cache: &Path) -> Result<Labeled> {
    let Split { train, test } = load_data(&cfg.data, seed, base, cache)?;
    let (pool, test) = match cfg.holdout {
        None => (train, test),
        Some(f) => {
            let n = train.len();
            let cut = n - ((n as f64 * f).round() as usize).min(n);
            let first: Vec<usize> = (0..cut).collect();
            let last: Vec<usize> = (cut..n).collect();
            let test = train.subset(&last, format!("{} (last {})", train.name, n - cut));
            (
                train.subset(&first, format!("{} (first {cut})", train.name)),
                test,
            )
        }
    };
    if test.is_empty() {
        return Err(Error::invalid(
            format!("test samples of `{}`", test.name),
            0,
            "the labeled task has no test samples",
        ));
    }
    let mut per_class = vec![0usize; pool.num_classes];
    for &y in &pool.y {
        per_class[y as usize] += 1;
    }
    let order = data::epoch_order(pool.len(), seed, 0, true);
    let mut draws = vec![];
    let mut all = vec![];
    for lpc in &cfg.labels_per_class {
        let k = lpc.count().unwrap_or(usize::MAX);
        if let Some(k) = lpc.count()
            && let Some((c, &have)) = per_class.iter().enumerate().find(|(_, n)| **n < k)
        {
            return Err(Error::invalid(
                "labels_per_class",
                k,
                format!(
                    "class {c} of `{}` has only {have} labeled training samples; give at most {}",
                    pool.name,
                    per_class.iter().min().copied().unwrap_or(0)
                ),
            ));
        }
        let mut idx = data::first_per_class(&order, &pool.y, pool.num_classes, k);
        idx.sort_unstable();
        all.extend_from_slice(&idx);
        draws.push((lpc.key(), idx));
    }
    all.sort_unstable();
    all.dedup();
    let draws = draws
        .into_iter()
        .map(|(k, idx)| {
            let pos = idx
                .iter()
                .map(|i| all.binary_search(i).expect("in the union"))
                .collect();
            (k, pos)
        })
        .collect();
    Ok(Labeled {
        pool,
        test,
        union: all,
        draws,
    })
}

/// The unlabeled source of one seed: a dataset (labels dropped) or images (photos, a folder).
enum Unlabeled {
    Samples(Dataset),
    Images(String, Vec<Image>),
}

fn unlabeled(cfg: &SelftaughtConfig, seed: u64, base: &Path, cache: &Path) -> Result<Unlabeled> {
    let u = &cfg.unlabeled;
    if let Some(d) = &u.data {
        let mut train = load_data(d, seed, base, cache)?.train;
        if let Some(limit) = u.limit
            && limit < train.len()
        {
            let keep: Vec<usize> = data::epoch_order(train.len(), seed, 0, true)
                .into_iter()
                .take(limit)
                .collect();
            train = train.subset(&keep, format!("{} ({limit} drawn)", train.name));
        }
        train.y.clear();
        train.targets.clear();
        return Ok(Unlabeled::Samples(train));
    }
    if let Some(set) = u.photos {
        let photos = data::pairs::load_photos(cache, set == PhotoSet::Wide)?;
        let name = match set {
            PhotoSet::Sklearn => "scikit-learn's photos",
            PhotoSet::Wide => "scikit-learn's and scikit-image's photos",
        };
        return Ok(Unlabeled::Images(
            name.into(),
            patches::grey_photos(&photos),
        ));
    }
    let folder = base.join(u.folder.as_deref().unwrap_or(Path::new(".")));
    Ok(Unlabeled::Images(
        folder.display().to_string(),
        grey_images(&folder)?,
    ))
}

impl Unlabeled {
    fn describe(&self) -> String {
        match self {
            Unlabeled::Samples(d) => format!("{} ({} samples)", d.name, d.len()),
            Unlabeled::Images(name, imgs) => format!("{name} ({} images)", imgs.len()),
        }
    }

    /// The samples an arm learns from: the samples themselves, or `count` random patches.
    fn samples(&self, arm: &ArmConfig, count: usize, seed: u64) -> Result<Dataset> {
        match (self, arm.patches()) {
            (Unlabeled::Samples(d), None) => Ok(d.clone()),
            (Unlabeled::Samples(d), Some(p)) => {
                random_patches(&dataset_images(d)?, p.size, count, p.norm, seed, &d.name)
            }
            (Unlabeled::Images(name, imgs), Some(p)) => {
                let refs: Vec<_> = imgs.iter().map(Image::as_ref).collect();
                random_patches(&refs, p.size, count, p.norm, seed, name)
            }
            (Unlabeled::Images(name, _), None) => Err(Error::invalid(
                format!("arms `{}`: patches", arm.name()),
                "none",
                format!("the images of {name} have many sizes: learn on patches"),
            )),
        }
    }
}

/// Every PNG/JPEG under `dir` (sorted, sub-folders included), in grey (the mean of R, G, B).
fn grey_images(dir: &Path) -> Result<Vec<Image>> {
    let mut files = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = std::fs::read_dir(&d).map_err(|e| Error::io("list folder", &d, e))?;
        for entry in rd {
            let path = entry.map_err(|e| Error::io("list folder", &d, e))?.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if path.is_dir() {
                stack.push(path);
            } else if ["png", "jpg", "jpeg"].contains(&ext.to_ascii_lowercase().as_str()) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| {
            let img = image::open(f)
                .map_err(|e| Error::format(f, None, e.to_string()))?
                .to_rgb8();
            let (w, h) = (img.width() as usize, img.height() as usize);
            let data = img
                .pixels()
                .map(|p| (f32::from(p[0]) + f32::from(p[1]) + f32::from(p[2])) / (3.0 * 255.0))
                .collect();
            Ok(Image {
                channels: 1,
                height: h,
                width: w,
                data,
            })
        })
        .collect()
}

/// What an arm learned: nothing (the pixels), a basis, or an autoencoder (whose codes of
/// patches are pooled as a basis's are).
enum Features {
    Pixels,
    Basis(Box<Basis>),
    Autoencoder(Box<TrainedAutoencoder>, Option<PatchEncoding>),
}

impl Features {
    /// `16 atoms of [1, 4, 4]`, for progress lines.
    fn describe(&self) -> String {
        match self {
            Features::Pixels => "nothing (pixels)".into(),
            Features::Basis(b) => format!("{} atoms of {:?}", b.meta.atoms, b.meta.atom_shape),
            Features::Autoencoder(ae, _) => format!(
                "a {} of {} units on {:?}",
                ae.config.kind.method_name(),
                ae.config.hidden,
                ae.encoder.spec().input_shape
            ),
        }
    }

    /// The features of `data`: its codes, or its pixels flattened.
    fn encode(&self, data: &Dataset) -> Result<Dataset> {
        match self {
            Features::Pixels => {
                let mut d = data.clone();
                d.sample_shape = vec![data.sample_width()];
                Ok(d)
            }
            Features::Basis(b) => b.encode(data),
            Features::Autoencoder(ae, None) => ae.encode(data),
            Features::Autoencoder(ae, Some(enc)) => {
                let k = ae.config.hidden;
                let shape = ae.encoder.spec().input_shape.clone();
                let code = |x: &[f32], m: usize| -> Result<Vec<f32>> {
                    let patches = Dataset::new("patches", shape.clone(), x.to_vec(), vec![], 0)?;
                    let codes = ae.encode(&patches)?;
                    debug_assert_eq!(codes.len(), m);
                    Ok(codes.x)
                };
                let x = pooling::encode_images(&dataset_images(data)?, k, enc, &code)?;
                let mut out = Dataset::new(
                    format!("{} (autoencoder codes, pooled)", data.name),
                    vec![enc.width(k)],
                    x,
                    data.y.clone(),
                    data.num_classes,
                )?;
                out.class_names = data.class_names.clone();
                Ok(out)
            }
        }
    }

    /// The atoms or the first layer's filters as an image grid at `path`, when there are any.
    fn draw(&self, path: &Path) -> Result<()> {
        match self {
            Features::Pixels => Ok(()),
            Features::Basis(b) => b.save_image(path),
            Features::Autoencoder(ae, _) => match ae.filters(&ae.encoder.spec().input_shape) {
                Some((tiles, tile)) => {
                    let zoom = (96 / tile[1].max(tile[2])).clamp(1, 8);
                    let cols = (ae.config.hidden as f64).sqrt().ceil() as usize;
                    plot::image_grid(path, &tiles, &tile, cols, zoom)
                }
                None => Ok(()),
            },
        }
    }

    /// What an earlier session of the cell learned into `dir`, if it finished learning.
    fn read_back(arm: &ArmConfig, dir: &Path) -> Result<Option<(Features, Vec<f64>)>> {
        let mse = || -> Vec<f64> {
            std::fs::read_to_string(dir.join(RECONSTRUCTION))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default()
        };
        let done = dir.join(RECONSTRUCTION).is_file();
        Ok(match arm {
            ArmConfig::Raw(_) => Some((Features::Pixels, vec![])),
            ArmConfig::Autoencoder(a) if done && dir.join(AUTOENCODER_META).is_file() => Some((
                Features::Autoencoder(Box::new(TrainedAutoencoder::load(dir)?), a.patches.clone()),
                mse(),
            )),
            ArmConfig::Pca(_) | ArmConfig::SparseCoding(_)
                if done && dir.join(BASIS_META).is_file() =>
            {
                Some((Features::Basis(Box::new(Basis::load(dir)?)), mse()))
            }
            _ => None,
        })
    }
}

/// The reconstruction error per update, written last beside what was learned: its presence
/// says learning finished.
const RECONSTRUCTION: &str = "reconstruction.json";

/// Learns an arm's features on the unlabeled samples into `dir`, with the reconstruction error
/// per update (dictionary mini-batches, autoencoder epochs). Adding a kind of features is one
/// arm of this match.
fn learn_features(
    arm: &ArmConfig,
    unlabeled: &Unlabeled,
    seed: u64,
    dir: &Path,
) -> Result<(Features, Vec<f64>)> {
    // What a killed session left is learned again (to the same numbers).
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io("remove directory", dir, e))?;
    }
    let (method, count) = match arm {
        ArmConfig::Raw(_) => return Ok((Features::Pixels, vec![])),
        ArmConfig::Autoencoder(a) => {
            let samples = unlabeled.samples(arm, a.patch_count, seed)?;
            let cfg = AutoencoderConfig {
                seed,
                ..a.autoencoder.clone()
            };
            let ae = train_autoencoder(&samples, &cfg, dir)?;
            let mse: Vec<f64> = ae
                .history
                .iter()
                .filter_map(|r| r.tasks.get(AE_RECONSTRUCTION).map(|t| t.train_metric))
                .collect();
            write_mse(dir, &mse)?;
            return Ok((Features::Autoencoder(Box::new(ae), a.patches.clone()), mse));
        }
        ArmConfig::Pca(a) => (
            LearnMethod::Pca(PcaConfig {
                components: a.components,
                whitening: a.whitening,
                epsilon: a.epsilon,
            }),
            a.patch_count,
        ),
        ArmConfig::SparseCoding(a) => (
            LearnMethod::SparseCoding(DictionaryConfig {
                batch_size: a.batch_size,
                iterations: a.iterations,
                seed,
                ..DictionaryConfig::new(a.atoms, a.alpha)
            }),
            a.patch_count,
        ),
    };
    let samples = unlabeled.samples(arm, count, seed)?;
    let learned = learn(&samples, &method, arm.patches().cloned())?;
    let mut basis = learned.basis;
    basis.meta.seed = seed;
    let mse: Vec<f64> = learned.history.iter().map(|r| r.mse).collect();
    basis.save(dir)?;
    write_mse(dir, &mse)?;
    Ok((Features::Basis(Box::new(basis)), mse))
}

fn write_mse(dir: &Path, mse: &[f64]) -> Result<()> {
    let text = serde_json::to_string(mse).unwrap_or_default();
    crate::fsio::write_atomic(&dir.join(RECONSTRUCTION), text.as_bytes())
}

fn execute(
    cfg: &SelftaughtConfig,
    folder: Folder<'_>,
    base: &Path,
    cache: &Path,
    opts: &StudyOptions,
) -> Result<(RunDir, SelftaughtSummary)> {
    cfg.check(&base.join("<config>"))?;
    let seeds = &cfg.study.seeds;
    // Everything that can fail on the data fails before the study folder exists.
    let first = labeled(cfg, seeds[0], base, cache)?;
    let source = unlabeled(cfg, seeds[0], base, cache)?;
    check_source(cfg, &source, &first.pool)?;
    let (labeled_name, test_samples) = (first.pool.name.clone(), first.test.len());
    let unlabeled_name = source.describe();
    let study = folder.study(&cfg.study.name, cfg, base)?.with_options(opts);
    let say = |msg: String| {
        if opts.progress {
            eprintln!("{msg}");
        }
        tracing::info!("{msg}");
    };
    let mut results: BTreeMap<String, Vec<CellResult>> = BTreeMap::new();
    let mut first = Some((first, source));
    for &seed in seeds {
        let mut loaded = first.take();
        for arm in &cfg.arms {
            let name = arm.name();
            let r = study.run_cell(&name, seed, |cell| {
                if loaded.is_none() {
                    loaded = Some((
                        labeled(cfg, seed, base, cache)?,
                        unlabeled(cfg, seed, base, cache)?,
                    ));
                }
                let (lab, source) = loaded.as_ref().expect("loaded above");
                run_arm(cfg, arm, seed, lab, source, &cell.dir, &say)
            })?;
            results.entry(name).or_default().push(r);
        }
    }
    let summary = summarise(
        cfg,
        &results,
        unlabeled_name,
        labeled_name,
        test_samples,
        &study,
    );
    draw(cfg, &results, &study)?;
    study.write_summary(&summary)?;
    Ok((study.into_dir(), summary))
}

/// Checks what needs the data: the unlabeled set is not empty, and an arm that learns on
/// whole samples learns them of the labeled samples' shape.
fn check_source(cfg: &SelftaughtConfig, source: &Unlabeled, pool: &Dataset) -> Result<()> {
    match source {
        Unlabeled::Samples(d) if d.is_empty() => Err(Error::invalid(
            format!("unlabeled samples of `{}`", d.name),
            0,
            "the unlabeled set is empty; choose other data, classes or a larger limit",
        )),
        Unlabeled::Images(name, imgs) if imgs.is_empty() => Err(Error::invalid(
            "unlabeled images",
            0,
            format!("{name} holds no PNG or JPEG images"),
        )),
        Unlabeled::Samples(d) => {
            for arm in &cfg.arms {
                if let ArmConfig::Autoencoder(a) = arm {
                    a.autoencoder.check(&source.samples(arm, 1, 0)?)?;
                }
                if arm.patches().is_none()
                    && !matches!(arm, ArmConfig::Raw(_))
                    && d.sample_shape != pool.sample_shape
                {
                    return Err(Error::invalid(
                        format!("arms `{}`: unlabeled sample shape", arm.name()),
                        format!("{:?}", d.sample_shape),
                        format!(
                            "the labeled samples of `{}` are {:?}; learn on patches to use samples of another shape",
                            pool.name, pool.sample_shape
                        ),
                    ));
                }
            }
            Ok(())
        }
        Unlabeled::Images(..) => {
            for arm in &cfg.arms {
                if let ArmConfig::Autoencoder(a) = arm {
                    a.autoencoder.check(&source.samples(arm, 1, 0)?)?;
                }
            }
            Ok(())
        }
    }
}

/// Where a cell keeps what its arm learned: a basis folder or an autoencoder folder.
const LEARNED: &str = "basis";

/// One cell: the arm's features (learned, or read back from `dir/basis`), the features of every
/// draw and of the test samples, a classifier per draw.
fn run_arm(
    cfg: &SelftaughtConfig,
    arm: &ArmConfig,
    seed: u64,
    lab: &Labeled,
    source: &Unlabeled,
    dir: &Path,
    say: &dyn Fn(String),
) -> Result<CellResult> {
    let name = arm.name();
    let t = Instant::now();
    let learned_dir = dir.join(LEARNED);
    let (features, reconstruction) = match Features::read_back(arm, &learned_dir)? {
        Some(done) => {
            if !matches!(arm, ArmConfig::Raw(_)) {
                say(format!(
                    "{name} seed {seed}: features read back from {}",
                    learned_dir.display()
                ));
            }
            done
        }
        None => {
            let done = learn_features(arm, source, seed, &learned_dir)?;
            say(format!(
                "{name} seed {seed}: learned {} in {:.1}s",
                done.0.describe(),
                t.elapsed().as_secs_f64()
            ));
            done
        }
    };
    let learn_seconds = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let train_part = lab.pool.subset(&lab.union, lab.pool.name.clone());
    let train = features.encode(&train_part)?;
    let test = features.encode(&lab.test)?;
    let encode_seconds = t.elapsed().as_secs_f64();
    say(format!(
        "{name} seed {seed}: {} + {} samples encoded to {} features in {encode_seconds:.1}s",
        train.len(),
        test.len(),
        train.sample_width()
    ));
    let t = Instant::now();
    let mut accuracy = BTreeMap::new();
    let mut train_samples = BTreeMap::new();
    for (key, pos) in &lab.draws {
        let part = train.subset(pos, format!("{} ({key} per class)", train.name));
        let clf = LinearClassifier::fit(&part, &cfg.classifier)?;
        let acc = clf.accuracy(&test)?;
        say(format!(
            "{name} seed {seed}: {key} labels per class: test accuracy {:.2}% ({} L-BFGS iterations)",
            100.0 * acc,
            clf.iterations
        ));
        accuracy.insert(key.clone(), acc);
        train_samples.insert(key.clone(), part.len());
    }
    Ok(CellResult {
        accuracy,
        train_samples,
        classes: lab.pool.num_classes,
        feature_width: train.sample_width(),
        learn_seconds,
        encode_seconds,
        classify_seconds: t.elapsed().as_secs_f64(),
        reconstruction,
    })
}

fn summarise(
    cfg: &SelftaughtConfig,
    results: &BTreeMap<String, Vec<CellResult>>,
    unlabeled: String,
    labeled: String,
    test_samples: usize,
    study: &Study,
) -> SelftaughtSummary {
    let baseline = cfg.baseline_arm();
    let values = |arm: &str, key: &str| -> Vec<f64> {
        results
            .get(arm)
            .map(|cells| {
                cells
                    .iter()
                    .filter_map(|c| c.accuracy.get(key).copied())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut rows = vec![];
    let mut verdicts = vec![];
    for arm in &cfg.arms {
        let name = arm.name();
        for lpc in &cfg.labels_per_class {
            let key = lpc.key();
            let stats = ArmStats::new(name.clone(), values(&name, &key));
            let verdict = baseline
                .as_ref()
                .filter(|b| **b != name)
                .map(|b| Verdict::compare(&stats, &ArmStats::new(b.clone(), values(b, &key))));
            if let Some(v) = &verdict {
                verdicts.push(format!("{key} labels per class: {}", v.line));
            }
            rows.push(Row {
                arm: name.clone(),
                kind: arm.kind().into(),
                labels_per_class: key,
                values: stats.values.clone(),
                mean: stats.mean,
                std: stats.std,
                gain_points: verdict.as_ref().map(|v| v.gain_points),
                negative_transfer: verdict.as_ref().is_some_and(|v| v.gain_points < 0.0),
                verdict: verdict.map(|v| v.line),
            });
        }
    }
    let seconds = results
        .iter()
        .map(|(arm, cells)| {
            let n = cells.len().max(1) as f64;
            let mean = |f: fn(&CellResult) -> f64| cells.iter().map(f).sum::<f64>() / n;
            let s = [
                mean(|c| c.learn_seconds),
                mean(|c| c.encode_seconds),
                mean(|c| c.classify_seconds),
            ];
            (arm.clone(), s)
        })
        .collect();
    SelftaughtSummary {
        name: cfg.study.name.clone(),
        seeds: cfg.study.seeds.clone(),
        unlabeled,
        labeled,
        test_samples,
        baseline,
        classifier: cfg.classifier.clone(),
        rows,
        verdicts,
        seconds,
        wall_seconds: study.seconds(),
    }
}

/// `plots/accuracy.png`, `plots/basis-<arm>.png` and `plots/reconstruction.png`.
fn draw(
    cfg: &SelftaughtConfig,
    results: &BTreeMap<String, Vec<CellResult>>,
    study: &Study,
) -> Result<()> {
    let plots = study.plots()?;
    let mut lines = vec![];
    let mut errors = vec![];
    for arm in &cfg.arms {
        let name = arm.name();
        let Some(cells) = results.get(&name) else {
            continue;
        };
        let n = cells.len() as f64;
        // x: the mean labeled samples per class ("all": the pool's).
        let mut points: Vec<(f64, f64)> = cfg
            .labels_per_class
            .iter()
            .map(|l: &LabelsPerClass| {
                let key = l.key();
                let mean = |f: &dyn Fn(&CellResult) -> f64| cells.iter().map(f).sum::<f64>() / n;
                let x = mean(&|c| {
                    c.train_samples.get(&key).copied().unwrap_or(0) as f64 / c.classes.max(1) as f64
                });
                (x, mean(&|c| c.accuracy.get(&key).copied().unwrap_or(0.0)))
            })
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (xs, ys) = points.into_iter().unzip();
        lines.push(Series::new(name.clone(), xs, ys));
        let mse =
            crate::study::mean_curve(&cells.iter().map(|c| &c.reconstruction).collect::<Vec<_>>());
        if !mse.is_empty() {
            let xs = (1..=mse.len()).map(|i| i as f64).collect();
            errors.push(Series::new(name.clone(), xs, mse));
        }
        let learned = study.cell(&name, cfg.study.seeds[0]).dir.join(LEARNED);
        if let Some((f, _)) = Features::read_back(arm, &learned)? {
            f.draw(&plots.join(format!("basis-{name}.png")))?;
        }
    }
    plot::line_plot(
        &plots.join("accuracy.png"),
        "test accuracy of a linear classifier on each arm's features (mean over seeds)",
        "labeled training samples per class",
        "accuracy",
        &lines,
    )?;
    if !errors.is_empty() {
        plot::line_plot(
            &plots.join("reconstruction.png"),
            "dictionary learning: reconstruction error per mini-batch (mean over seeds)",
            "dictionary update",
            "mean squared error per value",
            &errors,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> SelftaughtConfig {
        let text = format!(
            "labels_per_class = [3, 10, \"all\"]\n{extra}\n\
             [unlabeled]\ndata = {{ dataset = \"optdigits-embedded\", classes = [5, 6] }}\n\
             [data]\ndataset = \"optdigits-embedded\"\nclasses = [0, 1, 2]\n\
             [[arms]]\nkind = \"raw\"\n"
        );
        toml::from_str(&text).unwrap()
    }

    #[test]
    fn smaller_draws_lie_inside_larger_ones_and_the_seed_chooses_them() {
        let tmp = Path::new(".");
        let a = labeled(&config(""), 0, tmp, tmp).unwrap();
        let keys: Vec<&str> = a.draws.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["3", "10", "all"]);
        let pool_of = |pos: &[usize]| -> Vec<usize> { pos.iter().map(|&p| a.union[p]).collect() };
        let (three, ten, all) = (
            pool_of(&a.draws[0].1),
            pool_of(&a.draws[1].1),
            pool_of(&a.draws[2].1),
        );
        assert_eq!((three.len(), ten.len(), all.len()), (9, 30, a.pool.len()));
        assert!(three.iter().all(|i| ten.contains(i)));
        for c in 0..3 {
            assert_eq!(three.iter().filter(|&&i| a.pool.y[i] == c).count(), 3);
        }
        let b = labeled(&config(""), 1, tmp, tmp).unwrap();
        assert_ne!(pool_of(&b.draws[1].1), ten);
        // A held-out part of the training split replaces the test split.
        let h = labeled(&config("holdout = 0.5"), 0, tmp, tmp).unwrap();
        assert_eq!(h.pool.len() + h.test.len(), a.pool.len());
        assert!((h.pool.len() as i64 - h.test.len() as i64).abs() <= 1);
        assert_eq!(h.test.sample(0), a.pool.sample(h.pool.len()));
    }
}
