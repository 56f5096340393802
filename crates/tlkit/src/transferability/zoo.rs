//! The model zoo: the candidate networks of the transferability issue, made by tlkit from
//! recipes embedded in the library, and the zoo file (`zoo.toml`) that names candidates for
//! `tlkit score` and `tlkit transfer-report`.
//!
//! Members, one LeNet architecture on 1×28×28 inputs so that only what they were trained on
//! differs (recipes in `configs/zoo/`, each a `tlkit train` config with its seed and budget):
//! MNIST, Fashion-MNIST, the embedded optdigits (resized), the two MNIST-M-style domains (in
//! grey), MNIST digits 0–4 only, and the random start (the control, written untrained). Besides
//! them the zoo names references that are not trained: the ImageNet EfficientNet-Lite0 cut at
//! several depths (`configs/zoo/references.toml`).
//!
//! ```text
//! $TLKIT_HOME/zoo/
//!   zoo.toml                 [models] every built member and every reference
//!   <member>/                a normal run folder (config.toml, model.toml, weights, ...)
//!     recipe.sha256          the hash of the resolved recipe it was built from
//! ```
//!
//! A member whose folder holds the hash of its resolved recipe (after `--epochs`) and its
//! weights is up to date and is not built again; any change to the recipe rebuilds it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Candidate;
use crate::config::ExperimentConfig;
use crate::experiment::{self, RunOptions, build_network, load_data};
use crate::run::RunDir;
use crate::train::checkpoint;
use crate::weights::ModelRef;
use crate::{Error, Result};

/// The zoo's folder under `TLKIT_HOME`.
pub const ZOO_DIR: &str = "zoo";
/// The zoo file `tlkit zoo build` writes into the zoo's folder.
pub const ZOO_FILE: &str = "zoo.toml";
/// The file in a member's folder that holds its recipe's hash.
const RECIPE_HASH: &str = "recipe.sha256";

/// How a member comes to be.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// Trained by its recipe (a `tlkit train` config).
    Trained(&'static str),
    /// The recipe's network at its random start (seed from the recipe), not trained.
    Untrained(&'static str),
    /// A model reference (and layer), nothing to build.
    Reference(&'static ZooEntry),
}

/// One member of the zoo.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub source: Source,
}

macro_rules! recipe {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../configs/zoo/", $name, ".toml")),
        )
    };
}

/// The trained members' recipes, by name.
const TRAINED: [(&str, &str); 6] = [
    recipe!("lenet-mnist"),
    recipe!("lenet-fashion"),
    recipe!("lenet-optdigits"),
    recipe!("lenet-mnist-m"),
    recipe!("lenet-mnist-m-wide"),
    recipe!("lenet-mnist-0to4"),
];
const UNTRAINED: [(&str, &str); 1] = [recipe!("lenet-random")];
const REFERENCES: &str = include_str!("../../configs/zoo/references.toml");

/// Every member: the trained ones, the control, then the references.
pub fn members() -> Vec<Member> {
    static REFS: std::sync::OnceLock<ZooFile> = std::sync::OnceLock::new();
    let refs = REFS.get_or_init(|| {
        toml::from_str(REFERENCES).expect("the embedded configs/zoo/references.toml parses")
    });
    let recipes = TRAINED
        .iter()
        .map(|&(n, r)| (n, Source::Trained(r)))
        .chain(UNTRAINED.iter().map(|&(n, r)| (n, Source::Untrained(r))));
    recipes
        .map(|(name, source)| Member {
            name: name.into(),
            source,
        })
        .chain(refs.models.iter().map(|(name, e)| Member {
            name: name.clone(),
            source: Source::Reference(e),
        }))
        .collect()
}

