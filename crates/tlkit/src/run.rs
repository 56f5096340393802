//! Run folders: where every run writes its resolved config, metrics, summary, checkpoints and
//! plots.
//!
//! ```text
//! runs/demo-optdigits-mlp-2026-11-29T00-10-00Z/
//!   config.toml          the experiment, every default filled in (re-runnable)
//!   model.toml           the resolved network spec (inferred sizes filled in)
//!   metrics.jsonl        one line per epoch
//!   summary.json         final numbers
//!   checkpoints/         last.safetensors, best.safetensors (weights + optimizer state)
//!   weights.safetensors  final weights, PyTorch-style names
//!   plots/               learning_curves.png, confusion_matrix.png
//! ```
//!
//! A new run never reuses an existing folder, so nothing written by an earlier run is lost.

use std::path::{Path, PathBuf};

use crate::train::checkpoint::write_atomic;
use crate::{Error, Result};

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

    /// The last checkpoint, if any.
    pub fn last_checkpoint(&self) -> Option<PathBuf> {
        Some(self.file("checkpoints/last.safetensors")).filter(|p| p.is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn open_rejects_a_folder_without_config() {
        let root = tempfile::tempdir().unwrap();
        let err = RunDir::open(root.path()).unwrap_err().to_string();
        assert!(err.contains("not a tlkit run folder"), "{err}");
    }
}
