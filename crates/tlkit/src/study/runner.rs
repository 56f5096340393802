//! The study folder, its (arm, seed) cells, and resuming a killed study.
//!
//! A cell that finished left `result.json`; a resumed study reads it back instead of training
//! again. A cell with a trainer checkpoint but no result was interrupted: [`Cell::attach`]
//! points its trainer at the cell folder and continues from that checkpoint, so the resumed
//! study gives the numbers an uninterrupted one would.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::nn::Network;
use crate::plot::{self, Series};
use crate::run::RunDir;
use crate::train::checkpoint::{self, write_atomic};
use crate::train::{EpochRecord, Hook, Trainer};
use crate::{Error, Result};

/// The file a finished (arm, seed) run leaves in its folder.
pub const RESULT: &str = "result.json";
/// The resolved config in the study folder.
pub use crate::run::CONFIG;
/// Where the study was started from: the folder relative paths in the config resolve against.
const ORIGIN: &str = "study.json";

#[derive(Serialize, serde::Deserialize)]
struct Origin {
    config_dir: PathBuf,
}

/// A study folder being filled.
#[derive(Debug)]
pub struct Study {
    run: RunDir,
    start: Instant,
    config_dir: Option<PathBuf>,
    stop: Option<Budget>,
    progress: bool,
}

/// How a study session runs (the same numbers whatever is set here, but for `force`).
#[derive(Debug, Clone, Default)]
pub struct StudyOptions {
    /// Resume even though the folder's `config.toml` was edited since the study started,
    /// with the edited values (the changes are logged).
    pub force: bool,
    /// Progress bars per epoch.
    pub progress: bool,
    /// Stop the session with an error after this many epochs of training in all, leaving the
    /// folder as a killed session would (for time-boxed sessions, and for tests of resume).
    pub stop_after_epochs: Option<usize>,
}

/// Epochs left in this session, shared by the cells' trainers.
#[derive(Debug, Clone)]
struct Budget {
    limit: usize,
    used: Rc<std::cell::Cell<usize>>,
}

/// Stops training when the session's epoch budget is spent.
struct StopAfter(Budget);

impl Hook for StopAfter {
    fn on_epoch_end(&mut self, _net: &mut Network, _r: &EpochRecord) -> Result<()> {
        let used = self.0.used.get() + 1;
        self.0.used.set(used);
        if used >= self.0.limit {
            return Err(Error::Training(format!(
                "stopped after {used} epochs, as asked; the study folder resumes from here"
            )));
        }
        Ok(())
    }
}

/// One (arm, seed) run of a study, or a part of one (a task of a continual stream).
#[derive(Debug, Clone)]
pub struct Cell {
    pub arm: String,
    pub seed: u64,
    /// Where the run writes its metrics, checkpoints and result.
    pub dir: PathBuf,
    progress: bool,
    stop: Option<Budget>,
}

/// Where a study writes: a new folder under an output root, or the folder of a killed study
/// that is being resumed. Each family's `run` and `resume` hand one to the same `execute`.
pub enum Folder<'a> {
    New(&'a Path),
    Existing(Study),
}

impl Folder<'_> {
    /// A killed study's folder, its config read back with `load`, and the folder its relative
    /// paths resolve against (`base` when the study did not record one). A config edited
    /// since the study started is refused, its changes listed, unless `opts.force` is set
    /// ([`RunDir::reopen_config`]).
    pub fn reopen<C: Serialize>(
        dir: &Path,
        base: &Path,
        opts: &StudyOptions,
        load: impl Fn(&Path) -> Result<C>,
    ) -> Result<(Self, C, PathBuf)> {
        let study = Study::open(dir)?;
        let cfg = study.run.reopen_config(load, opts.force)?;
        let base = study.config_dir(base);
        Ok((Folder::Existing(study), cfg, base))
    }

    /// The study: the existing one, or a new folder `<out_root>/<name>-<time>` holding the
    /// resolved `config` (see [`Study::create`]).
    pub fn study<C: Serialize>(self, name: &str, config: &C, config_dir: &Path) -> Result<Study> {
        match self {
            Folder::New(out_root) => Study::create(out_root, name, config, config_dir),
            Folder::Existing(study) => Ok(study),
        }
    }
}

