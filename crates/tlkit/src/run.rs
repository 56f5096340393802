//! Run folders: where every run writes its resolved config, metrics, summary, checkpoints and
//! plots.
//!
//! ```text
//! runs/demo-optdigits-mlp-2026-11-29T00-10-00Z/
//!   config.toml          the experiment, every default filled in (re-runnable)
//!   config.started.toml  the same, as the run started: a resume compares config.toml with it
//!   model.toml           the resolved network spec (inferred sizes filled in)
//!   metrics.jsonl        one line per epoch
//!   summary.json         final numbers
//!   checkpoints/         last.safetensors, previous.safetensors (the epoch before),
//!                        best.safetensors (weights + optimizer state)
//!   weights.safetensors  final weights, PyTorch-style names
//!   plots/               learning_curves.png, confusion_matrix.png
//! ```
//!
//! A new run never reuses an existing folder, so nothing written by an earlier run is lost.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::train::checkpoint::write_atomic;
use crate::{Error, Result};

/// The resolved config in a run or study folder, the one a resume reads.
pub const CONFIG: &str = "config.toml";
/// The resolved config as the run started (or as a forced resume last accepted it): what a
/// resume compares [`CONFIG`] with, so that an edit is reported instead of silently applied.
pub const STARTED_CONFIG: &str = "config.started.toml";

/// The peak resident memory of this process so far, in MiB: Linux's `VmHWM` (high-water mark of
/// the resident set) from `/proc/self/status`. `None` where the system does not report it.
/// Summaries record it so that a run's memory needs are known without a profiler.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    // "VmHWM:     123456 kB"
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `root/<name>-<UTC timestamp>` (with a numeric suffix if taken).
    pub fn create(root: &Path, name: &str) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|e| Error::io("create directory", root, e))?;
        let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
            .to_string()
            .replace(':', "-");
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        for n in 0..1000 {
            let dir = if n == 0 {
                root.join(format!("{safe}-{stamp}"))
            } else {
                root.join(format!("{safe}-{stamp}-{n}"))
            };
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(RunDir { path: dir }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("create directory", &dir, e)),
            }
        }
        Err(Error::Spec(format!(
            "could not find a free run folder name under {}",
            root.display()
        )))
    }

    /// An existing run folder (for `--resume` and `eval`).
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join("config.toml").is_file() {
            return Err(Error::Config {
                path: path.to_path_buf(),
                msg: "not a tlkit run folder (no config.toml in it)".into(),
            });
        }
        Ok(RunDir {
            path: path.to_path_buf(),
        })
    }

    /// Whether `path` names runs by a pattern (a `*` in its last part) rather than one folder.
    pub fn is_pattern(path: &Path) -> bool {
        path.file_name()
            .is_some_and(|n| n.to_string_lossy().contains('*'))
    }

    /// The run folder that `pattern` (`runs/pretrain/*`, `runs/demo-optdigits-mlp-*`: a `*`
    /// in the last part) names: of the matching folders with a `config.toml`, the last in name
    /// order. Run folders are named `<name>-<start time>`, so for the runs of one config that is
    /// the newest; a config can then name "the run an earlier command made" without its time.
    pub fn newest_match(pattern: &Path) -> Result<PathBuf> {
        let name = pattern
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = pattern
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let glob = globset::Glob::new(&name)
            .map_err(|e| Error::Path(format!("run pattern {}: {e}", pattern.display())))?
            .compile_matcher();
        let newest = std::fs::read_dir(parent)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| glob.is_match(e.file_name()) && e.path().join("config.toml").is_file())
            .map(|e| e.path())
            .max();
        newest.ok_or_else(|| {
            Error::Path(format!(
                "no run folder matches {} (a folder with a config.toml); make the run first",
                pattern.display()
            ))
        })
    }

    /// Writes the resolved config (TOML): `config.toml`, and the copy a resume compares it
    /// with ([`STARTED_CONFIG`]).
    pub fn write_config(&self, text: &str) -> Result<()> {
        self.write(CONFIG, text)?;
        self.write(STARTED_CONFIG, text)?;
        Ok(())
    }

    /// The config a resume continues with: `config.toml` read with `load`. When it differs
    /// from the config the run started with, the differences are listed field by field, and
    /// the resume is refused unless `force` is set; then the edited values are used (and are
    /// what the next resume compares with). Both files are read with `load`, so a line deleted
    /// from `config.toml` that only restated a default is no difference. A folder written
    /// before the started copy existed is not checked.
    pub fn reopen_config<C: Serialize>(
        &self,
        load: impl Fn(&Path) -> Result<C>,
        force: bool,
    ) -> Result<C> {
        let path = self.file(CONFIG);
        let cfg = load(&path)?;
        let started_path = self.file(STARTED_CONFIG);
        if !started_path.is_file() {
            return Ok(cfg);
        }
        let started = load(&started_path)?;
        let changes = config_changes(&as_value(&started, &started_path)?, &as_value(&cfg, &path)?);
        if changes.is_empty() {
            return Ok(cfg);
        }
        let list: String = changes.iter().map(|c| format!("\n  {c}")).collect();
        if !force {
            return Err(Error::Config {
                path,
                msg: format!(
                    "edited since the run started ({} is the config it started with):{list}\n\
                     a resumed run continues with the values it started with: undo the edit, or \
                     resume with --force to continue with the edited values",
                    started_path.display()
                ),
            });
        }
        tracing::warn!(
            "{} was edited since the run started; continuing with the edited values (--force):{list}",
            path.display()
        );
        let text = std::fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        write_atomic(&started_path, &text)?;
        Ok(cfg)
    }

    /// A path inside the run folder.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes a text file atomically.
    pub fn write(&self, name: &str, text: &str) -> Result<PathBuf> {
        let p = self.file(name);
        write_atomic(&p, text.as_bytes())?;
        Ok(p)
    }

    /// Writes a value as pretty JSON atomically.
    pub fn write_json<T: serde::Serialize>(&self, name: &str, value: &T) -> Result<PathBuf> {
        let text =
            serde_json::to_string_pretty(value).map_err(|e| Error::Training(e.to_string()))?;
        self.write(name, &(text + "\n"))
    }
}