/// The members `only` names (all when empty), in zoo order.
///
/// # Errors
/// [`Error::Unknown`] for a name that is no member, listing the members.
pub fn select(only: &[String]) -> Result<Vec<Member>> {
    let all = members();
    if let Some(bad) = only.iter().find(|n| !all.iter().any(|m| &m.name == *n)) {
        return Err(Error::Unknown {
            kind: "zoo member",
            name: bad.clone(),
            known: all
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(all
        .into_iter()
        .filter(|m| only.is_empty() || only.contains(&m.name))
        .collect())
}

/// A zoo file: named candidates.
///
/// ```toml
/// [models]
/// digits = "runs/digits-mlp-2026-..."                                 # any model reference
/// effnet-b4 = { model = { name = "efficientnet-lite0" }, layer = "_blocks.4" }  # at a depth
/// ```
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZooFile {
    pub models: BTreeMap<String, ZooEntry>,
}

/// A zoo file's entry: a model reference, or one with the layer that is the candidate.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a model reference (\"lenet\", \"runs/x\", { name = ... }, { run = ... }, \
                 { weights = ... }) or { model = <reference>, layer = \"<layer path>\" }"
)]
pub enum ZooEntry {
    Model(ModelRef),
    AtLayer(AtLayer),
}

/// A model reference cut at `layer` (scored there, and given the new head there).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtLayer {
    pub model: ModelRef,
    pub layer: String,
}

impl ZooEntry {
    /// The candidate this entry names.
    pub fn candidate(&self, name: &str) -> Candidate {
        match self {
            ZooEntry::Model(m) => Candidate::new(name, m.clone()),
            ZooEntry::AtLayer(a) => Candidate {
                layer: Some(a.layer.clone()),
                ..Candidate::new(name, a.model.clone())
            },
        }
    }
}

/// Reads a zoo file: its candidates, whose relative paths resolve in the file's folder.
///
/// # Errors
/// [`Error::Io`] if it cannot be read, [`Error::Config`] naming the file if it is not a
/// `[models]` table of references or names none.
pub fn read_zoo_file(path: &Path) -> Result<Vec<Candidate>> {
    let zoo: ZooFile = crate::config::load_toml(path)?;
    if zoo.models.is_empty() {
        return Err(Error::Config {
            path: path.into(),
            msg: "names no model under [models]; add `name = \"<model reference>\"` lines".into(),
        });
    }
    Ok(zoo
        .models
        .iter()
        .map(|(name, e)| e.candidate(name))
        .collect())
}

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Member names (all when empty).
    pub only: Vec<String>,
    /// Train every trained member this many epochs instead of its recipe's (a shorter budget;
    /// it changes the recipe's hash, so such members are rebuilt at the recipe's budget later).
    pub epochs: Option<usize>,
    /// Progress bars while training.
    pub progress: bool,
}

/// What happened to one member.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Trained (or written untrained) now: its test accuracy (NaN untrained) and seconds.
    Built { accuracy: f64, seconds: f64 },
    /// Its folder already holds this recipe's build.
    UpToDate,
    /// A reference: nothing to build.
    Reference,
}

/// A step of [`build`], for progress output.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// About to build the `index`-th (from 0) of `total` selected members.
    Start {
        member: &'a Member,
        index: usize,
        total: usize,
    },
    Done {
        member: &'a Member,
        status: &'a Status,
    },
}

/// The member's resolved recipe (after `epochs`) and its hash.
fn resolve(name: &str, recipe: &str, epochs: Option<usize>) -> Result<(ExperimentConfig, String)> {
    let origin = PathBuf::from(format!("configs/zoo/{name}.toml"));
    let mut cfg = ExperimentConfig::parse(recipe, &origin)?;
    if let Some(n) = epochs {
        if n == 0 {
            return Err(Error::Invalid {
                field: "--epochs".into(),
                value: "0".into(),
                msg: "a zoo member trains at least one epoch".into(),
            });
        }
        cfg.train.epochs = n;
    }
    let text = cfg.to_toml()?;
    let hash = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((cfg, hash))
}

/// Whether `dir` holds a complete build of the recipe hashed `hash`.
fn up_to_date(dir: &Path, hash: &str) -> bool {
    let same = std::fs::read_to_string(dir.join(RECIPE_HASH)).is_ok_and(|h| h.trim() == hash);
    same && ["config.toml", "model.toml", "weights.safetensors"]
        .iter()
        .all(|f| dir.join(f).is_file())
}

