//! What a continual-learning method is to the pipeline: a way to change the training set of a
//! task, loss terms for the trainer, and an update after each task. The pipeline trains every
//! task with [`Trainer::fit`](crate::train::Trainer::fit); methods never copy the loop.

use super::stream::ScenarioView;
use crate::Result;
use crate::data::Dataset;
use crate::nn::Network;
use crate::train::LossTerm;

/// Where in the stream a method is called.
pub struct TaskContext<'a> {
    /// 0-based task index.
    pub task: usize,
    /// The stream in the run's scenario.
    pub view: &'a ScenarioView,
    /// The run seed (for the method's own sampling).
    pub seed: u64,
}

impl TaskContext<'_> {
    /// The current task's training data, with the scenario's labels.
    pub fn train(&self) -> &Dataset {
        &self.view.data[self.task].0
    }
}

/// A continual-learning method.
pub trait Method {
    /// Name used in summaries.
    fn name(&self) -> &str;
    /// True for joint training: one fit on the union of all tasks instead of a sequence.
    fn is_joint(&self) -> bool {
        false
    }
    /// The data to train task `ctx.task` on (replay adds its memory).
    fn train_set(&mut self, ctx: &TaskContext<'_>) -> Result<Dataset> {
        Ok(ctx.train().clone())
    }
    /// Loss terms added to the task loss while training task `ctx.task`.
    fn terms(&mut self, _net: &Network, _ctx: &TaskContext<'_>) -> Result<Vec<Box<dyn LossTerm>>> {
        Ok(vec![])
    }
    /// Called after task `ctx.task` is trained (consolidation: Fisher, importance, memory).
    fn after_task(&mut self, _net: &Network, _ctx: &TaskContext<'_>) -> Result<()> {
        Ok(())
    }
}