/// A loaded config as a TOML value, to compare field by field.
fn as_value<C: Serialize>(cfg: &C, path: &Path) -> Result<toml::Value> {
    toml::Value::try_from(cfg).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        msg: format!("cannot write the config back as TOML: {e}"),
    })
}

/// One field that differs between two configs: its dotted path (`train.optimizer.lr`,
/// `tasks[1].weight`) and its value in each, `None` where the field is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigChange {
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl std::fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(not set)".into());
        write!(
            f,
            "{}: {} \u{2192} {}",
            self.field,
            show(&self.before),
            show(&self.after)
        )
    }
}

/// The fields that differ between two configs, in the order of `before`'s fields (fields only
/// `after` has come last). Tables and arrays of equal length are compared element by element;
/// an array whose length changed is one difference.
pub fn config_changes(before: &toml::Value, after: &toml::Value) -> Vec<ConfigChange> {
    let mut out = vec![];
    diff_into(String::new(), Some(before), Some(after), &mut out);
    out
}

fn diff_into(
    field: String,
    before: Option<&toml::Value>,
    after: Option<&toml::Value>,
    out: &mut Vec<ConfigChange>,
) {
    use toml::Value;
    let join = |key: &str| {
        if field.is_empty() {
            key.to_string()
        } else {
            format!("{field}.{key}")
        }
    };
    match (before, after) {
        (Some(Value::Table(a)), Some(Value::Table(b))) => {
            for (k, v) in a {
                diff_into(join(k), Some(v), b.get(k), out);
            }
            for (k, v) in b.iter().filter(|(k, _)| !a.contains_key(*k)) {
                diff_into(join(k), None, Some(v), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff_into(format!("{field}[{i}]"), Some(x), Some(y), out);
            }
        }
        (a, b) if a != b => out.push(ConfigChange {
            field,
            before: a.map(Value::to_string),
            after: b.map(Value::to_string),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The high-water mark grows past a buffer this process touches (Linux only).
    #[test]
    #[cfg(target_os = "linux")]
    fn peak_memory_counts_what_was_touched() {
        let before = peak_memory_mib().expect("Linux reports VmHWM");
        let buf = vec![1u8; (before as usize + 64) * 1024 * 1024];
        let after = peak_memory_mib().unwrap();
        assert!(after >= before + 64.0, "{before} MiB, then {after} MiB");
        assert_eq!(buf[buf.len() - 1], 1);
    }

    #[test]
    fn never_reuses_a_folder() {
        let root = tempfile::tempdir().unwrap();
        let a = RunDir::create(root.path(), "x/y").unwrap();
        a.write("keep.txt", "data").unwrap();
        let b = RunDir::create(root.path(), "x/y").unwrap();
        assert_ne!(a.path, b.path);
        assert_eq!(std::fs::read_to_string(a.file("keep.txt")).unwrap(), "data");
        assert!(
            a.path
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("x_y-")
        );
    }

    #[test]
    fn a_pattern_names_the_newest_run_folder() {
        let root = tempfile::tempdir().unwrap();
        let pattern = root.path().join("demo-*");
        assert!(RunDir::is_pattern(&pattern) && !RunDir::is_pattern(root.path()));
        let err = RunDir::newest_match(&pattern).unwrap_err().to_string();
        assert!(err.contains("no run folder matches"), "{err}");
        let old = RunDir::create(root.path(), "demo").unwrap();
        old.write("config.toml", "").unwrap();
        let new = RunDir::create(root.path(), "demo").unwrap();
        new.write("config.toml", "").unwrap();
        // A later folder that is not a run, and a run of another name, are passed over.
        std::fs::create_dir(root.path().join("demo-zzz")).unwrap();
        RunDir::create(root.path(), "other")
            .unwrap()
            .write("config.toml", "")
            .unwrap();
        assert_eq!(RunDir::newest_match(&pattern).unwrap(), new.path);
    }

    #[test]
    fn an_edited_config_is_listed_field_by_field_and_refused_unless_forced() {
        use crate::config::ExperimentConfig;
        let root = tempfile::tempdir().unwrap();
        let run = RunDir::create(root.path(), "demo").unwrap();
        let cfg = ExperimentConfig::demo();
        let text = cfg.to_toml().unwrap();
        run.write_config(&text).unwrap();
        assert_eq!(
            run.reopen_config(ExperimentConfig::load, false).unwrap(),
            cfg
        );
        // A line that only restated a default is no difference once both are loaded.
        let no_default = text.replace("drop_last = false\n", "");
        assert_ne!(no_default, text);
        run.write(CONFIG, &no_default).unwrap();
        assert_eq!(
            run.reopen_config(ExperimentConfig::load, false).unwrap(),
            cfg
        );
        let edited = text
            .replace("lr = 0.002", "lr = 0.1")
            .replace("epochs = 30", "epochs = 40")
            .replace(
                "hidden = [\n    128,\n    64,\n]",
                "hidden = [\n    128,\n    32,\n]",
            );
        run.write(CONFIG, &edited).unwrap();
        let err = run
            .reopen_config(ExperimentConfig::load, false)
            .unwrap_err()
            .to_string();
        for line in [
            "config.toml: edited since the run started",
            "config.started.toml",
            "\n  model.hidden[1]: 64 \u{2192} 32",
            "\n  train.epochs: 30 \u{2192} 40",
            "\n  train.optimizer.lr: 0.002 \u{2192} 0.1",
            "--force",
        ] {
            assert!(err.contains(line), "{line:?} not in {err}");
        }
        // Forced: the edited values are used, and the next resume compares with them.
        let forced = run.reopen_config(ExperimentConfig::load, true).unwrap();
        assert_eq!(forced.train.optimizer.lr, 0.1);
        assert_eq!(forced.train.epochs, 40);
        assert_eq!(
            run.reopen_config(ExperimentConfig::load, false).unwrap(),
            forced
        );
        // A folder from before the started copy existed is not checked.
        std::fs::remove_file(run.file(STARTED_CONFIG)).unwrap();
        assert!(run.reopen_config(ExperimentConfig::load, false).is_ok());
    }

    #[test]
    fn config_changes_walk_tables_and_arrays() {
        let a: toml::Value = toml::from_str(
            "x = 1\ns = [1, 2]\n[t]\ny = \"a\"\n[[tasks]]\nw = 1.0\n[[tasks]]\nw = 2.0",
        )
        .unwrap();
        let b: toml::Value = toml::from_str(
            "x = 1\ns = [1, 2, 3]\nnew = true\n[t]\n[[tasks]]\nw = 1.0\n[[tasks]]\nw = 0.5",
        )
        .unwrap();
        let got: Vec<String> = config_changes(&a, &b)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "s: [1, 2] \u{2192} [1, 2, 3]",
                "t.y: \"a\" \u{2192} (not set)",
                "tasks[1].w: 2.0 \u{2192} 0.5",
                "new: (not set) \u{2192} true",
            ]
        );
        assert!(config_changes(&a, &a).is_empty());
    }

    #[test]
    fn open_rejects_a_folder_without_config() {
        let root = tempfile::tempdir().unwrap();
        let err = RunDir::open(root.path()).unwrap_err().to_string();
        assert!(err.contains("not a tlkit run folder"), "{err}");
    }
}