impl Study {
    /// A new study folder `<out_root>/<name>-<time>` with the resolved `config` in it;
    /// `config_dir` is where the config's relative paths resolve (kept for a resume).
    pub fn create<C: Serialize>(
        out_root: &Path,
        name: &str,
        config: &C,
        config_dir: &Path,
    ) -> Result<Self> {
        let run = RunDir::create(out_root, name)?;
        let text = toml::to_string_pretty(config).map_err(|e| Error::Config {
            path: run.file(CONFIG),
            msg: format!("cannot write the resolved config: {e}"),
        })?;
        run.write_config(&text)?;
        let config_dir = std::path::absolute(config_dir).ok();
        if let Some(dir) = &config_dir {
            run.write_json(
                ORIGIN,
                &Origin {
                    config_dir: dir.clone(),
                },
            )?;
        }
        Ok(Study {
            run,
            start: Instant::now(),
            config_dir,
            stop: None,
            progress: false,
        })
    }

    /// An existing study folder, to resume; its config is [`Study::config_file`].
    pub fn open(dir: &Path) -> Result<Self> {
        let run = RunDir::open(dir)?;
        let origin = std::fs::read_to_string(run.file(ORIGIN))
            .ok()
            .and_then(|t| serde_json::from_str::<Origin>(&t).ok());
        Ok(Study {
            run,
            start: Instant::now(),
            config_dir: origin.map(|o| o.config_dir),
            stop: None,
            progress: false,
        })
    }

    /// This session's options.
    pub fn with_options(mut self, opts: &StudyOptions) -> Self {
        self.progress = opts.progress;
        self.stop = opts.stop_after_epochs.map(|limit| Budget {
            limit,
            used: Rc::default(),
        });
        self
    }

    /// Where the config's relative paths resolve: the folder of the config the study was
    /// started from, or `fallback` for a folder that does not record it.
    pub fn config_dir(&self, fallback: &Path) -> PathBuf {
        self.config_dir
            .clone()
            .unwrap_or_else(|| fallback.to_path_buf())
    }

    /// The study's resolved config.
    pub fn config_file(&self) -> PathBuf {
        self.run.file(CONFIG)
    }

    /// The study folder.
    pub fn dir(&self) -> &RunDir {
        &self.run
    }

    /// The study folder, once the study is done.
    pub fn into_dir(self) -> RunDir {
        self.run
    }

    /// Seconds since this session opened or created the study.
    pub fn seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// `plots/`, created if needed.
    pub fn plots(&self) -> Result<PathBuf> {
        let p = self.run.file("plots");
        std::fs::create_dir_all(&p).map_err(|e| Error::io("create directory", &p, e))?;
        Ok(p)
    }

    /// The cell of (`arm`, `seed`): `<arm>/seed-<seed>`.
    pub fn cell(&self, arm: &str, seed: u64) -> Cell {
        Cell {
            arm: arm.into(),
            seed,
            dir: self.run.file(&format!("{arm}/seed-{seed}")),
            progress: self.progress,
            stop: self.stop.clone(),
        }
    }

    /// The result of (`arm`, `seed`): read back if the cell finished in an earlier session,
    /// otherwise `train`ed (continuing from the cell's checkpoint when the trainer is
    /// [attached](Cell::attach)) and written to the cell's `result.json`.
    pub fn run_cell<R, F>(&self, arm: &str, seed: u64, train: F) -> Result<R>
    where
        R: Serialize + DeserializeOwned,
        F: FnOnce(&Cell) -> Result<R>,
    {
        let cell = self.cell(arm, seed);
        if let Some(done) = cell.result()? {
            tracing::info!(arm, seed, "finished in an earlier session; read back");
            return Ok(done);
        }
        std::fs::create_dir_all(&cell.dir)
            .map_err(|e| Error::io("create directory", &cell.dir, e))?;
        let r = train(&cell)?;
        let path = cell.dir.join(RESULT);
        let text = serde_json::to_string_pretty(&r).map_err(|e| Error::Format {
            path: path.clone(),
            at: None,
            msg: e.to_string(),
        })?;
        write_atomic(&path, text.as_bytes())?;
        Ok(r)
    }

    /// Writes `summary.json`.
    pub fn write_summary<S: Serialize>(&self, summary: &S) -> Result<PathBuf> {
        self.run.write_json("summary.json", summary)
    }