/// Builds the selected members into `home/zoo/<member>/` (skipping those up to date) and
/// writes `home/zoo/zoo.toml` naming every built member and every reference. `home` is the
/// tlkit cache (`TLKIT_HOME`), which also holds the datasets.
///
/// # Errors
/// An unknown member, a dataset that cannot be loaded (not fetched: the error names the
/// `tlkit data fetch` to run), and the errors of training and writing files.
pub fn build(
    home: &Path,
    opts: &BuildOptions,
    mut progress: impl FnMut(Event<'_>),
) -> Result<Vec<(Member, Status)>> {
    let selected = select(&opts.only)?;
    let root = home.join(ZOO_DIR);
    std::fs::create_dir_all(&root).map_err(|e| Error::io("create directory", &root, e))?;
    let total = selected.len();
    let mut out = vec![];
    for (index, member) in selected.into_iter().enumerate() {
        progress(Event::Start {
            member: &member,
            index,
            total,
        });
        let status = match member.source {
            Source::Reference(_) => Status::Reference,
            Source::Trained(recipe) | Source::Untrained(recipe) => {
                let trained = matches!(member.source, Source::Trained(_));
                let (cfg, hash) = resolve(&member.name, recipe, opts.epochs.filter(|_| trained))?;
                let dir = root.join(&member.name);
                if up_to_date(&dir, &hash) {
                    Status::UpToDate
                } else {
                    build_member(&root, &dir, cfg, trained, home, opts.progress, &hash)?
                }
            }
        };
        progress(Event::Done {
            member: &member,
            status: &status,
        });
        out.push((member, status));
    }
    write_zoo_file(&root)?;
    Ok(out)
}

/// Trains (or writes untrained) one member in a scratch folder, then moves it to `dir`, so
/// that an interrupted build never leaves a folder that looks complete.
fn build_member(
    root: &Path,
    dir: &Path,
    cfg: ExperimentConfig,
    trained: bool,
    home: &Path,
    progress: bool,
    hash: &str,
) -> Result<Status> {
    let start = std::time::Instant::now();
    let scratch = root.join(format!(".building-{}", cfg.name));
    remove_dir(&scratch)?;
    let (run, accuracy) = if trained {
        let opts = RunOptions {
            out_root: Some(scratch.clone()),
            progress,
            base: Some(home.into()),
            cache: Some(home.into()),
            ..RunOptions::default()
        };
        let outcome = experiment::run(cfg, &opts)?;
        (outcome.run, outcome.summary.test_accuracy)
    } else {
        let split = load_data(&cfg.data, cfg.seed, home, home)?;
        let net = build_network(&cfg, home, home, &split.train)?;
        let run = RunDir::create(&scratch, &cfg.name)?;
        run.write_config(&cfg.to_toml()?)?;
        let spec = toml::to_string_pretty(net.spec())
            .map_err(|e| Error::Spec(format!("cannot write the resolved spec: {e}")))?;
        run.write("model.toml", &spec)?;
        checkpoint::save_weights(&run.file("weights.safetensors"), &net.state_dict())?;
        (run, f64::NAN)
    };
    run.write(RECIPE_HASH, &format!("{hash}\n"))?;
    remove_dir(dir)?;
    std::fs::rename(&run.path, dir).map_err(|e| Error::io("move the built member to", dir, e))?;
    remove_dir(&scratch)?;
    Ok(Status::Built {
        accuracy,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("remove directory", dir, e))
        }
        _ => Ok(()),
    }
}

