//! `tlkit features`: learn a basis without labels (sparse coding, PCA) and encode any dataset
//! with it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};

use tlkit::config::DataConfig;
use tlkit::data::patches::{self, PatchNorm};
use tlkit::data::{self, Dataset};
use tlkit::linalg::{PcaConfig, Whitening};
use tlkit::selftaught::{
    Basis, DictionaryConfig, LearnMethod, PatchEncoding, Pool, basis::BASIS_META,
};

#[derive(Subcommand)]
pub enum FeaturesCommand {
    /// Learn a basis from unlabeled data (labels are dropped): a sparse-coding dictionary or
    /// PCA components, on whole images or on random patches.
    Learn(LearnArgs),
    /// Encode a dataset with a learned basis and write the features (.npz, arrays `x` and
    /// `y`) that `tlkit train` reads as a dataset.
    Encode(EncodeArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum MethodArg {
    SparseCoding,
    Pca,
}

#[derive(Clone, Copy, ValueEnum)]
enum SplitArg {
    Train,
    Test,
}

#[derive(Args)]
struct DataArgs {
    /// A dataset name (mnist, optdigits-embedded, ... or `photos`: scikit-learn's two photos
    /// in grey, `photos-wide`: eight photos, for patches only), or a TOML file with a [data]
    /// table as `tlkit train` takes.
    #[arg(long)]
    data: String,
    /// Keep only these classes (e.g. 5,6,7,8,9).
    #[arg(long, value_delimiter = ',')]
    classes: Option<Vec<u32>>,
    /// Which split.
    #[arg(long, value_enum, default_value = "train")]
    split: SplitArg,
    /// Use at most this many samples (a seeded random subset).
    #[arg(long)]
    limit: Option<usize>,
}

#[derive(Args)]
#[command(after_help = "The α convention: the code c of a sample x minimises
  0.5*||x - c D||^2 + alpha*||c||_1,
the `alpha` of scikit-learn's sparse_encode (lasso_lars, lasso_cd) and DictionaryLearning.

Examples:
  tlkit features learn --method sparse-coding --data mnist --classes 5,6,7,8,9 --atoms 200 --alpha 0.5 --out basis/
  tlkit features learn --method pca --data mnist --classes 5,6,7,8,9 --atoms 200 --out pca/
  tlkit features learn --method sparse-coding --data photos --patch 8 --atoms 64 --alpha 0.2 --out photo-basis/

OUT gets basis.safetensors and basis.toml (what `features encode` reads), basis.png (the
atoms as an image grid) and, for sparse coding, history.csv and reconstruction.png (the
error on each mini-batch before the update).")]
pub struct LearnArgs {
    #[arg(long, value_enum)]
    method: MethodArg,
    #[command(flatten)]
    data: DataArgs,
    /// Atoms (sparse coding) or components (PCA).
    #[arg(long)]
    atoms: usize,
    /// The L1 weight of sparse coding (see below).
    #[arg(long, allow_negative_numbers = true)]
    alpha: Option<f64>,
    /// Learn on random PATCH×PATCH patches instead of whole samples; images are then
    /// encoded by their patches' codes pooled over a grid.
    #[arg(long, value_name = "PATCH")]
    patch: Option<usize>,
    /// Number of random patches.
    #[arg(long, default_value_t = 20_000)]
    patches: usize,
    /// Normalisation of each patch.
    #[arg(long, value_enum, default_value = "center")]
    patch_norm: PatchNormArg,
    /// Step between patches when encoding whole images.
    #[arg(long, default_value_t = 1)]
    stride: usize,
    /// Pooling cells per side when encoding whole images.
    #[arg(long, default_value_t = 2)]
    grid: usize,
    #[arg(long, value_enum, default_value = "sum")]
    pool: PoolArg,
    /// Dictionary updates (mini-batches).
    #[arg(long, default_value_t = 100)]
    iterations: usize,
    /// Samples per mini-batch.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// PCA whitening.
    #[arg(long, value_enum, default_value = "none")]
    whiten: WhitenArg,
    /// Added to each variance before whitening.
    #[arg(long, default_value_t = 0.0)]
    epsilon: f64,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum PatchNormArg {
    None,
    Center,
    Standardize,
}

#[derive(Clone, Copy, ValueEnum)]
enum PoolArg {
    Sum,
    Max,
}

#[derive(Clone, Copy, ValueEnum)]
enum WhitenArg {
    None,
    Pca,
    Zca,
}

#[derive(Args)]
#[command(after_help = "Examples:
  tlkit features encode --basis basis/ --data mnist --classes 0,1,2,3,4 --out codes.npz
  tlkit features encode --basis basis/ --data mnist --classes 0,1,2,3,4 --split test --out codes-test.npz

Train a classifier on the codes with a config whose [data] reads them:
  [data.train]
  format = \"npz\"
  path = \"codes.npz\"
  x_key = \"x\"
  y_key = \"y\"")]
pub struct EncodeArgs {
    /// A folder written by `tlkit features learn`.
    #[arg(long)]
    basis: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// The .npz to write (`x`: [samples, features], `y`: labels).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(cmd: FeaturesCommand) -> Result<()> {
    match cmd {
        FeaturesCommand::Learn(args) => learn(args),
        FeaturesCommand::Encode(args) => encode(args),
    }
}

/// The photo sets usable as unlabeled natural images.
const PHOTOS: &str = "photos";
const PHOTOS_WIDE: &str = "photos-wide";

/// The samples `args` names, as a dataset (labels kept; learning ignores them).
fn load(args: &DataArgs, seed: u64) -> Result<Dataset> {
    let cache = data::cache_dir();
    let (cfg, base) = if args.data.ends_with(".toml") {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            data: DataConfig,
        }
        let path = Path::new(&args.data);
        let file: File = tlkit::config::load_toml(path)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        (file.data, base)
    } else {
        let cfg = DataConfig {
            dataset: Some(args.data.clone()),
            train: None,
            test: None,
            classes: None,
            transforms: vec![],
            train_limit: None,
            train_per_class: None,
            test_limit: None,
            targets: vec![],
        };
        (cfg, PathBuf::from("."))
    };
    let cfg = DataConfig {
        classes: args.classes.clone().or(cfg.classes),
        ..cfg
    };
    let split = tlkit::experiment::load_data(&cfg, seed, &base, &cache)
        .with_context(|| format!("loading `{}`", args.data))?;
    let mut ds = match args.split {
        SplitArg::Train => split.train,
        SplitArg::Test => split.test,
    };
    if let Some(limit) = args.limit
        && limit < ds.len()
    {
        let keep: Vec<usize> = data::epoch_order(ds.len(), seed, 0, true)
            .into_iter()
            .take(limit)
            .collect();
        ds = ds.subset(&keep, format!("{} (first {limit})", ds.name));
    }
    Ok(ds)
}