    /// Draws `plots/<file>`: one line per arm through its per-epoch values (mean over seeds),
    /// `y_label` naming them. Arms without a curve (no per-epoch validation) are left out; with
    /// none, nothing is drawn.
    pub fn plot_curves(
        &self,
        file: &str,
        title: &str,
        x_label: &str,
        y_label: &str,
        curves: &[(String, Vec<f64>)],
    ) -> Result<()> {
        let series: Vec<Series> = curves
            .iter()
            .filter(|(_, ys)| !ys.is_empty())
            .map(|(name, ys)| {
                Series::new(
                    name.clone(),
                    (1..=ys.len()).map(|e| e as f64).collect(),
                    ys.clone(),
                )
            })
            .collect();
        if series.is_empty() {
            return Ok(());
        }
        plot::line_plot(&self.plots()?.join(file), title, x_label, y_label, &series)
    }
}

impl Cell {
    /// A part of this cell in its own sub-folder (a task of a stream).
    pub fn part(&self, name: &str) -> Cell {
        Cell {
            dir: self.dir.join(name),
            ..self.clone()
        }
    }

    /// The result an earlier session left, if any.
    pub fn result<R: DeserializeOwned>(&self) -> Result<Option<R>> {
        let path = self.dir.join(RESULT);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io("read", &path, e))?;
        serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::format(
                &path,
                None,
                format!("{e}; delete it to train this run again"),
            )
        })
    }

    /// The trainer checkpoint an interrupted session left, if any
    /// ([`checkpoint::resume_point`]: the previous one when the last is missing). A run that
    /// finished epochs but whose checkpoints are gone is trained again from its start (a
    /// warning says so): it ends with the same numbers.
    pub fn checkpoint(&self) -> Option<PathBuf> {
        let remedy = "it is trained again from its first epoch (to the same numbers)";
        checkpoint::resume_point(&self.dir, remedy).unwrap_or_else(|e| {
            tracing::warn!("{e}");
            None
        })
    }

    /// Points `trainer` at this cell's folder (metrics, checkpoints) and, when an earlier
    /// session was interrupted here, restores `net` and the trainer from its last checkpoint.
    /// Call it after the trainer's loss terms are added: their modules are restored too.
    pub fn attach(&self, trainer: Trainer, net: &mut Network) -> Result<Trainer> {
        let mut trainer = trainer
            .with_output(&self.dir)
            .with_progress(self.progress)
            .with_label(format!("{} seed {}", self.arm, self.seed));
        if let Some(b) = &self.stop {
            trainer = trainer.with_hook(Box::new(StopAfter(b.clone())));
        }
        if let Some(ck) = self.checkpoint() {
            tracing::info!(arm = %self.arm, seed = self.seed, checkpoint = %ck.display(), "continuing an interrupted run");
            trainer.resume_from(net, &ck)?;
        }
        Ok(trainer)
    }

    /// Removes what an interrupted session left, for runs that cannot continue from a
    /// checkpoint and start over.
    pub fn clear(&self) -> Result<()> {
        if self.dir.exists() {
            std::fs::remove_dir_all(&self.dir)
                .map_err(|e| Error::io("remove directory", &self.dir, e))?;
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io("create directory", &self.dir, e))
    }
}

/// The one study folder under `root`: tests that stop a study look inside what it left.
#[cfg(test)]
pub(crate) fn only_folder(root: &Path) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one study folder under {}", root.display());
    dirs.remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_cell_is_read_back_not_trained_again() {
        let tmp = tempfile::tempdir().unwrap();
        let config: std::collections::BTreeMap<_, _> = [("a", 1)].into();
        let study = Study::create(tmp.path(), "s", &config, Path::new("cfg")).unwrap();
        let r: f64 = study
            .run_cell("arm", 3, |c| {
                assert!(c.dir.ends_with("arm/seed-3") && c.dir.is_dir());
                Ok(0.25)
            })
            .unwrap();
        assert_eq!(r, 0.25);
        let again = Study::open(&study.dir().path).unwrap();
        assert!(again.config_dir(Path::new("x")).ends_with("cfg"));
        let r: f64 = again
            .run_cell("arm", 3, |_| -> Result<f64> { panic!("trained twice") })
            .unwrap();
        assert_eq!(r, 0.25);
        // A damaged result names its file and what to do.
        std::fs::write(again.cell("arm", 3).dir.join(RESULT), "{").unwrap();
        let err = again
            .run_cell("arm", 3, |_| Ok(0.5))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("result.json") && err.contains("delete it"),
            "{err}"
        );
    }
}