/// Writes `root/zoo.toml`: every member whose folder is built (any recipe) and every
/// reference, paths relative to `root`.
fn write_zoo_file(root: &Path) -> Result<PathBuf> {
    let mut zoo = ZooFile::default();
    for m in members() {
        let entry = match m.source {
            Source::Reference(e) => e.clone(),
            _ if root.join(&m.name).join(RECIPE_HASH).is_file() => ZooEntry::Model(ModelRef::Run {
                run: PathBuf::from(&m.name),
                checkpoint: None,
            }),
            _ => continue,
        };
        zoo.models.insert(m.name, entry);
    }
    // One line per member (inline tables), as a person would write it.
    let mut text = String::from(
        "# Written by `tlkit zoo build`: every built member and every reference.\n\
         # Use it as `tlkit score --models` or `tlkit transfer-report --models`.\n[models]\n",
    );
    for (name, entry) in &zoo.models {
        let value = toml::Value::try_from(entry)
            .map_err(|e| Error::Spec(format!("cannot write the zoo file: {e}")))?;
        text.push_str(&format!("{name} = {value}\n"));
    }
    let path = root.join(ZOO_FILE);
    std::fs::write(&path, text).map_err(|e| Error::io("write", &path, e))?;
    Ok(path)
}

/// The zoo file of `home` (`home/zoo/zoo.toml`).
pub fn zoo_file(home: &Path) -> PathBuf {
    home.join(ZOO_DIR).join(ZOO_FILE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every embedded recipe parses and trains a LeNet on 1×28×28 with its seed fixed; the
    /// references parse as `{ model, layer }`.
    #[test]
    fn recipes_parse_and_name_their_members() {
        let all = members();
        assert_eq!(all.len(), TRAINED.len() + UNTRAINED.len() + 3);
        for m in &all {
            match m.source {
                Source::Trained(r) | Source::Untrained(r) => {
                    let (cfg, hash) = resolve(&m.name, r, None).unwrap();
                    assert_eq!(cfg.name, m.name);
                    assert_eq!(hash.len(), 64);
                    assert!(r.contains("seed = 0"), "{}", m.name);
                    assert!(r.contains("arch = \"lenet\""), "{}", m.name);
                    assert!(r.starts_with("# Zoo member"), "{}: say the budget", m.name);
                }
                Source::Reference(ZooEntry::AtLayer(a)) => {
                    assert!(a.layer.starts_with('_'), "{}", a.layer);
                }
                Source::Reference(e) => panic!("{}: {e:?} has no layer", m.name),
            }
        }
        let (_, a) = resolve("lenet-mnist", TRAINED[0].1, None).unwrap();
        let (_, b) = resolve("lenet-mnist", TRAINED[0].1, Some(1)).unwrap();
        assert_ne!(a, b, "--epochs changes the recipe");
    }

    #[test]
    fn unknown_member_is_named_with_the_known_ones() {
        let e = select(&["lenet-cifar".into()]).unwrap_err().to_string();
        assert!(e.contains("unknown zoo member `lenet-cifar`"), "{e}");
        assert!(e.contains("lenet-mnist-m-wide"), "{e}");
        assert_eq!(select(&["lenet-random".into()]).unwrap().len(), 1);
        let e = resolve("lenet-mnist", TRAINED[0].1, Some(0)).unwrap_err();
        assert!(e.to_string().contains("--epochs = 0"), "{e}");
    }

    /// A zoo file takes plain references and `{ model, layer }`, and refuses other keys.
    #[test]
    fn zoo_files_read_references_and_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("z.toml");
        std::fs::write(
            &path,
            "[models]\na = \"lenet\"\nb = { model = \"mlp\", layer = \"backbone\" }\n",
        )
        .unwrap();
        let c = read_zoo_file(&path).unwrap();
        assert_eq!((c[0].name.as_str(), c[0].layer.as_deref()), ("a", None));
        assert_eq!(c[1].layer.as_deref(), Some("backbone"));
        std::fs::write(&path, "[models]\nb = { model = \"mlp\", depth = 3 }\n").unwrap();
        let e = read_zoo_file(&path).unwrap_err().to_string();
        assert!(e.contains("z.toml") && e.contains("layer"), "{e}");
        std::fs::write(&path, "[models]\n").unwrap();
        let e = read_zoo_file(&path).unwrap_err().to_string();
        assert!(e.contains("names no model"), "{e}");
    }
}