fn learn(args: LearnArgs) -> Result<()> {
    let start = Instant::now();
    let patch_norm = match args.patch_norm {
        PatchNormArg::None => PatchNorm::None,
        PatchNormArg::Center => PatchNorm::Center,
        PatchNormArg::Standardize => PatchNorm::Standardize,
    };
    let is_photos = args.data.data == PHOTOS || args.data.data == PHOTOS_WIDE;
    let samples = match (args.patch, is_photos) {
        (None, true) => bail!(
            "--data {}: photos have different sizes, so learn on patches: add --patch 8 (say)",
            args.data.data
        ),
        (Some(p), true) => {
            let cache = data::cache_dir();
            let photos = data::pairs::load_photos(&cache, args.data.data == PHOTOS_WIDE)?;
            let grey = patches::grey_photos(&photos);
            let images: Vec<_> = grey.iter().map(|g| g.as_ref()).collect();
            patches::random_patches(
                &images,
                p,
                args.patches,
                patch_norm,
                args.seed,
                &args.data.data,
            )?
        }
        (Some(p), false) => {
            let ds = load(&args.data, args.seed)?;
            let images = patches::dataset_images(&ds)?;
            patches::random_patches(&images, p, args.patches, patch_norm, args.seed, &ds.name)?
        }
        (None, false) => load(&args.data, args.seed)?,
    };
    let encoding = args.patch.map(|size| PatchEncoding {
        size,
        stride: args.stride,
        grid: args.grid,
        pool: match args.pool {
            PoolArg::Sum => Pool::Sum,
            PoolArg::Max => Pool::Max,
        },
        norm: patch_norm,
    });
    let method = match args.method {
        MethodArg::SparseCoding => {
            let Some(alpha) = args.alpha else {
                bail!("sparse coding needs --alpha (the L1 weight, e.g. 0.1; see --help)");
            };
            LearnMethod::SparseCoding(DictionaryConfig {
                batch_size: args.batch_size,
                iterations: args.iterations,
                seed: args.seed,
                ..DictionaryConfig::new(args.atoms, alpha)
            })
        }
        MethodArg::Pca => {
            if args.alpha.is_some() {
                bail!("--alpha is sparse coding's L1 weight; PCA takes none");
            }
            LearnMethod::Pca(PcaConfig {
                components: args.atoms,
                whitening: match args.whiten {
                    WhitenArg::None => Whitening::None,
                    WhitenArg::Pca => Whitening::Pca,
                    WhitenArg::Zca => Whitening::Zca,
                },
                epsilon: args.epsilon,
            })
        }
    };
    eprintln!(
        "learning {} atoms of shape {:?} from {} samples of `{}`",
        args.atoms,
        samples.sample_shape,
        samples.len(),
        samples.name
    );
    let learned = tlkit::selftaught::learn(&samples, &method, encoding)?;
    let mut basis = learned.basis;
    if let LearnMethod::Pca(_) = method {
        basis.meta.seed = args.seed;
    }
    basis.save(&args.out)?;
    let mut written = vec![BASIS_META.to_string(), "basis.safetensors".into()];
    basis.save_image(&args.out.join("basis.png"))?;
    written.push("basis.png".into());
    if !learned.history.is_empty() {
        let mut csv = String::from("iteration,objective,mse,sparsity\n");
        for r in &learned.history {
            csv.push_str(&format!(
                "{},{},{},{}\n",
                r.iteration, r.objective, r.mse, r.sparsity
            ));
        }
        tlkit::fsio::write_atomic(&args.out.join("history.csv"), csv.as_bytes())?;
        let xs: Vec<f64> = learned.history.iter().map(|r| r.iteration as f64).collect();
        let ys = learned.history.iter().map(|r| r.mse).collect();
        tlkit::plot::line_plot(
            &args.out.join("reconstruction.png"),
            "Reconstruction error on each mini-batch, before the update",
            "iteration",
            "mean squared error per value",
            &[tlkit::plot::Series::new("sparse coding", xs, ys)],
        )?;
        written.extend(["history.csv".into(), "reconstruction.png".into()]);
        let last = learned.history.last().expect("not empty");
        println!(
            "iteration {}: mse {:.5}, objective {:.4}, {:.1}% zero codes",
            last.iteration,
            last.mse,
            last.objective,
            100.0 * last.sparsity
        );
    }
    if let Some((_, var)) = &basis.pca {
        println!(
            "{} components: variance {:.4} (first) to {:.4} (last)",
            var.len(),
            var[0],
            var[var.len() - 1]
        );
    }
    println!(
        "wrote {} in {} ({:.1}s)",
        written.join(", "),
        args.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn encode(args: EncodeArgs) -> Result<()> {
    let basis = Basis::load(&args.basis)
        .with_context(|| format!("reading the basis in {}", args.basis.display()))?;
    let ds = load(&args.data, 0)?;
    let start = Instant::now();
    let codes = basis
        .encode(&ds)
        .with_context(|| format!("encoding `{}`", ds.name))?;
    let secs = start.elapsed().as_secs_f64();
    let width = codes.sample_width();
    let y = if ds.y.is_empty() {
        vec![0; ds.len()]
    } else {
        ds.y.clone()
    };
    data::save_npz(&args.out, &codes.x, &[ds.len(), width], &y, ("x", "y"))?;
    let zeros = codes.x.iter().filter(|&&v| v == 0.0).count();
    println!(
        "{} samples → {width} features each ({:.1}% zero) in {secs:.2}s, {:.0} samples/s; wrote {}",
        ds.len(),
        100.0 * zeros as f64 / codes.x.len().max(1) as f64,
        ds.len() as f64 / secs.max(1e-9),
        args.out.display()
    );
    Ok(())
}
