//! Experience replay with a bounded memory ("naive rehearsal" in Hsu et al. 2018, after
//! Robins, "Catastrophic forgetting, rehearsal and pseudorehearsal", Connection Science 1995).
//!
//! The memory holds at most `memory` samples, split evenly between the tasks seen so far
//! (`memory / tasks` each, Hsu et al.'s rule): after task t the memory keeps a seeded uniform
//! random subset of each task's training samples — *task-balanced* random selection, not a
//! reservoir over the stream and not class-balanced within a task. Task t is trained on its own
//! data plus the whole memory, shuffled together (as Hsu et al. concatenate the datasets).

use serde::{Deserialize, Serialize};

use super::method::{Method, TaskContext};
use super::stream::concat;
use crate::data::{Dataset, batch};
use crate::nn::Network;
use crate::{Error, Result};

/// Replay settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayConfig {
    /// Total samples the memory holds (Hsu et al.: 1100 or 4400 for Split MNIST).
    pub memory: usize,
}

/// Experience replay.
pub struct Replay {
    cfg: ReplayConfig,
    /// Per stored task, its samples in a fixed random order; the first `quota` are kept.
    stored: Vec<Dataset>,
}

impl Replay {
    /// Replay with the given memory size.
    pub fn new(cfg: ReplayConfig) -> Result<Self> {
        if cfg.memory == 0 {
            return Err(Error::Spec("method.memory must be > 0 for replay".into()));
        }
        Ok(Replay {
            cfg,
            stored: vec![],
        })
    }

    /// Samples in memory.
    pub fn len(&self) -> usize {
        self.stored.iter().map(Dataset::len).sum()
    }

    /// True when nothing is stored yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Method for Replay {
    fn name(&self) -> &str {
        "replay"
    }

    fn train_set(&mut self, ctx: &TaskContext<'_>) -> Result<Dataset> {
        let mut parts = vec![ctx.train()];
        parts.extend(self.stored.iter());
        concat(&parts, &format!("{}+memory", ctx.train().name))
    }

    fn after_task(&mut self, _net: &Network, ctx: &TaskContext<'_>) -> Result<()> {
        let data = ctx.train();
        let order = batch::epoch_order(data.len(), ctx.seed ^ 0x5EED, ctx.task, true);
        self.stored
            .push(data.subset(&order, format!("memory/task{}", ctx.task)));
        let quota = self.cfg.memory / self.stored.len();
        for d in &mut self.stored {
            let keep: Vec<usize> = (0..quota.min(d.len())).collect();
            *d = d.subset(&keep, d.name.clone());
        }
        Ok(())
    }
}
