//! `tlkit relate`: the relatedness matrix between datasets (proxy A-distance on one network's
//! features), and between networks on each dataset (linear CKA), printed and as heatmaps.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;

use tlkit::config::DataConfig;
use tlkit::data::{self, Dataset};
use tlkit::nn::FeatureCache;
use tlkit::transferability::relate::{self, RelateOptions, Relatedness};
use tlkit::transferability::{Candidate, ScoreOptions};
use tlkit::weights::{LoadContext, ModelRef};

use super::score::candidates;

#[derive(Args)]
#[command(
    after_help = "Each DATASET is a dataset name (`tlkit data list`: mnist, \
fashion-mnist, optdigits-embedded, mnist-m, ...) or a TOML file holding a data config as \
`tlkit train`'s [data] (the table itself, or a whole train config with a [data] table; its \
relative paths resolve in the file's folder). --samples images are drawn from each training \
split with --seed and fitted to the network (resized, to RGB, scaled) as `tlkit score` fits a \
target.

The proxy A-distance between two datasets is 2(1 − 2ε), ε the test error of a linear classifier \
telling their features apart: 0 = indistinguishable, 2 = separable. It is read on the first \
--model's features (default: the ImageNet EfficientNet-Lite0 at 64×64, its pooled 1280 head \
features; `tlkit weights fetch efficientnet-lite0`). With two or more --model, linear CKA \
(Kornblith et al. 2019) between every two networks' features of the same samples is given \
for each dataset.

Examples:
  tlkit relate mnist fashion-mnist optdigits-embedded mnist-m
  tlkit relate a.toml b.toml c.toml --model lenet-run/ --samples 300
  tlkit relate mnist --model ~/.cache/tlkit/zoo/zoo.toml      # CKA between the zoo's networks"
)]
pub struct RelateArgs {
    /// Datasets: names or data-config files (.toml).
    #[arg(required = true, value_name = "DATASET")]
    datasets: Vec<String>,
    /// Networks giving the features (model references or zoo files, repeatable); the first
    /// gives the A-distance's.
    #[arg(long, value_name = "MODEL")]
    model: Vec<String>,
    /// Images drawn from each dataset's training split.
    #[arg(long, default_value_t = 500)]
    samples: usize,
    /// Seed drawing them and splitting the A-distance's classifier data.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Epochs of the A-distance's linear classifier.
    #[arg(long, default_value_t = 10)]
    pad_epochs: usize,
    /// Folder for the heatmaps (relate_pad.png, relate_cka_<k>.png).
    #[arg(long, default_value = "relate")]
    out: PathBuf,
    /// Also write the matrices as JSON to this file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// The default network: EfficientNet-Lite0 at 64×64, read at its pooled head features.
fn default_model(ctx: &LoadContext) -> (Candidate, LoadContext) {
    let model = ModelRef::Builtin {
        name: "efficientnet-lite0".into(),
        input_size: Some(64),
    };
    (Candidate::new("efficientnet-lite0-64", model), ctx.clone())
}

/// A dataset argument as a data config, the name it is shown under and its base folder.
fn data_config(arg: &str) -> Result<(DataConfig, String, PathBuf)> {
    let path = Path::new(arg);
    if path.extension().is_some_and(|e| e == "toml") {
        let mut table: toml::Table = tlkit::config::load_toml(path)?;
        let data = match table.remove("data") {
            Some(toml::Value::Table(t)) => t,
            Some(_) => bail!("{arg}: `data` is not a table; give the [data] of a train config"),
            None => table,
        };
        let d: DataConfig = data
            .try_into()
            .with_context(|| format!("{arg}: not a data config as `tlkit train`'s [data]"))?;
        let name = path
            .file_stem()
            .map_or(arg.into(), |s| s.to_string_lossy().into_owned());
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok((d, name, base))
    } else {
        let mut t = toml::Table::new();
        t.insert("dataset".into(), arg.into());
        Ok((t.try_into()?, arg.to_string(), PathBuf::from(".")))
    }
}

/// `samples` images of the dataset's training split, drawn with `seed`.
fn load(arg: &str, samples: usize, seed: u64, cache: &Path) -> Result<(String, Dataset)> {
    let (mut d, name, base) = data_config(arg)?;
    d.train_limit = Some(d.train_limit.map_or(samples, |l| l.min(samples)));
    d.test_limit = Some(1);
    let split = tlkit::experiment::load_data(&d, seed, &base, cache)
        .with_context(|| format!("loading the dataset `{arg}`"))?;
    Ok((name, split.train))
}

pub fn run(args: RelateArgs) -> Result<()> {
    if args.samples < 2 {
        bail!(
            "--samples is {}; relating datasets needs at least 2 (e.g. 500)",
            args.samples
        );
    }
    let cache_root = data::cache_dir();
    let ctx = LoadContext::new(".", &cache_root, tlkit::backend::default_device()?);
    let models = match args.model.is_empty() {
        true => vec![default_model(&ctx)],
        false => candidates(&args.model, &ctx)?,
    };
    // A run folder given by its path is shown by its folder's name.
    let models: Vec<_> = models
        .into_iter()
        .map(|(mut c, ctx)| {
            if let Some(short) = Path::new(&c.name).file_name() {
                c.name = short.to_string_lossy().into_owned();
            }
            (c, ctx)
        })
        .collect();
    let mut sets: Vec<(String, Dataset)> = vec![];
    for a in &args.datasets {
        let (mut name, d) = load(a, args.samples, args.seed, &cache_root)?;
        if sets.iter().any(|(n, _)| *n == name) {
            name = format!("{name} ({})", sets.len() + 1);
        }
        eprintln!("{name}: {} samples of {:?}", d.len(), d.sample_shape);
        sets.push((name, d));
    }
    let opts = RelateOptions {
        pad_epochs: args.pad_epochs,
        seed: args.seed,
        features: ScoreOptions {
            layers: vec![],
            scores: vec![],
            pool: true,
            batch_size: 256,
        },
    };
    let cache = FeatureCache::in_home(&cache_root);
    let r = relate::relate(&sets, &models, &opts, &cache).context("relating the datasets")?;
    print(&r);
    for f in relate::plot(&args.out, &r)? {
        println!("wrote {}", f.display());
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&r)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn matrix(title: &str, labels: &[String], values: &[Vec<f64>]) {
    let w = labels.iter().map(|l| l.len()).max().unwrap_or(4).max(6);
    println!("{title}");
    let mut head = format!("{:<w$}", "");
    for l in labels {
        head.push_str(&format!("  {l:>w$}"));
    }
    println!("{head}");
    for (l, row) in labels.iter().zip(values) {
        let mut line = format!("{l:<w$}");
        for v in row {
            line.push_str(&format!("  {v:>w$.3}"));
        }
        println!("{line}");
    }
    println!();
}

fn print(r: &Relatedness) {
    if r.datasets.len() >= 2 {
        matrix(
            &format!(
                "proxy A-distance ({} at `{}`; 0 = alike, 2 = separable)",
                r.models[0], r.layers[0]
            ),
            &r.datasets,
            &r.proxy_a_distance,
        );
    }
    for m in &r.cka {
        matrix(
            &format!("linear CKA between networks on {}", m.dataset),
            &r.models,
            &m.values,
        );
    }
    println!("{:.1}s", r.seconds);
}
