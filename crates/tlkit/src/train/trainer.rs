//! The training loop and its extension points.
//!
//! A [`Trainer`] runs epochs of minibatch gradient descent on a [`Network`]: by default its
//! output against the labels with cross-entropy, or any [`Task`]s (several heads, targets and
//! losses, regression, reconstruction of unlabeled data; [`Trainer::with_tasks`]), their
//! gradients summed or combined by a [`GradientStrategy`]. Methods plug in without copying the
//! loop:
//! - a [`LossTerm`] adds a loss to every step (a regularizer such as EWC or L2-SP, an
//!   auxiliary loss such as DANN's domain loss or MMD); it may ask for the features of any
//!   layer (`taps`) and may run extra forwards of its own (a target-domain batch);
//! - a [`Hook`] acts at epoch boundaries (gradual unfreezing, a task switch);
//! - unlabeled companion data ([`Trainer::with_unlabeled`]) joins every step's forward (the
//!   target domain of unsupervised domain adaptation), and a loss term may own trainable
//!   networks of its own ([`LossTerm::modules_mut`], a domain discriminator) that the trainer
//!   updates and checkpoints with the main network. One namespace holds them all: a module's
//!   parameter `<path>` is `<module>.<path>` in the gradient map (so clipping sees the global
//!   norm), the optimizer state and the checkpoint.
//!
//! Determinism: data order and dropout masks come from generators seeded by
//! `(seed, epoch)`, parameters are initialised host-side, so the same seed gives the same
//! numbers on CPU, and a run resumed from an epoch checkpoint continues exactly as the
//! uninterrupted run would.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::checkpoint::{self, CheckpointMeta, HostTensors};
use super::gradient::{GradientStrategy, Relatedness, WeightingStep, relatedness, sum_grads};
use super::metrics::{evaluate_groups, group_mask};
use super::optim::{Optimizer, OptimizerConfig, clip_grad_norm};
use super::parallel::{self, Parallel};
pub use super::record::EpochRecord;
use super::record::TaskScores;
use super::schedule::Schedule;
use super::task::{Metric, Task, evaluate_tasks};
use crate::backend::{self, DeviceSlot, Int, Tensor};
use crate::data::{Dataset, INPUT_TARGET, LABEL_TARGET, TargetBatch, batch};
use crate::nn::{Act, Additions, Mode, Network};

/// Gradients by parameter path.
pub type Grads = BTreeMap<String, Tensor<1>>;
use crate::{Error, Result};

fn eval_batch() -> usize {
    512
}

/// Stop when validation accuracy has not improved by `min_delta` for `patience` epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    pub patience: usize,
    #[serde(default)]
    pub min_delta: f64,
}

/// Training settings, as written in a config file under `[train]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: OptimizerConfig,
    #[serde(default)]
    pub schedule: Schedule,
    /// Clip the global gradient L2 norm to this value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    /// Drop the last incomplete batch of each epoch.
    #[serde(default)]
    pub drop_last: bool,
    #[serde(default = "eval_batch")]
    pub eval_batch_size: usize,
    /// Validate every this many epochs (and always after the last); 0 = never during training.
    #[serde(default = "one")]
    pub valid_every: usize,
}

fn one() -> usize {
    1
}

impl TrainConfig {
    /// `epochs` of `batch_size` with `optimizer`; everything else as a config file that names
    /// only these three gets it: constant learning rate, no clipping, no early stopping,
    /// the last batch kept, evaluation in batches of 512 after every epoch. Change the rest
    /// with struct update syntax: `TrainConfig { drop_last: true, ..TrainConfig::new(..) }`.
    pub fn new(epochs: usize, batch_size: usize, optimizer: OptimizerConfig) -> Self {
        TrainConfig {
            epochs,
            batch_size,
            optimizer,
            schedule: Schedule::default(),
            clip_grad_norm: None,
            early_stopping: None,
            drop_last: false,
            eval_batch_size: eval_batch(),
            valid_every: one(),
        }
    }
}

/// What a loss term sees at each step.
pub struct StepContext<'a> {
    /// 0-based epoch.
    pub epoch: usize,
    /// Iterations completed before this step.
    pub iteration: usize,
    /// Total iterations of the run.
    pub total_iterations: usize,
    /// `iteration / total_iterations`, in [0, 1] (for schedules such as DANN's coefficient).
    pub progress: f64,
    /// The network's output for the batch, `[batch, classes]`, in the autodiff graph.
    pub logits: &'a Tensor<2>,
    /// The batch's labels, `[batch]`; zeros when the training data has no labels (tasks such
    /// as a reconstruction need none).
    pub labels: &'a Tensor<1, Int>,
    /// The outputs of the layers the term asked for.
    pub taps: &'a BTreeMap<String, Act>,
    /// This step's generator (for the term's own dropout or sampling), seeded per epoch.
    pub rng: &'a mut ChaCha8Rng,
}

impl StepContext<'_> {
    /// Rows of `logits` and `taps` that belong to the labelled (source) batch: they come
    /// first; the rows after them are the unlabeled companion batch
    /// ([`Trainer::with_unlabeled`]), if any.
    pub fn source_rows(&self) -> usize {
        self.labels.dims()[0]
    }

    /// Rows of the unlabeled companion batch (0 without companion data).
    pub fn target_rows(&self) -> usize {
        self.logits.dims()[0] - self.source_rows()
    }
}

/// A trainable network owned by a loss term (a domain discriminator, later task heads): it gets
/// gradients from the same backward pass as the main network, is updated by the trainer's
/// optimizer settings (a separate state keyed `<name>.<path>`) at `lr_mult` × the scheduled
/// rate, and is saved in and restored from checkpoints under `<name>.<path>`.
pub struct TermModule<'a> {
    /// Path prefix, e.g. `dann.discriminator`; must not be a prefix of the main network's paths.
    pub name: String,
    pub net: &'a mut Network,
    pub lr_mult: f64,
}

/// A loss added to the task loss at every step.
///
/// With unlabeled companion data, `logits` and `taps` hold the source rows first and the
/// target rows after them, while `labels` hold the source rows only
/// ([`StepContext::source_rows`]); the task cross-entropy uses the source rows.
pub trait LossTerm {
    /// Name used in metrics (`terms.<name>`).
    fn name(&self) -> &str;
    /// Layer paths whose outputs the term needs in [`StepContext::taps`].
    fn taps(&self) -> Vec<String> {
        vec![]
    }
    /// The term's loss for this step (already weighted), `[1]`, in the autodiff graph.
    fn loss(&mut self, net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>>;
    /// Whether the term adds a loss; `false` for a term that only reaches into the forward
    /// pass ([`LossTerm::additions`]): [`LossTerm::loss`] is then never called and the term
    /// has no entry in the metrics.
    fn has_loss(&self) -> bool {
        true
    }
    /// Tensors to add to the outputs of the network's named layers in this step's training
    /// forward pass, computed from the batch's input, usually by the term's own modules (a
    /// progressive network's lateral connections). A term that returns any must say so in
    /// [`LossTerm::adds_to_layers`].
    fn additions(&mut self, _input: &Act, _rng: &mut ChaCha8Rng) -> Result<Additions> {
        Ok(Additions::new())
    }
    /// Whether [`LossTerm::additions`] returns any: the network alone then computes
    /// something else than what is trained, so the trainer refuses to validate it.
    fn adds_to_layers(&self) -> bool {
        false
    }
    /// Called after each epoch (e.g. to refresh statistics).
    fn on_epoch_end(&mut self, _net: &mut Network, _epoch: usize) -> Result<()> {
        Ok(())
    }
    /// Trainable networks the term owns, which the trainer updates and checkpoints.
    fn modules_mut(&mut self) -> Vec<TermModule<'_>> {
        vec![]
    }
    /// Sees each batch's input before [`LossTerm::loss`] (e.g. to run a frozen copy of the
    /// network on it, as Learning without Forgetting does).
    fn observe_input(&mut self, _input: &Act) -> Result<()> {
        Ok(())
    }
    /// Called after each optimizer update with the gradients it applied (after clipping);
    /// `net` holds the updated values. For methods that integrate along the training
    /// trajectory (Synaptic Intelligence).
    fn after_update(&mut self, _net: &Network, _grads: &Grads) -> Result<()> {
        Ok(())
    }
}

/// Acts at epoch boundaries. `on_epoch_start` must depend only on the epoch number so that
/// a resumed run repeats it exactly.
pub trait Hook {
    /// Before epoch `epoch` (0-based) starts.
    fn on_epoch_start(&mut self, _net: &mut Network, _epoch: usize) -> Result<()> {
        Ok(())
    }
    /// After epoch `record.epoch` finished and was checkpointed.
    fn on_epoch_end(&mut self, _net: &mut Network, _record: &EpochRecord) -> Result<()> {
        Ok(())
    }
}

/// The result of one [`Trainer::step`].
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// Total loss (task + terms).
    pub loss: f64,
    /// Correctly classified samples of the batch.
    pub correct: u64,
    /// Each loss term's value, in the order the terms were added.
    pub terms: Vec<f64>,
    /// Each task's unweighted loss and metric sum over the batch (see [`super::task::TaskLoss`]).
    pub tasks: Vec<(f64, f64)>,
    /// The weight a gradient strategy gave each task (empty without a strategy).
    pub weights: Vec<f64>,
    /// How the tasks' gradients related, when the strategy computed per-task gradients.
    pub relatedness: Option<Relatedness>,
}

/// How a `fit` ended.
#[derive(Debug, Clone)]
pub struct FitReport {
    pub history: Vec<EpochRecord>,
    /// 1-based epoch with the best validation accuracy, if validated.
    pub best_epoch: Option<usize>,
    pub stopped_early: bool,
}

/// The training loop.
pub struct Trainer {
    cfg: TrainConfig,
    seed: u64,
    optimizer: Optimizer,
    terms: Vec<Box<dyn LossTerm>>,
    hooks: Vec<Box<dyn Hook>>,
    out_dir: Option<PathBuf>,
    progress: bool,
    /// Names the run in progress lines (run, arm, seed).
    label: String,
    epoch: usize,
    iteration: usize,
    history: Vec<EpochRecord>,
    best: Option<f64>,
    bad_epochs: usize,
    unlabeled: Option<Dataset>,
    /// One optimizer per loss-term module, by module name.
    module_optims: BTreeMap<String, Optimizer>,
    label_groups: Option<Vec<Vec<u32>>>,
    /// The tasks trained; empty for the default task.
    tasks: Vec<Task>,
    strategy: Option<Box<dyn GradientStrategy>>,
    /// The devices each step's batch is split over (`None`: the network's own, whole batch).
    parallel: Option<Parallel>,
}

/// Batches [`Trainer::fit`] prepares ahead of the step on a background thread: one is enough
/// to hide the gathering behind a step, and each costs a batch's memory.
const PREFETCH_BATCHES: usize = 1;

/// Seed offset of the unlabeled companion order, so it differs from the labelled order.
const COMPANION_SEED: u64 = 0x7A26_E7D0_5EED_0001;

/// The companion samples of step `iteration`: the companion set is read in cycles, each in its
/// own seeded order, `batch` samples per step, so the batch depends only on the iteration (a
/// resumed run draws the same batches).
pub fn companion_indices(
    n: usize,
    seed: u64,
    iteration: usize,
    batch: usize,
    count: usize,
) -> Vec<usize> {
    let mut out = Vec::with_capacity(count);
    let mut cached: Option<(usize, Vec<usize>)> = None;
    for k in 0..count {
        let pos = iteration * batch + k;
        let cycle = pos / n;
        if cached.as_ref().is_none_or(|(c, _)| *c != cycle) {
            cached = Some((
                cycle,
                batch::epoch_order(n, seed ^ COMPANION_SEED, cycle, true),
            ));
        }
        out.push(cached.as_ref().map_or(0, |(_, o)| o[pos % n]));
    }
    out
}

/// Loss-term modules of every term, in the order the terms were added.
fn modules(terms: &mut [Box<dyn LossTerm>]) -> Vec<TermModule<'_>> {
    terms.iter_mut().flat_map(|t| t.modules_mut()).collect()
}

/// The single naming rule of the trainer's namespace: a module's entry `<path>` is
/// `<module>.<path>` in the shared gradient map, optimizer state and checkpoint.
fn put_prefixed<V>(
    map: &mut BTreeMap<String, V>,
    module: &str,
    items: impl IntoIterator<Item = (String, V)>,
) {
    for (k, v) in items {
        map.insert(format!("{module}.{k}"), v);
    }
}

/// Removes the entries of `module` from `map` and returns them under their own paths.
fn take_prefixed<V>(map: &mut BTreeMap<String, V>, module: &str) -> BTreeMap<String, V> {
    let prefix = format!("{module}.");
    let keys: Vec<String> = map
        .keys()
        .filter(|k| k.starts_with(&prefix))
        .cloned()
        .collect();
    keys.into_iter()
        .filter_map(|k| map.remove(&k).map(|v| (k[prefix.len()..].to_string(), v)))
        .collect()
}

/// The layer every task's head branches from: the shared representation whose gradients
/// a strategy asked for ([`GradientStrategy::needs_representation`]).
fn representation_layer(net: &Network, tasks: &[Task], strategy: &str) -> Result<String> {
    let froms: Vec<Option<String>> = tasks
        .iter()
        .map(|t| {
            t.head
                .as_deref()
                .and_then(|h| net.spec().head(h))
                .map(|h| h.from.clone())
        })
        .collect();
    match froms.first() {
        Some(Some(first))
            if first != "input" && froms.iter().all(|f| f.as_ref() == Some(first)) =>
        {
            Ok(first.clone())
        }
        _ => Err(Error::Spec(format!(
            "weighting `{strategy}` works on the gradients of the shared representation, so every task needs a head that branches from one layer of the trunk; these tasks' heads branch from {}",
            froms
                .iter()
                .map(|f| f.as_deref().unwrap_or("(no head: the trunk's output)"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Which losses one forward-and-backward pass of a step carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Every task and every loss term (the default: one pass per step).
    All,
    /// Task `i` alone (for a gradient strategy).
    Task(usize),
    /// The loss terms alone (for a gradient strategy).
    Terms,
}

/// What one pass computed.
struct PassOut {
    loss: Tensor<1>,
    /// Per task (`None` if the pass did not carry it): unweighted loss and metric sum.
    tasks: Vec<Option<(f64, f64)>>,
    terms: Vec<f64>,
    /// The loss weights a strategy chose in this pass, if it was asked.
    weights: Option<Vec<f64>>,
    /// The zero leaf added to the shared representation, whose gradient is the loss's
    /// gradient on the representation (when a strategy asked for it).
    representation: Option<Tensor<1>>,
}

/// Asks a gradient strategy for the loss weights of a single pass, given each task's
/// weighted loss value.
type Weigh<'a> = &'a mut dyn FnMut(&[f64]) -> Result<Vec<f64>>;

/// One batch as the step sees it: samples, default labels (may be empty) and each task's
/// target.
struct Batch {
    x: Vec<f32>,
    y: Vec<u32>,
    rows: usize,
    targets: Vec<TargetBatch>,
}

impl Batch {
    /// The rows `r` of the batch.
    fn rows_in(&self, r: &std::ops::Range<usize>) -> Batch {
        let width = self.x.len() / self.rows.max(1);
        Batch {
            x: parallel::value_rows(&self.x, width, r),
            y: if self.y.is_empty() {
                vec![]
            } else {
                self.y[r.clone()].to_vec()
            },
            rows: r.len(),
            targets: self
                .targets
                .iter()
                .map(|t| parallel::target_rows(t, r))
                .collect(),
        }
    }
}

/// One device's part of a step: its rows of the batch, the network input they make (with the
/// unlabeled companion rows of the same positions after them), the label-group masks, and the
/// share of the batch's rows that weighs its loss and gradients.
struct Shard {
    batch: Batch,
    input: Act,
    masks: Vec<Option<Vec<f32>>>,
    /// Index into the trainer's devices (0 without several devices).
    device: usize,
    weight: f64,
}

impl Trainer {
    /// A trainer for `net` (the optimizer's groups are resolved against its paths).
    pub fn new(cfg: TrainConfig, net: &Network, seed: u64) -> Result<Self> {
        if cfg.batch_size == 0 {
            return Err(Error::Spec("train.batch_size must be > 0".into()));
        }
        let optimizer = Optimizer::new(cfg.optimizer.clone(), net)?;
        Ok(Trainer {
            cfg,
            seed,
            optimizer,
            terms: vec![],
            hooks: vec![],
            out_dir: None,
            progress: false,
            label: String::new(),
            epoch: 0,
            iteration: 0,
            history: vec![],
            best: None,
            bad_epochs: 0,
            unlabeled: None,
            module_optims: BTreeMap::new(),
            label_groups: None,
            tasks: vec![],
            strategy: None,
            parallel: backend::chosen_devices().map(Parallel::new).transpose()?,
        })
    }

    /// Adds unlabeled companion data (a target domain): every step also draws as many of its
    /// samples as the labelled batch holds (own seeded order, cycling), and both batches go
    /// through the network in one forward (labelled rows first), so batch norm sees both.
    pub fn with_unlabeled(mut self, data: Dataset) -> Self {
        self.unlabeled = Some(data);
        self
    }

    /// Trains these tasks instead of the default one (the network's output against the
    /// labels, cross-entropy): several heads and targets, regression, reconstruction. Each
    /// task's loss and metric are recorded under its name ([`EpochRecord::tasks`]); the
    /// record's `train_accuracy`/`valid_accuracy` are the first task's accuracy, and early
    /// stopping and the best checkpoint follow the first task's metric.
    pub fn with_tasks(mut self, tasks: Vec<Task>) -> Self {
        self.tasks = tasks;
        self
    }

    /// Weighs the tasks with `strategy` (see [`super::gradient`]): one backward pass of the
    /// weighted sum of the task losses when the strategy only sets loss weights, or one per
    /// task when it combines the tasks' gradients. Each epoch records the mean weight of
    /// every task ([`TaskScores::weight`]) and the strategy's learnable state, which a
    /// resumed run restores.
    pub fn with_gradient_strategy(mut self, strategy: Box<dyn GradientStrategy>) -> Self {
        self.strategy = Some(strategy);
        self
    }

    /// Splits every step's batch over `devices` (see [`super::parallel`]): one shard per
    /// device, the shards' gradients averaged by rows, one update; by default the devices
    /// chosen for the process (`tlkit --devices`), else the network's own device.
    pub fn with_devices(mut self, devices: &[DeviceSlot]) -> Result<Self> {
        self.parallel = Some(Parallel::new(devices)?);
        Ok(self)
    }

    /// The tasks trained: those given, or the default classification task.
    fn effective_tasks(&self) -> Vec<Task> {
        if self.tasks.is_empty() {
            vec![Task::classify(LABEL_TARGET)]
        } else {
            self.tasks.clone()
        }
    }

    /// Creates the optimizers of loss-term modules that have none yet.
    fn ensure_module_optims(&mut self) -> Result<()> {
        let mut cfg = self.cfg.optimizer.clone();
        cfg.groups.clear();
        for m in modules(&mut self.terms) {
            if !self.module_optims.contains_key(&m.name) {
                let opt = Optimizer::new(cfg.clone(), m.net)?;
                self.module_optims.insert(m.name.clone(), opt);
            }
        }
        Ok(())
    }

    /// Adds a loss term.
    pub fn with_term(mut self, term: Box<dyn LossTerm>) -> Self {
        self.terms.push(term);
        self
    }

    /// Adds a hook.
    pub fn with_hook(mut self, hook: Box<dyn Hook>) -> Self {
        self.hooks.push(hook);
        self
    }

    /// Writes `metrics.jsonl` and `checkpoints/{last,best}.safetensors` under `dir`.
    pub fn with_output(mut self, dir: &Path) -> Self {
        self.out_dir = Some(dir.to_path_buf());
        self
    }

    /// Restricts each sample's task loss (and the training and validation accuracy) to the
    /// output units of the group that holds its label: multi-head training with one group per
    /// task (task-incremental learning), or one group of the classes seen so far
    /// (class-incremental learning, as Hsu et al. 2018 do). Loss terms still see the
    /// unrestricted logits. A label in no group is an error before training.
    pub fn with_label_groups(mut self, groups: Vec<Vec<u32>>) -> Self {
        self.label_groups = Some(groups);
        self
    }

    /// Shows progress: a bar per epoch on a terminal, or, when stderr is not a terminal (a
    /// log file, `nohup`, CI), one line per epoch ([`EpochRecord::progress_line`]).
    pub fn with_progress(mut self, on: bool) -> Self {
        self.progress = on;
        self
    }

    /// Names the run in progress lines, e.g. `finetune arm scratch seed 2`.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Completed epochs' records.
    pub fn history(&self) -> &[EpochRecord] {
        &self.history
    }

    /// Restores network, optimizer and position from a checkpoint written by this trainer
    /// (a damaged `last.safetensors` falls back to the `previous.safetensors` beside it,
    /// [`checkpoint::load_for_resume`]). A checkpoint of another architecture is an error
    /// naming what differs.
    pub fn resume_from(&mut self, net: &mut Network, path: &Path) -> Result<()> {
        let (path, ck) = checkpoint::load_for_resume(path)?;
        let path = path.as_path();
        let meta = ck.meta.ok_or_else(|| Error::Checkpoint {
            path: path.into(),
            msg: "holds weights only, no training state; it cannot be resumed".into(),
        })?;
        self.ensure_module_optims()?;
        let (mut model, mut optim) = (ck.model, ck.optimizer);
        for m in modules(&mut self.terms) {
            let mstate = take_prefixed(&mut model, &m.name);
            let ostate = take_prefixed(&mut optim, &m.name);
            let bad = |e: Error| Error::Checkpoint {
                path: path.into(),
                msg: format!("module `{}`: {e}", m.name),
            };
            m.net.load_state_dict(&mstate, true).map_err(bad)?;
            if let Some(opt) = self.module_optims.get_mut(&m.name) {
                opt.load_state_dict(m.net, &ostate, meta.optimizer_steps)
                    .map_err(bad)?;
            }
        }
        net.load_state_dict(&model, true)
            .map_err(|e| Error::Checkpoint {
                path: path.into(),
                msg: format!("does not fit this network (another architecture?): {e}"),
            })?;
        self.optimizer
            .load_state_dict(net, &optim, meta.optimizer_steps)
            .map_err(|e| Error::Checkpoint {
                path: path.into(),
                msg: e.to_string(),
            })?;
        self.epoch = meta.epoch;
        self.iteration = meta.iteration;
        self.history = meta.history;
        self.best = meta.best;
        self.bad_epochs = meta.bad_epochs;
        Ok(())
    }

    /// Trains until `cfg.epochs` epochs are complete (or early stopping), validating on
    /// `valid` after each epoch when given.
    pub fn fit(
        &mut self,
        net: &mut Network,
        train: &Dataset,
        valid: Option<&Dataset>,
    ) -> Result<FitReport> {
        self.check_data(net, train)?;
        if let Some(v) = valid {
            self.check_data(net, v)?;
            if let Some(t) = self.terms.iter().find(|t| t.adds_to_layers()) {
                return Err(Error::Spec(format!(
                    "loss term `{}` adds to the network's layers, so the network alone cannot be validated; evaluate the whole model after training instead",
                    t.name()
                )));
            }
        }
        if let Some(u) = &self.unlabeled {
            if u.is_empty() {
                return Err(Error::Spec(format!(
                    "unlabeled dataset `{}` is empty; give at least one target sample",
                    u.name
                )));
            }
            if u.sample_shape != net.spec().input_shape {
                return Err(Error::Spec(format!(
                    "unlabeled dataset `{}` has samples of {} but the network's input_shape is {}; transform it like the labelled data",
                    u.name,
                    crate::nn::fmt_shape(&u.sample_shape),
                    crate::nn::fmt_shape(&net.spec().input_shape)
                )));
            }
        }
        self.ensure_module_optims()?;
        let n = train.len();
        let per_epoch = if self.cfg.drop_last {
            n / self.cfg.batch_size
        } else {
            n.div_ceil(self.cfg.batch_size)
        };
        if per_epoch == 0 {
            return Err(Error::Spec(format!(
                "dataset `{}` has {n} samples, fewer than one batch of {} with drop_last",
                train.name, self.cfg.batch_size
            )));
        }
        let total = per_epoch * self.cfg.epochs;
        let taps: Vec<String> = {
            let mut t: Vec<String> = self.terms.iter().flat_map(|t| t.taps()).collect();
            t.sort();
            t.dedup();
            t
        };
        let tasks = self.effective_tasks();
        if let Some(s) = &mut self.strategy {
            let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
            s.check(&names)?;
            if let Some(last) = self.history.last() {
                let state: Vec<Vec<f64>> = names
                    .iter()
                    .map(|n| last.tasks.get(n).map(|t| t.weighting_state.clone()))
                    .collect::<Option<_>>()
                    .unwrap_or_default();
                s.restore(&state, &self.history)?;
            }
        }
        let mut stopped_early = false;
        while self.epoch < self.cfg.epochs {
            let epoch = self.epoch;
            for h in &mut self.hooks {
                h.on_epoch_start(net, epoch)?;
            }
            let start = Instant::now();
            let order = batch::epoch_order(n, self.seed, epoch, true);
            let mut rng = ChaCha8Rng::seed_from_u64(
                self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (epoch as u64 + 1),
            );
            let bar = self.bar(per_epoch, epoch);
            let (mut loss_sum, mut correct, mut seen) = (0.0, 0u64, 0usize);
            let mut term_sums = vec![0.0; self.terms.len()];
            let mut task_sums = vec![(0.0, 0.0); tasks.len()];
            let mut weight_sums = vec![0.0; tasks.len()];
            let (mut cosine_sums, mut share_sums, mut related_steps) = (
                vec![vec![0.0; tasks.len()]; tasks.len()],
                vec![0.0; tasks.len()],
                0usize,
            );
            let mut lr = self.cfg.optimizer.lr;
            // Batches are gathered (and their deferred transforms applied) on a background
            // thread, one batch ahead of the step; the order is the epoch's.
            let batch_targets: Vec<String> = tasks.iter().map(|t| t.target.clone()).collect();
            let make = |idx: &[usize]| -> Result<Batch> {
                let (x, y) = train.gather_batch(idx)?;
                let targets = batch_targets
                    .iter()
                    .map(|t| train.gather_target(t, idx))
                    .collect::<Result<_>>()?;
                Ok(Batch {
                    x,
                    y,
                    rows: idx.len(),
                    targets,
                })
            };
            let jobs = batch::batches(&order, self.cfg.batch_size, self.cfg.drop_last);
            batch::prefetch(jobs, PREFETCH_BATCHES, make, |b| {
                let rows = b.rows;
                lr = self.cfg.optimizer.lr * self.cfg.schedule.factor(self.iteration, total, epoch);
                let out = self.step_batch(net, b, &tasks, &taps, &mut rng, epoch, total, lr)?;
                for (sum, v) in term_sums.iter_mut().zip(&out.terms) {
                    *sum += v;
                }
                for (sum, (l, m)) in task_sums.iter_mut().zip(&out.tasks) {
                    sum.0 += l * rows as f64;
                    sum.1 += m;
                }
                for (sum, w) in weight_sums.iter_mut().zip(&out.weights) {
                    *sum += w;
                }
                if let Some(r) = &out.relatedness {
                    related_steps += 1;
                    for (sums, row) in cosine_sums.iter_mut().zip(&r.cosine) {
                        for (sum, c) in sums.iter_mut().zip(row) {
                            *sum += c;
                        }
                    }
                    for (sum, x) in share_sums.iter_mut().zip(&r.norm_share) {
                        *sum += x;
                    }
                }
                let value = out.loss;
                correct += out.correct;
                loss_sum += value * rows as f64;
                seen += rows;
                bar.inc(1);
                bar.set_message(format!(
                    "loss {:.4} acc {:.2}%",
                    loss_sum / seen as f64,
                    100.0 * correct as f64 / seen as f64
                ));
                Ok(())
            })?;
            bar.finish_and_clear();
            for term in &mut self.terms {
                term.on_epoch_end(net, epoch)?;
            }
            let steps = per_epoch as f64;
            let mut record = EpochRecord {
                epoch: epoch + 1,
                lr,
                train_loss: loss_sum / seen as f64,
                train_accuracy: correct as f64 / seen as f64,
                terms: self
                    .terms
                    .iter()
                    .filter(|t| t.has_loss())
                    .zip(&term_sums)
                    .map(|(t, s)| (t.name().to_string(), s / steps))
                    .collect(),
                valid_loss: None,
                valid_accuracy: None,
                tasks: if self.tasks.is_empty() {
                    BTreeMap::new()
                } else {
                    tasks
                        .iter()
                        .zip(&task_sums)
                        .zip(&weight_sums)
                        .enumerate()
                        .map(|(i, ((t, (l, m)), w))| {
                            let related = related_steps as f64;
                            let scores = TaskScores {
                                metric: t.metric().name().into(),
                                train_loss: l / seen as f64,
                                train_metric: m / seen as f64,
                                valid_loss: None,
                                valid_metric: None,
                                weight: self.strategy.as_ref().map(|_| w / steps),
                                weighting_state: vec![],
                                grad_cosine: if related_steps > 0 {
                                    tasks
                                        .iter()
                                        .enumerate()
                                        .filter(|(j, _)| *j != i)
                                        .map(|(j, o)| (o.name.clone(), cosine_sums[i][j] / related))
                                        .collect()
                                } else {
                                    BTreeMap::new()
                                },
                                grad_norm_share: (related_steps > 0)
                                    .then(|| share_sums[i] / related),
                            };
                            (t.name.clone(), scores)
                        })
                        .collect()
                },
                seconds: 0.0,
            };
            let mut improved = false;
            let every = self.cfg.valid_every;
            let due =
                every > 0 && ((epoch + 1).is_multiple_of(every) || epoch + 1 == self.cfg.epochs);
            if let Some(v) = valid.filter(|_| due) {
                let score = self.validate(net, v, &tasks, &mut record)?;
                let delta = self
                    .cfg
                    .early_stopping
                    .as_ref()
                    .map_or(0.0, |e| e.min_delta);
                improved = self.best.is_none_or(|b| score > b + delta);
                if improved {
                    self.best = Some(score);
                    self.bad_epochs = 0;
                } else {
                    self.bad_epochs += 1;
                }
            }
            if let Some(s) = &mut self.strategy {
                s.on_epoch_end(&record)?;
                for (t, state) in tasks.iter().zip(s.state()) {
                    if let Some(scores) = record.tasks.get_mut(&t.name) {
                        scores.weighting_state = state;
                    }
                }
            }
            record.seconds = start.elapsed().as_secs_f64();
            tracing::info!(
                epoch = record.epoch,
                train_loss = record.train_loss,
                train_accuracy = record.train_accuracy,
                valid_accuracy = record.valid_accuracy,
                "epoch done"
            );
            if self.progress && !std::io::stderr().is_terminal() {
                eprintln!("{}", record.progress_line(&self.label, self.cfg.epochs));
            }
            self.history.push(record.clone());
            self.epoch += 1;
            self.save(net, improved)?;
            for h in &mut self.hooks {
                h.on_epoch_end(net, &record)?;
            }
            if let Some(es) = &self.cfg.early_stopping
                && self.bad_epochs >= es.patience
                && valid.is_some()
            {
                stopped_early = true;
                break;
            }
        }
        let best_epoch = self
            .history
            .iter()
            .filter_map(|r| r.valid_accuracy.map(|a| (r.epoch, a)))
            .fold(None, |acc: Option<(usize, f64)>, (e, a)| match acc {
                Some((_, b)) if b >= a => acc,
                _ => Some((e, a)),
            })
            .map(|(e, _)| e);
        Ok(FitReport {
            history: self.history.clone(),
            best_epoch,
            stopped_early,
        })
    }

    /// Validates on `v`, fills the record's validation fields and returns the score that
    /// early stopping and the best checkpoint follow (higher is better): the accuracy, or
    /// the negated error of a first task that is a regression.
    fn validate(
        &self,
        net: &mut Network,
        v: &Dataset,
        tasks: &[Task],
        record: &mut EpochRecord,
    ) -> Result<f64> {
        if self.tasks.is_empty() {
            let r = evaluate_groups(
                net,
                v,
                self.cfg.eval_batch_size,
                self.label_groups.as_deref(),
            )?;
            record.valid_loss = Some(r.loss);
            record.valid_accuracy = Some(r.accuracy);
            return Ok(r.accuracy);
        }
        let evals = evaluate_tasks(net, v, tasks, self.cfg.eval_batch_size)?;
        record.valid_loss = Some(
            tasks
                .iter()
                .zip(&evals)
                .map(|(t, e)| t.weight * e.loss)
                .sum(),
        );
        for (t, e) in tasks.iter().zip(&evals) {
            if let Some(s) = record.tasks.get_mut(&t.name) {
                s.valid_loss = Some(e.loss);
                s.valid_metric = Some(e.value);
            }
        }
        let first = tasks[0].metric();
        if first.higher_is_better() {
            record.valid_accuracy = Some(evals[0].value);
            Ok(evals[0].value)
        } else {
            Ok(-evals[0].value)
        }
    }

    /// One optimisation step on a batch of host samples: forward, task loss plus every loss
    /// term, backward, clipping, update. `total` is the run's number of iterations (for
    /// progress-based schedules), `lr` the scheduled learning rate. With tasks
    /// ([`Trainer::with_tasks`]) their targets must be `label` or `input`; [`Trainer::fit`]
    /// takes any.
    #[allow(clippy::too_many_arguments)]
    pub fn step(
        &mut self,
        net: &mut Network,
        x: Vec<f32>,
        y: &[u32],
        taps: &[String],
        rng: &mut ChaCha8Rng,
        epoch: usize,
        total: usize,
        lr: f64,
    ) -> Result<StepOutput> {
        let tasks = self.effective_tasks();
        let width: usize = net.spec().input_shape.iter().product();
        let rows = x.len() / width.max(1);
        let targets = tasks
            .iter()
            .map(|t| match t.target.as_str() {
                LABEL_TARGET => Ok(TargetBatch::Classes(y.to_vec())),
                INPUT_TARGET => Ok(TargetBatch::Values {
                    values: x.clone(),
                    width,
                }),
                other => Err(Error::Spec(format!(
                    "task `{}`: target `{other}` is not in a (samples, labels) batch; train through `fit`",
                    t.name
                ))),
            })
            .collect::<Result<_>>()?;
        let b = Batch {
            x,
            y: y.to_vec(),
            rows,
            targets,
        };
        self.step_batch(net, b, &tasks, taps, rng, epoch, total, lr)
    }

    #[allow(clippy::too_many_arguments)]
    fn step_batch(
        &mut self,
        net: &mut Network,
        b: Batch,
        tasks: &[Task],
        taps: &[String],
        rng: &mut ChaCha8Rng,
        epoch: usize,
        total: usize,
        lr: f64,
    ) -> Result<StepOutput> {
        // The strategy is lent to the step (it is called while the trainer is borrowed).
        let mut strategy = self.strategy.take();
        let out = self.step_with(net, b, tasks, taps, rng, (epoch, total, lr), &mut strategy);
        self.strategy = strategy;
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn step_with(
        &mut self,
        net: &mut Network,
        b: Batch,
        tasks: &[Task],
        taps: &[String],
        rng: &mut ChaCha8Rng,
        (epoch, total, lr): (usize, usize, f64),
        strategy: &mut Option<Box<dyn GradientStrategy>>,
    ) -> Result<StepOutput> {
        // Callers that drive `step` themselves (not through `fit`) get the term modules'
        // optimizers too.
        self.ensure_module_optims()?;
        self.ensure_trainable(net)?;
        let mut replicas = self.replicas(net, strategy.as_deref())?;
        let shards = self.shards(net, &replicas, b, tasks)?;
        let names: Vec<String> = tasks.iter().map(|t| t.name.clone()).collect();
        let (order, iteration) = (net.paths().to_vec(), self.iteration);
        let at = WeightingStep {
            epoch,
            iteration,
            total_iterations: total,
            tasks: &names,
            losses: &[],
            order: &order,
            representation: &[],
        };
        let per_task = strategy.as_ref().is_some_and(|s| s.needs_task_grads());
        let rep_layer = match strategy.as_ref() {
            Some(s) if per_task && s.needs_representation() => {
                Some(representation_layer(net, tasks, s.name())?)
            }
            _ => None,
        };
        let mut rep_grads = vec![];
        let ask_weights = !per_task && strategy.is_some();
        let passes: Vec<Pass> = match per_task {
            false => vec![Pass::All],
            true => (0..tasks.len())
                .map(Pass::Task)
                .chain(self.has_term_loss().then_some(Pass::Terms))
                .collect(),
        };
        // Every pass replays the step's generator (same dropout masks); the state after the
        // first pass, and the batch-norm statistics its first shard wrote, are what the step
        // leaves.
        let rng_start = rng.clone();
        let (mut rng_after_first, mut first_buffers) = (None, None);
        let mut value = 0.0;
        let mut task_stats = vec![(0.0, 0.0); tasks.len()];
        let mut terms = vec![];
        let mut pass_grads = Vec::with_capacity(passes.len());
        let mut weights = vec![];
        for (i, &pass) in passes.iter().enumerate() {
            if i > 0 {
                *rng = rng_start.clone();
            }
            // Each shard's loss is a mean over its rows: weighted by its share of the batch,
            // the shards' values and gradients are the whole batch's.
            let mut shard_grads = Vec::with_capacity(shards.len());
            let mut pass_stats: Vec<Option<(f64, f64)>> = vec![None; tasks.len()];
            let mut pass_terms: Vec<f64> = vec![];
            for (s, shard) in shards.iter().enumerate() {
                let target = match replicas.get_mut(shard.device) {
                    Some(Some(replica)) => replica,
                    _ => &mut *net,
                };
                let mut weigh = |losses: &[f64]| match strategy.as_deref_mut() {
                    Some(s) => s.weigh(&WeightingStep { losses, ..at }),
                    None => Ok(vec![1.0; losses.len()]),
                };
                let out = self.pass(
                    target,
                    shard.input.clone(),
                    &shard.batch,
                    tasks,
                    &shard.masks,
                    taps,
                    rng,
                    (epoch, total),
                    pass,
                    ask_weights.then_some(&mut weigh as Weigh<'_>),
                    rep_layer
                        .as_deref()
                        .filter(|_| matches!(pass, Pass::Task(_))),
                )?;
                if let Some(w) = &out.weights {
                    weights = w.clone();
                }
                if i == 0 && s == 0 {
                    first_buffers = Some(target.buffers());
                }
                let v = backend::scalar(&out.loss) as f64;
                if !v.is_finite() {
                    return Err(self.diverged(target, v, epoch, tasks, &out, lr));
                }
                value += shard.weight * v;
                for (acc, o) in pass_stats.iter_mut().zip(&out.tasks) {
                    if let Some((l, m)) = o {
                        let a = acc.get_or_insert((0.0, 0.0));
                        a.0 += shard.weight * l;
                        a.1 += m;
                    }
                }
                pass_terms.resize(out.terms.len().max(pass_terms.len()), 0.0);
                for (acc, t) in pass_terms.iter_mut().zip(&out.terms) {
                    *acc += shard.weight * t;
                }
                let grads = out.loss.backward();
                if let Some(leaf) = &out.representation {
                    let n = leaf.dims()[0];
                    rep_grads.push(
                        leaf.grad(&grads)
                            .unwrap_or_else(|| Tensor::zeros([n], target.device())),
                    );
                }
                let grads = self.collect_grads(target, &grads);
                if let Some(e) = self.diverged_gradient(target, &grads, v, epoch, lr) {
                    return Err(e);
                }
                shard_grads.push((grads, shard.weight));
            }
            for (s, o) in task_stats.iter_mut().zip(pass_stats) {
                if let Some(o) = o {
                    *s = o;
                }
            }
            if !pass_terms.is_empty() {
                terms = pass_terms;
            }
            if i == 0 {
                rng_after_first = Some(rng.clone());
            }
            pass_grads.push(parallel::average(shard_grads, net.device()));
        }
        if passes.len() > 1
            && let Some(r) = rng_after_first
        {
            *rng = r;
        }
        if (passes.len() > 1 || shards.len() > 1 || replicas.iter().any(Option::is_some))
            && let Some(buffers) = first_buffers
        {
            let device = net.device().clone();
            net.restore_buffers(
                buffers
                    .into_iter()
                    .map(|(p, v)| (p, v.to_device(&device)))
                    .collect(),
            );
        }
        let has_term_loss = self.has_term_loss();
        let mut related = None;
        let mut g = match strategy.as_deref_mut().filter(|_| per_task) {
            None => pass_grads.pop().unwrap_or_default(),
            Some(s) => {
                let term_grads = has_term_loss.then(|| pass_grads.pop());
                related = Some(relatedness(&pass_grads));
                let losses: Vec<f64> = tasks
                    .iter()
                    .zip(&task_stats)
                    .map(|(t, (l, _))| t.weight * l)
                    .collect();
                let c = s.combine(
                    &WeightingStep {
                        losses: &losses,
                        representation: &rep_grads,
                        ..at
                    },
                    pass_grads,
                )?;
                weights = c.weights;
                let mut combined = vec![c.grads];
                combined.extend(term_grads.flatten());
                sum_grads(combined)
            }
        };
        if let Some(max) = self.cfg.clip_grad_norm {
            clip_grad_norm(&mut g, max);
        }
        let mut module_grads: BTreeMap<String, Grads> = BTreeMap::new();
        for m in modules(&mut self.terms) {
            module_grads.insert(m.name.clone(), take_prefixed(&mut g, &m.name));
        }
        let applied = (!self.terms.is_empty()).then(|| g.clone());
        self.optimizer.step(net, g, lr)?;
        if let Some(applied) = applied {
            for term in self.terms.iter_mut() {
                term.after_update(net, &applied)?;
            }
        }
        for m in modules(&mut self.terms) {
            if let (Some(opt), Some(mg)) = (
                self.module_optims.get_mut(&m.name),
                module_grads.remove(&m.name),
            ) {
                opt.step(m.net, mg, lr * m.lr_mult)?;
            }
        }
        let correct = match tasks[0].metric() {
            Metric::Accuracy => task_stats[0].1 as u64,
            _ => 0,
        };
        self.iteration += 1;
        Ok(StepOutput {
            loss: value,
            correct,
            terms,
            tasks: task_stats,
            weights,
            relatedness: related,
        })
    }

    /// The networks the shards of a step run on, one per device: `None` for `net` itself
    /// (every device on the CPU backend), else a copy of `net` on that device. An error for
    /// what cannot be split over several devices.
    fn replicas(
        &self,
        net: &Network,
        strategy: Option<&dyn GradientStrategy>,
    ) -> Result<Vec<Option<Network>>> {
        let Some(p) = &self.parallel else {
            return Ok(vec![None]);
        };
        let refuse = |msg: String| Error::Invalid {
            field: "--devices".into(),
            value: p.describe(),
            msg,
        };
        if let Some(s) = strategy.filter(|_| p.len() > 1) {
            return Err(refuse(format!(
                "weighting `{}` weighs each task by its loss or gradient on the whole batch, which several devices would each see a part of; train it on one device (leave out --devices)",
                s.name()
            )));
        }
        if !p.all_on(net)
            && let Some(t) = self.terms.first()
        {
            return Err(refuse(format!(
                "loss term `{}` keeps its tensors on the network's device {:?}; on devices other than the network's only the tasks' losses can be trained for now (leave out --devices, or list the network's device alone)",
                t.name(),
                net.device()
            )));
        }
        Ok(p.replicas(net))
    }

    /// The step's batch split into one shard per device (a single shard, the whole batch,
    /// without several devices), each with its input built on its device.
    fn shards(
        &self,
        net: &Network,
        replicas: &[Option<Network>],
        b: Batch,
        tasks: &[Task],
    ) -> Result<Vec<Shard>> {
        let n = b.rows;
        let companion = match &self.unlabeled {
            Some(u) => {
                let idx =
                    companion_indices(u.len(), self.seed, self.iteration, self.cfg.batch_size, n);
                Some((u.gather_batch(&idx)?.0, u.sample_width()))
            }
            None => None,
        };
        let ranges = parallel::shard_ranges(n, replicas.len());
        let parts: Vec<(Batch, std::ops::Range<usize>)> = if ranges.len() > 1 {
            ranges.into_iter().map(|r| (b.rows_in(&r), r)).collect()
        } else {
            vec![(b, 0..n)]
        };
        parts
            .into_iter()
            .enumerate()
            .map(|(device, (mut b, r))| {
                let target = replicas[device].as_ref().unwrap_or(net);
                let (mut x, mut rows) = (std::mem::take(&mut b.x), b.rows);
                if let Some((values, width)) = &companion {
                    x.extend_from_slice(&values[r.start * width..r.end * width]);
                    rows += r.len();
                }
                let input = target.input(x, rows)?;
                // Label groups restrict the default-label tasks on the trunk's output.
                let masks = tasks
                    .iter()
                    .map(|t| match &self.label_groups {
                        Some(groups) if t.head.is_none() && t.target == LABEL_TARGET => {
                            let classes = net.output_shape().iter().product();
                            group_mask(&b.y, groups, classes).map(Some)
                        }
                        _ => Ok(None),
                    })
                    .collect::<Result<Vec<_>>>()?;
                let weight = if r.len() == n {
                    1.0
                } else {
                    r.len() as f64 / n as f64
                };
                Ok(Shard {
                    batch: b,
                    input,
                    masks,
                    device,
                    weight,
                })
            })
            .collect()
    }

    /// One forward pass and the losses `pass` carries.
    #[allow(clippy::too_many_arguments)]
    fn pass(
        &mut self,
        net: &mut Network,
        input: Act,
        b: &Batch,
        tasks: &[Task],
        masks: &[Option<Vec<f32>>],
        taps: &[String],
        rng: &mut ChaCha8Rng,
        (epoch, total): (usize, usize),
        pass: Pass,
        weigh: Option<Weigh<'_>>,
        representation: Option<&str>,
    ) -> Result<PassOut> {
        let with_terms = matches!(pass, Pass::All | Pass::Terms);
        if with_terms {
            for term in self.terms.iter_mut() {
                term.observe_input(&input)?;
            }
        }
        let mut adds = Additions::new();
        for term in self.terms.iter_mut().filter(|t| t.adds_to_layers()) {
            for (path, list) in term.additions(&input, rng)? {
                adds.entry(path).or_default().extend(list);
            }
        }
        // A zero added to the representation: its gradient is the representation's.
        let leaf = match representation {
            Some(layer) => {
                let rows = input.dims()[0];
                let shape = net
                    .layers()
                    .iter()
                    .find(|l| l.path == layer)
                    .map(|l| l.output.clone())
                    .ok_or_else(|| Error::Path(format!("no layer `{layer}`")))?;
                let n: usize = shape.iter().product();
                let leaf = backend::leaf(Tensor::zeros([rows * n], net.device()));
                let act = match shape.as_slice() {
                    [c, h, w] => Act::Map(leaf.clone().reshape([rows, *c, *h, *w])),
                    _ => Act::Flat(leaf.clone().reshape([rows, n])),
                };
                adds.entry(layer.to_string()).or_default().push(act);
                Some(leaf)
            }
            None => None,
        };
        let fwd = net.forward_added(input, Mode::Train(rng), taps, &adds)?;
        let logits = fwd.output.clone().flat();
        let mut loss: Option<Tensor<1>> = None;
        let mut stats = vec![None; tasks.len()];
        let mut parts = Vec::with_capacity(tasks.len());
        for (i, task) in tasks.iter().enumerate() {
            if !matches!(pass, Pass::All) && pass != Pass::Task(i) {
                continue;
            }
            let out = fwd.head(task.head.as_deref())?.clone().flat();
            let out = if out.dims()[0] > b.rows {
                out.narrow(0, 0, b.rows)
            } else {
                out
            };
            let t = task.loss(out, &b.targets[i], masks[i].clone(), net.device())?;
            stats[i] = Some((t.value, t.metric_sum));
            parts.push((task.weight * t.value, t.loss));
        }
        let weights = match weigh {
            Some(f) => Some(f(&parts.iter().map(|(v, _)| *v).collect::<Vec<_>>())?),
            None => None,
        };
        for (i, (_, l)) in parts.into_iter().enumerate() {
            let l = match weights.as_ref().map(|w| w[i]) {
                Some(w) if w != 1.0 => l.mul_scalar(w as f32),
                _ => l,
            };
            loss = Some(match loss {
                Some(acc) => acc + l,
                None => l,
            });
        }
        let mut terms = Vec::with_capacity(self.terms.len());
        if with_terms && self.has_term_loss() {
            // Unlabeled training data has no labels; terms see zeros, one per source row.
            let labels = if b.y.is_empty() {
                backend::labels(&vec![0; b.rows], net.device())
            } else {
                backend::labels(&b.y, net.device())
            };
            for term in self.terms.iter_mut().filter(|t| t.has_loss()) {
                let mut ctx = StepContext {
                    epoch,
                    iteration: self.iteration,
                    total_iterations: total,
                    progress: self.iteration as f64 / total.max(1) as f64,
                    logits: &logits,
                    labels: &labels,
                    taps: &fwd.taps,
                    rng,
                };
                let l = term.loss(net, &mut ctx)?;
                terms.push(backend::scalar(&l) as f64);
                loss = Some(match loss {
                    Some(acc) => acc + l,
                    None => l,
                });
            }
        }
        let loss = loss.ok_or_else(|| Error::Training("a training step with no loss".into()))?;
        Ok(PassOut {
            loss,
            tasks: stats,
            terms,
            weights,
            representation: leaf,
        })
    }

    /// The gradients of the main network and of every loss-term module (under its prefix)
    /// in one map, so that clipping sees the global norm.
    fn collect_grads(&mut self, net: &Network, grads: &burn::tensor::Gradients) -> Grads {
        let mut g = BTreeMap::new();
        for p in net.trainable_paths() {
            if let Some(gr) = net.slot(&p).and_then(|s| s.value.grad(grads)) {
                g.insert(p, gr);
            }
        }
        for m in modules(&mut self.terms) {
            let mg = m.net.trainable_paths().into_iter().filter_map(|p| {
                let gr = m.net.slot(&p).and_then(|s| s.value.grad(grads))?;
                Some((p, gr))
            });
            put_prefixed(&mut g, &m.name, mg);
        }
        g
    }

    /// An error before the step when nothing would receive a gradient: every parameter of
    /// the network and of the loss terms' modules is frozen (`freeze = ["*"]`) or there is
    /// none (`layers = []`).
    fn ensure_trainable(&mut self, net: &Network) -> Result<()> {
        if net.num_trainable_params() > 0
            || modules(&mut self.terms)
                .iter()
                .any(|m| m.net.num_trainable_params() > 0)
        {
            return Ok(());
        }
        let n = net.num_params();
        Err(Error::Training(if n == 0 {
            "nothing to train: the network has no parameters (only layers without weights); give it a layer with weights, such as a linear layer".into()
        } else {
            format!(
                "nothing to train: all {n} parameters of the network are frozen (a `freeze` list that matches every parameter, such as [\"*\"]); freeze fewer layers"
            )
        }))
    }

    /// The error for a loss that became `value` (NaN or infinite): the step, the first loss
    /// part that is not finite (a task or a loss term), where the weights stand after the
    /// updates (the first parameter that is not finite, or the largest magnitude), advice that
    /// fits the settings in use, and the last good checkpoint when that file exists.
    fn diverged(
        &self,
        net: &Network,
        value: f64,
        epoch: usize,
        tasks: &[Task],
        out: &PassOut,
        lr: f64,
    ) -> Error {
        let task = tasks
            .iter()
            .zip(&out.tasks)
            .find(|(_, s)| s.is_some_and(|(l, _)| !l.is_finite()))
            .map(|(t, s)| (format!("task `{}`", t.name), s.map_or(value, |(l, _)| l)));
        let term = self
            .terms
            .iter()
            .filter(|t| t.has_loss())
            .zip(&out.terms)
            .find(|(_, v)| !v.is_finite())
            .map(|(t, v)| (format!("loss term `{}`", t.name()), *v));
        let part = match task.clone().or_else(|| term.clone()) {
            Some((name, v)) => format!(" ({name} gave {v})"),
            None => String::new(),
        };
        let weights = if self.iteration == 0 {
            String::new()
        } else {
            weights_after_updates(net)
        };
        let only_term = term.filter(|_| task.is_none()).map(|(name, _)| name);
        Error::Training(format!(
            "loss became {value}{part} at step {} (epoch {}){weights}; stopped. To fix: {}.{}",
            self.iteration + 1,
            epoch + 1,
            self.divergence_advice(lr, only_term.as_deref(), "it"),
            self.last_good_checkpoint()
        ))
    }

    /// The error for a step whose loss `value` is finite but whose gradient is not (before
    /// the update that would spread it into the weights): the first parameter, in network
    /// order, whose gradient holds a NaN or an infinity, and how many do. `None` when every
    /// gradient is finite.
    fn diverged_gradient(
        &self,
        net: &Network,
        grads: &Grads,
        value: f64,
        epoch: usize,
        lr: f64,
    ) -> Option<Error> {
        let (path, kind, count) = non_finite_gradient(net, grads)?;
        let others = match count {
            1 => String::new(),
            n => format!(" (the gradients of {n} of {} parameters are)", grads.len()),
        };
        Some(Error::Training(format!(
            "the gradient of parameter `{path}` became {kind}{others} at step {} (epoch {}), with a finite loss of {value}; stopped before the update. To fix: {}.{}",
            self.iteration + 1,
            epoch + 1,
            self.divergence_advice(lr, None, "the gradient"),
            self.last_good_checkpoint()
        )))
    }

    /// What to change after a divergence, from the settings in use: `what` went non-finite,
    /// `term` is the loss term that did when no task did.
    fn divergence_advice(&self, lr: f64, term: Option<&str>, what: &str) -> String {
        let o = &self.cfg.optimizer;
        let mut advice = vec![];
        if self.iteration == 0 {
            advice.push(format!(
                "{what} was not finite at the first step, before any update: look for NaN or Inf in the input data or the starting weights"
            ));
        } else {
            advice.push(if lr == o.lr {
                format!("lower train.optimizer.lr (now {:?})", o.lr)
            } else {
                format!(
                    "lower train.optimizer.lr (now {:?}, scheduled to {lr:.3e} at this step)",
                    o.lr
                )
            });
            match self.cfg.clip_grad_norm {
                None => advice.push("set train.clip_grad_norm (e.g. 1.0)".into()),
                Some(c) => advice.push(format!("lower train.clip_grad_norm (now {c})")),
            }
            if let Some(name) = term {
                advice.push(format!("lower the weight of {name}"));
            }
        }
        advice.join("; or ")
    }

    /// " The last good checkpoint is …." when the run has one on disk, else nothing.
    fn last_good_checkpoint(&self) -> String {
        self.out_dir
            .as_ref()
            .map(|d| d.join("checkpoints").join(checkpoint::LAST))
            .filter(|p| p.is_file())
            .map(|p| format!(" The last good checkpoint is {}.", p.display()))
            .unwrap_or_default()
    }

    fn check_data(&self, net: &Network, data: &Dataset) -> Result<()> {
        if data.is_empty() {
            return Err(Error::Spec(format!("dataset `{}` is empty", data.name)));
        }
        if data.sample_shape != net.spec().input_shape {
            return Err(Error::Spec(format!(
                "dataset `{}` has samples of {} but the network's input_shape is {}; add a transform (resize, flatten, to_rgb) or change the network",
                data.name,
                crate::nn::fmt_shape(&data.sample_shape),
                crate::nn::fmt_shape(&net.spec().input_shape)
            )));
        }
        if !self.tasks.is_empty() {
            if self.label_groups.is_some() && self.tasks.iter().all(|t| t.head.is_some()) {
                return Err(Error::Spec(
                    "label groups restrict the network's output, but no task uses it".into(),
                ));
            }
            for t in &self.tasks {
                t.check(net, data)?;
            }
            return Ok(());
        }
        if data.y.is_empty() {
            return Err(Error::Spec(format!(
                "dataset `{}` has no labels; supervised training needs them (or give a task without labels, such as a reconstruction)",
                data.name
            )));
        }
        let classes: usize = net.output_shape().iter().product();
        if data.num_classes > classes {
            return Err(Error::Spec(format!(
                "dataset `{}` has {} classes but the network outputs {classes}",
                data.name, data.num_classes
            )));
        }
        if let Some(groups) = &self.label_groups {
            let mut seen = vec![false; data.num_classes];
            for &l in &data.y {
                seen[l as usize] = true;
            }
            let labels: Vec<u32> = (0..data.num_classes as u32)
                .filter(|&c| seen[c as usize])
                .collect();
            group_mask(&labels, groups, classes)
                .map_err(|e| Error::Spec(format!("dataset `{}`: {e}", data.name)))?;
        }
        Ok(())
    }

    fn bar(&self, len: usize, epoch: usize) -> ProgressBar {
        if !self.progress || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({eta})")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("epoch {}/{}", epoch + 1, self.cfg.epochs));
        bar
    }

    /// The current parameters of every loss-term module, as `<module>.<path>` (the names
    /// they have in checkpoints), e.g. to keep a progressive network's trained laterals.
    pub fn module_state(&mut self) -> HostTensors {
        let mut out = HostTensors::new();
        for m in modules(&mut self.terms) {
            put_prefixed(&mut out, &m.name, m.net.state_dict());
        }
        out
    }

    /// Whether any loss term adds a loss (rather than only reaching into the forward pass).
    fn has_term_loss(&self) -> bool {
        self.terms.iter().any(|t| t.has_loss())
    }

    fn save(&mut self, net: &Network, improved: bool) -> Result<()> {
        let Some(dir) = self.out_dir.clone() else {
            return Ok(());
        };
        let lines: String = self
            .history
            .iter()
            .map(|r| serde_json::to_string(r).map(|s| s + "\n"))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Training(e.to_string()))?;
        let (mut optim, steps) = self.optimizer.state_dict();
        let meta = CheckpointMeta {
            epoch: self.epoch,
            iteration: self.iteration,
            optimizer_steps: steps,
            history: self.history.clone(),
            best: self.best,
            bad_epochs: self.bad_epochs,
        };
        let mut model = net.state_dict();
        model.append(&mut self.module_state());
        for (name, opt) in &self.module_optims {
            put_prefixed(&mut optim, name, opt.state_dict().0);
        }
        let ck = dir.join("checkpoints");
        checkpoint::save_last(&ck, &model, &optim, &meta)?;
        if improved {
            checkpoint::save(&ck.join(checkpoint::BEST), &model, &optim, &meta)?;
        }
        checkpoint::write_atomic(&dir.join("metrics.jsonl"), lines.as_bytes())
    }
}

/// The first parameter whose gradient holds a NaN or an infinity (the network's parameters in
/// declaration order, then the loss-term modules'), `"NaN"` or `"infinite"`, and how many
/// parameters' gradients are not finite; `None` when every one is finite.
fn non_finite_gradient(net: &Network, grads: &Grads) -> Option<(String, &'static str, usize)> {
    // x·0 is 0 for every finite x and NaN for a NaN or an infinity: one sum per parameter,
    // added up on the device, so a healthy step reads back a single number.
    let probe = grads
        .values()
        .map(|g| g.clone().mul_scalar(0.0).sum())
        .reduce(|a, b| a + b)?;
    if backend::scalar(&probe).is_finite() {
        return None;
    }
    let mut order = net.trainable_paths();
    order.extend(grads.keys().filter(|k| net.slot(k).is_none()).cloned());
    let mut first = None;
    let mut count = 0;
    for path in order {
        let Some(g) = grads.get(&path) else {
            continue;
        };
        let values = backend::to_vec(g);
        if values.iter().all(|v| v.is_finite()) {
            continue;
        }
        count += 1;
        if first.is_none() {
            let kind = if values.iter().any(|v| v.is_nan()) {
                "NaN"
            } else {
                "infinite"
            };
            first = Some((path, kind));
        }
    }
    first.map(|(path, kind)| (path, kind, count))
}

/// Where the trained weights stand after a divergence: the first parameter (declaration order)
/// that holds a NaN or an infinity, or, when all are finite, the largest magnitude and where.
fn weights_after_updates(net: &Network) -> String {
    let mut largest: Option<(String, f32)> = None;
    for path in net.trainable_paths() {
        let Some(slot) = net.slot(&path) else {
            continue;
        };
        let values = backend::to_vec(&slot.value);
        if let Some(v) = values.iter().find(|v| !v.is_finite()) {
            let kind = if v.is_nan() { "NaN" } else { "an infinity" };
            return format!(", after an update left {kind} in parameter `{path}`");
        }
        let m = values.iter().fold(0f32, |a, v| a.max(v.abs()));
        if largest.as_ref().is_none_or(|(_, l)| m > *l) {
            largest = Some((path, m));
        }
    }
    largest
        .map(|(path, m)| {
            format!(", with every parameter finite (the largest magnitude {m:.3e}, in `{path}`)")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::data::optdigits_embedded;
    use crate::nn::NetworkSpec;
    use crate::nn::zoo;

    fn setup(epochs: usize, lr: f64) -> (Network, Trainer, crate::data::Split) {
        let data = optdigits_embedded().unwrap();
        let spec = zoo::mlp(&data.train.sample_shape, &[64], 10, 0.1);
        let net = Network::new(spec, 7, &Device::flex()).unwrap();
        let cfg = TrainConfig {
            epochs,
            batch_size: 32,
            optimizer: OptimizerConfig::adam(lr),
            schedule: Schedule::Cosine { min_factor: 0.1 },
            clip_grad_norm: Some(5.0),
            early_stopping: None,
            drop_last: false,
            eval_batch_size: 256,
            valid_every: 1,
        };
        let trainer = Trainer::new(cfg, &net, 7).unwrap();
        (net, trainer, data)
    }

    #[test]
    fn mlp_learns_embedded_digits() {
        let (mut net, mut t, data) = setup(8, 3e-3);
        let report = t.fit(&mut net, &data.train, Some(&data.test)).unwrap();
        let last = report.history.last().unwrap();
        assert!(last.valid_accuracy.unwrap() > 0.93, "{last:?}");
        assert!(report.history[0].train_loss > last.train_loss);
    }

    #[test]
    fn same_seed_same_numbers() {
        let run = || {
            let (mut net, mut t, data) = setup(2, 3e-3);
            t.fit(&mut net, &data.train, Some(&data.test))
                .unwrap()
                .history
        };
        let strip = |h: Vec<EpochRecord>| {
            h.into_iter()
                .map(|r| EpochRecord { seconds: 0.0, ..r })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(run()), strip(run()));
    }

    #[test]
    fn deferred_transforms_train_the_same_numbers() {
        let ops = [
            crate::data::Transform::Resize {
                height: 12,
                width: 12,
            },
            crate::data::Transform::Normalize {
                mean: vec![0.3],
                std: vec![0.4],
            },
        ];
        let run = |lazy: bool| {
            let (_, _, data) = setup(2, 3e-3);
            let prep = |d: &Dataset| match lazy {
                true => d.clone().defer(&ops).unwrap(),
                false => crate::data::Transform::apply_all(&ops, d).unwrap(),
            };
            let (train, test) = (prep(&data.train), prep(&data.test));
            assert_eq!(train.deferred.is_some(), lazy);
            let mut net =
                Network::new(zoo::mlp(&[1, 12, 12], &[64], 10, 0.1), 7, &Device::flex()).unwrap();
            let (_, t, _) = setup(2, 3e-3);
            let mut t = Trainer::new(t.cfg.clone(), &net, 7).unwrap();
            let h = t.fit(&mut net, &train, Some(&test)).unwrap().history;
            h.into_iter()
                .map(|r| EpochRecord { seconds: 0.0, ..r })
                .collect::<Vec<_>>()
        };
        let eager = run(false);
        assert!(eager[1].valid_accuracy.unwrap() > 0.8, "{eager:?}");
        assert_eq!(eager, run(true));
    }

    /// A hook that fails after a given epoch, standing in for a killed process.
    struct Kill(usize);
    impl Hook for Kill {
        fn on_epoch_end(&mut self, _net: &mut Network, r: &EpochRecord) -> Result<()> {
            if r.epoch == self.0 {
                Err(Error::Training("killed".into()))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn resumed_run_matches_uninterrupted_run() {
        let dir = tempfile::tempdir().unwrap();
        let (mut net, t, data) = setup(3, 3e-3);
        let mut t = t.with_output(&dir.path().join("a"));
        let full = t
            .fit(&mut net, &data.train, Some(&data.test))
            .unwrap()
            .history;

        let (mut net, t, _) = setup(3, 3e-3);
        let mut t = t
            .with_output(&dir.path().join("b"))
            .with_hook(Box::new(Kill(2)));
        assert!(t.fit(&mut net, &data.train, Some(&data.test)).is_err());
        let (mut net, t, _) = setup(3, 3e-3);
        let mut t = t.with_output(&dir.path().join("b"));
        t.resume_from(&mut net, &dir.path().join("b/checkpoints/last.safetensors"))
            .unwrap();
        let resumed = t
            .fit(&mut net, &data.train, Some(&data.test))
            .unwrap()
            .history;
        assert_eq!(strip(&full), strip(&resumed));
        let lines = std::fs::read_to_string(dir.path().join("b/metrics.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), 3);
    }

    /// Epoch records without their wall times, to compare two runs.
    fn strip(h: &[EpochRecord]) -> Vec<EpochRecord> {
        h.iter()
            .map(|r| EpochRecord {
                seconds: 0.0,
                ..r.clone()
            })
            .collect()
    }

    /// A run killed after its second epoch whose last checkpoint was then cut short resumes
    /// from the previous one (the first epoch's) and ends with the uninterrupted run's numbers.
    #[test]
    fn truncated_last_checkpoint_resumes_from_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let (mut net, mut t, data) = setup(3, 3e-3);
        let full = t
            .fit(&mut net, &data.train, Some(&data.test))
            .unwrap()
            .history;
        let (mut net, t, _) = setup(3, 3e-3);
        let mut t = t.with_output(dir.path()).with_hook(Box::new(Kill(2)));
        assert!(t.fit(&mut net, &data.train, Some(&data.test)).is_err());
        let last = dir.path().join("checkpoints/last.safetensors");
        let previous = dir.path().join("checkpoints/previous.safetensors");
        assert_eq!(checkpoint::load(&previous).unwrap().meta.unwrap().epoch, 1);
        let bytes = std::fs::read(&last).unwrap();
        std::fs::write(&last, &bytes[..bytes.len() - 100]).unwrap();
        let (mut net, t, _) = setup(3, 3e-3);
        let mut t = t.with_output(dir.path());
        t.resume_from(&mut net, &last).unwrap();
        assert_eq!(t.history().len(), 1);
        let resumed = t
            .fit(&mut net, &data.train, Some(&data.test))
            .unwrap()
            .history;
        assert_eq!(strip(&full), strip(&resumed));
        // The rewritten last checkpoint is whole again, and the run's third epoch is in it.
        assert_eq!(checkpoint::load(&last).unwrap().meta.unwrap().epoch, 3);
    }

    #[test]
    fn checkpoint_of_another_architecture_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let (mut net, t, data) = setup(1, 3e-3);
        let mut t = t.with_output(dir.path());
        t.fit(&mut net, &data.train, None).unwrap();
        let other = zoo::mlp(&data.train.sample_shape, &[32], 10, 0.0);
        let mut other = Network::new(other, 0, &Device::flex()).unwrap();
        let (_, mut t2, _) = setup(1, 3e-3);
        let err = t2
            .resume_from(&mut other, &dir.path().join("checkpoints/last.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("last.safetensors") && err.contains("backbone.1.weight"),
            "{err}"
        );
    }

    /// A loss term that diverges at a given iteration, like an adversarial discriminator can.
    struct Diverge(usize);
    impl LossTerm for Diverge {
        fn name(&self) -> &str {
            "diverge"
        }
        fn loss(&mut self, _net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
            let v = if step.iteration >= self.0 {
                f32::NAN
            } else {
                0.0
            };
            Ok(step.logits.clone().sum().mul_scalar(0.0).add_scalar(v))
        }
    }

    #[test]
    fn diverging_loss_stops_with_a_message_and_keeps_the_last_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (mut net, t, data) = setup(3, 1e-3);
        let per_epoch = data.train.len().div_ceil(32);
        let mut t = t
            .with_output(dir.path())
            .with_term(Box::new(Diverge(per_epoch + 3)));
        let err = t.fit(&mut net, &data.train, None).unwrap_err().to_string();
        let step = per_epoch + 4;
        assert!(
            err.contains(&format!(
                "loss became NaN (loss term `diverge` gave NaN) at step {step} (epoch 2)"
            )),
            "{err}"
        );
        assert!(
            err.contains("lower the weight of loss term `diverge`"),
            "{err}"
        );
        assert!(err.contains("lower train.clip_grad_norm (now 5)"), "{err}");
        assert!(err.contains("last.safetensors"), "{err}");
        // Without an output folder no checkpoint exists, and none is named.
        let (mut net, t, data) = setup(3, 1e-3);
        let mut t = t.with_term(Box::new(Diverge(2)));
        let err = t.fit(&mut net, &data.train, None).unwrap_err().to_string();
        assert!(err.contains("at step 3 (epoch 1)"), "{err}");
        assert!(!err.contains("checkpoint"), "{err}");
        let ck = checkpoint::load(&dir.path().join("checkpoints/last.safetensors")).unwrap();
        assert_eq!(ck.meta.unwrap().epoch, 1);
        assert!(
            ck.model
                .values()
                .all(|(_, v)| v.iter().all(|x| x.is_finite()))
        );
    }

    /// A loss term whose value is 0 but whose gradient for one parameter is NaN from a given
    /// iteration on: the derivative of √(0·w) is ∞·0.
    struct NanGradient {
        path: String,
        from: usize,
    }
    impl LossTerm for NanGradient {
        fn name(&self) -> &str {
            "nan_gradient"
        }
        fn loss(&mut self, net: &mut Network, step: &mut StepContext<'_>) -> Result<Tensor<1>> {
            let w = net.slot(&self.path).unwrap().value.clone().mul_scalar(0.0);
            Ok(if step.iteration >= self.from {
                w.sqrt().sum()
            } else {
                w.sum()
            })
        }
    }

    #[test]
    fn a_non_finite_gradient_names_its_parameter_and_stops_before_the_update() {
        let (mut net, t, data) = setup(1, 1e-3);
        let paths = net.trainable_paths();
        let head = paths.last().unwrap().clone();
        let mut t = t.with_term(Box::new(NanGradient {
            path: head.clone(),
            from: 4,
        }));
        let err = t.fit(&mut net, &data.train, None).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "the gradient of parameter `{head}` became NaN at step 5 (epoch 1), with a finite loss of "
            )),
            "{err}"
        );
        assert!(
            err.contains("stopped before the update")
                && err.contains("lower train.optimizer.lr")
                && !err.contains("checkpoint"),
            "{err}"
        );
        let w = backend::to_vec(&net.slot(&head).unwrap().value);
        assert!(w.iter().all(|v| v.is_finite()));
        // At the first step the advice is about the data and the starting weights.
        let (mut net, t, data) = setup(1, 1e-3);
        let first = net.trainable_paths()[0].clone();
        let mut t = t.with_term(Box::new(NanGradient {
            path: first.clone(),
            from: 0,
        }));
        let err = t.fit(&mut net, &data.train, None).unwrap_err().to_string();
        assert!(
            err.contains(&format!("`{first}` became NaN at step 1"))
                && err.contains("the gradient was not finite at the first step"),
            "{err}"
        );
    }

    #[test]
    fn a_loss_blown_up_by_the_updates_says_where_the_weights_stand() {
        let (mut net, mut t, data) = setup(1, 1e30);
        let err = t.fit(&mut net, &data.train, None).unwrap_err().to_string();
        assert!(
            err.starts_with("loss became")
                && err.contains("at step 2 (epoch 1), with every parameter finite (the largest magnitude 1.000e30, in `"),
            "{err}"
        );
    }

    #[test]
    fn companion_batches_cycle_through_every_sample_and_depend_only_on_the_iteration() {
        let (n, b) = (10, 4);
        let first: Vec<usize> = (0..5)
            .flat_map(|it| companion_indices(n, 7, it, b, b))
            .collect();
        // 20 draws = two full cycles, each a permutation of 0..10.
        for cycle in first.chunks(n) {
            let mut c = cycle.to_vec();
            c.sort();
            assert_eq!(c, (0..n).collect::<Vec<_>>());
        }
        assert_ne!(first[..n], first[n..]);
        assert_eq!(companion_indices(n, 7, 3, b, b), first[12..16]);
        assert_ne!(companion_indices(n, 8, 3, b, b), first[12..16]);
        // A short last batch takes the first `count` of its slot.
        assert_eq!(companion_indices(n, 7, 3, b, 2), first[12..14]);
    }

    #[test]
    fn wrong_input_shape_names_the_fix() {
        let (mut net, mut t, data) = setup(1, 1e-3);
        let flat = crate::data::transform::flatten(&data.train).unwrap();
        let err = t.fit(&mut net, &flat, None).unwrap_err().to_string();
        assert!(
            err.contains("input_shape is 1×8×8") && err.contains("transform"),
            "{err}"
        );
    }
    /// Two heads on a shared trunk (linear, batch norm, tanh): `digit` (cross-entropy on the
    /// labels) and `size` (MSE on a real target, weight 0.5).
    fn two_head_net() -> (Network, Dataset) {
        let spec = NetworkSpec::from_toml(
            r#"
            input_shape = [3]
            [[layers]]
            name = "shared"
            type = "linear"
            out_features = 4
            [[layers]]
            name = "bn"
            type = "batch_norm"
            [[layers]]
            name = "act"
            type = "tanh"
            [[heads]]
            name = "cls"
            from = "act"
            [[heads.layers]]
            type = "linear"
            out_features = 3
            [[heads]]
            name = "reg"
            from = "act"
            [[heads.layers]]
            type = "linear"
            out_features = 1
            "#,
            Path::new("two-heads.toml"),
        )
        .unwrap();
        let d = Device::flex();
        let mut net = Network::new(spec, 0, &d).unwrap();
        let ramp = |n: usize, scale: f32, offset: f32| -> Vec<f32> {
            (0..n).map(|i| i as f32 * scale + offset).collect()
        };
        for (path, values) in [
            ("shared.weight", ramp(12, 0.1, -0.5)),
            ("shared.bias", vec![0.1, -0.1, 0.2, -0.2]),
            ("heads.cls.0.weight", ramp(12, -0.05, 0.3)),
            ("heads.cls.0.bias", vec![0.0, 0.1, -0.1]),
            ("heads.reg.0.weight", vec![0.4, -0.3, 0.2, -0.1]),
            ("heads.reg.0.bias", vec![0.05]),
        ] {
            let n = values.len();
            net.set_values(path, backend::tensor(values, [n], &d))
                .unwrap();
        }
        let x = vec![
            0.5, -1.0, 2.0, 1.5, 0.0, -0.5, -1.0, 1.0, 0.5, 0.0, 2.0, 1.0,
        ];
        let data = Dataset::new("toy/train", vec![3], x, vec![0, 2, 1, 2], 3)
            .unwrap()
            .with_target(
                "size",
                crate::data::Target::Values {
                    values: vec![0.5, -1.0, 2.0, 0.0],
                    width: 1,
                },
            )
            .unwrap();
        (net, data)
    }

    fn two_tasks() -> Vec<Task> {
        let toml = r#"
            [[tasks]]
            name = "digit"
            head = "cls"
            [[tasks]]
            name = "size"
            head = "reg"
            target = "size"
            loss = "mse"
            weight = 0.5
        "#;
        #[derive(Deserialize)]
        struct T {
            tasks: Vec<Task>,
        }
        toml::from_str::<T>(toml).unwrap().tasks
    }

    /// Sums the task gradients like the default, keeping a copy of what it was given.
    type Seen = std::rc::Rc<std::cell::RefCell<Vec<(Vec<String>, Vec<Grads>)>>>;
    struct Record(Seen);
    impl GradientStrategy for Record {
        fn name(&self) -> &str {
            "record"
        }
        fn combine(
            &mut self,
            step: &crate::train::WeightingStep<'_>,
            grads: Vec<Grads>,
        ) -> Result<crate::train::Combined> {
            self.0
                .borrow_mut()
                .push((step.tasks.to_vec(), grads.clone()));
            Ok(crate::train::Combined {
                weights: vec![1.0; grads.len()],
                grads: crate::train::sum_grads(grads),
            })
        }
    }

    /// Per-task gradients on the shared parameters equal separate backward passes. Golden
    /// values from PyTorch 2.15 (each task's own forward and backward, as the trainer does):
    /// ```python
    /// import torch, torch.nn as nn, torch.nn.functional as F
    /// x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5], [-1.0, 1.0, 0.5], [0.0, 2.0, 1.0]])
    /// y = torch.tensor([0, 2, 1, 2])
    /// v = torch.tensor([[0.5], [-1.0], [2.0], [0.0]])
    /// shared = nn.Linear(3, 4); bn = nn.BatchNorm1d(4); cls = nn.Linear(4, 3); reg = nn.Linear(4, 1)
    /// with torch.no_grad():
    ///     shared.weight.copy_(torch.arange(12.0).reshape(4, 3) * 0.1 - 0.5)
    ///     shared.bias.copy_(torch.tensor([0.1, -0.1, 0.2, -0.2]))
    ///     cls.weight.copy_(torch.arange(12.0).reshape(3, 4) * -0.05 + 0.3)
    ///     cls.bias.copy_(torch.tensor([0.0, 0.1, -0.1]))
    ///     reg.weight.copy_(torch.tensor([[0.4, -0.3, 0.2, -0.1]]))
    ///     reg.bias.copy_(torch.tensor([0.05]))
    /// def grads_of(task):
    ///     for p in [*shared.parameters(), *bn.parameters(), *cls.parameters(), *reg.parameters()]:
    ///         p.grad = None
    ///     h = torch.tanh(bn(shared(x)))
    ///     loss = F.cross_entropy(cls(h), y) if task == "digit" else 0.5 * F.mse_loss(reg(h), v)
    ///     loss.backward()
    ///     return shared.weight.grad.flatten().tolist(), bn.weight.grad.tolist()
    /// for t in ["digit", "size"]:
    ///     print(t, *grads_of(t))
    /// ```
    #[test]
    fn per_task_gradients_on_the_shared_trunk_match_pytorch() {
        let golden: [(&str, [f32; 12], [f32; 4]); 2] = [
            (
                "digit",
                [
                    0.0539115, 0.110718, -0.23747, -0.2663055, 0.5328143, -0.0849703, -0.0441443,
                    0.285154, -0.1753928, 0.0032986, 0.1376882, -0.11694,
                ],
                [-0.0277512, -0.0508406, -0.0096425, -0.011613],
            ),
            (
                "size",
                [
                    0.4210822, -0.1508079, -0.5007064, -0.0457047, 0.0910439, 0.0438142, 0.4439371,
                    -0.0794185, -0.0950312, -0.0924603, 0.0132089, 0.0506324,
                ],
                [-0.0854902, 0.0914054, 0.0045101, -0.0061084],
            ),
        ];
        let seen = std::rc::Rc::new(std::cell::RefCell::new(vec![]));
        let (mut net, data) = two_head_net();
        let cfg = TrainConfig::new(1, 4, OptimizerConfig::sgd(0.1, 0.0));
        let mut t = Trainer::new(cfg.clone(), &net, 0)
            .unwrap()
            .with_tasks(two_tasks())
            .with_gradient_strategy(Box::new(Record(seen.clone())));
        let with_strategy = t.fit(&mut net, &data, None).unwrap().history;
        let seen = seen.borrow();
        let (names, grads) = &seen[0];
        assert_eq!(names, &["digit", "size"]);
        assert_eq!(
            crate::train::shared_paths(grads),
            ["bn.bias", "bn.weight", "shared.bias", "shared.weight"]
        );
        assert!(grads[0].contains_key("heads.cls.0.weight"));
        assert!(!grads[1].contains_key("heads.cls.0.weight"));
        for ((name, w, g), task) in golden.iter().zip(grads) {
            for (path, want) in [("shared.weight", &w[..]), ("bn.weight", &g[..])] {
                let got = backend::to_vec(&task[path]);
                for (a, b) in got.iter().zip(want) {
                    assert!((a - b).abs() < 1e-5, "{name} {path}: {got:?} vs {want:?}");
                }
            }
        }
        // Batch norm counted the step once although the batch went forward twice.
        let count = backend::to_vec(&net.slot("bn.num_batches_tracked").unwrap().value);
        assert_eq!(count, [1.0]);
        // Summed task by task, the update equals the default single backward of the sum.
        let (mut net2, _) = two_head_net();
        let mut t2 = Trainer::new(cfg, &net2, 0).unwrap().with_tasks(two_tasks());
        let joint = t2.fit(&mut net2, &data, None).unwrap().history;
        for (p, s) in net.slots() {
            let (a, b) = (
                backend::to_vec(&s.value),
                backend::to_vec(&net2.slot(p).unwrap().value),
            );
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-6, "{p}: {a:?} vs {b:?}");
            }
        }
        assert!((with_strategy[0].train_loss - joint[0].train_loss).abs() < 1e-6);
        let size = &joint[0].tasks["size"];
        assert_eq!(size.metric, "mse");
        assert!(
            (size.train_loss - size.train_metric).abs() < 1e-6,
            "{size:?}"
        );
    }

    /// Keeps each step's representation gradients; sums the task gradients.
    struct RecordRepresentation(std::rc::Rc<std::cell::RefCell<Vec<Vec<f32>>>>);
    impl GradientStrategy for RecordRepresentation {
        fn name(&self) -> &str {
            "record-representation"
        }
        fn needs_representation(&self) -> bool {
            true
        }
        fn combine(
            &mut self,
            step: &crate::train::WeightingStep<'_>,
            grads: Vec<Grads>,
        ) -> Result<crate::train::Combined> {
            let mut seen = self.0.borrow_mut();
            seen.extend(step.representation.iter().map(backend::to_vec));
            Ok(crate::train::Combined {
                weights: vec![1.0; grads.len()],
                grads: crate::train::sum_grads(grads),
            })
        }
    }

    /// Each task's gradient on the shared representation (the `act` layer both heads branch
    /// from), as PyTorch's `retain_grad` gives it; same network and batch as above:
    /// ```python
    /// # (the setup of `per_task_gradients_on_the_shared_trunk_match_pytorch`)
    /// for task in ["digit", "size"]:
    ///     h = torch.tanh(bn(shared(x)))
    ///     h.retain_grad()
    ///     loss = F.cross_entropy(cls(h), y) if task == "digit" else 0.5 * F.mse_loss(reg(h), v)
    ///     loss.backward()
    ///     print(task, h.grad.flatten().tolist())
    /// ```
    #[test]
    fn representation_gradients_match_pytorch() {
        let golden: [[f32; 16]; 2] = [
            [
                -0.039841, -0.039841, -0.039841, -0.039841, 0.0355477, 0.0355477, 0.0355477,
                0.0355477, 0.0059809, 0.0059809, 0.0059809, 0.0059809, 0.0536791, 0.0536791,
                0.0536791, 0.0536791,
            ],
            [
                -0.0459086, 0.0344314, -0.0229543, 0.0114771, 0.1152463, -0.0864347, 0.0576231,
                -0.0288116, -0.1866882, 0.1400162, -0.0933441, 0.0466721, -0.0057606, 0.0043204,
                -0.0028803, 0.0014401,
            ],
        ];
        let seen = std::rc::Rc::new(std::cell::RefCell::new(vec![]));
        let (mut net, data) = two_head_net();
        let cfg = TrainConfig::new(1, 4, OptimizerConfig::sgd(0.1, 0.0));
        let mut t = Trainer::new(cfg.clone(), &net, 0)
            .unwrap()
            .with_tasks(two_tasks())
            .with_gradient_strategy(Box::new(RecordRepresentation(seen.clone())));
        t.fit(&mut net, &data, None).unwrap();
        let seen = seen.borrow();
        assert_eq!(seen.len(), 2);
        // The step's batch is the epoch's shuffled order: row r is sample order[r].
        let order = batch::epoch_order(4, 0, 0, true);
        for (got, want) in seen.iter().zip(&golden) {
            for (r, &i) in order.iter().enumerate() {
                for f in 0..4 {
                    let (a, b) = (got[r * 4 + f], want[i * 4 + f]);
                    assert!(
                        (a - b).abs() < 1e-5,
                        "{got:?} vs {want:?} in order {order:?}"
                    );
                }
            }
        }
        // A task without a head (the trunk's output) has no shared representation.
        let (mut net, data) = two_head_net();
        let mut tasks = two_tasks();
        tasks[0].head = None;
        let err = Trainer::new(cfg, &net, 0)
            .unwrap()
            .with_tasks(tasks)
            .with_gradient_strategy(Box::new(RecordRepresentation(Default::default())))
            .fit(&mut net, &data, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`record-representation`") && err.contains("branches from one layer"),
            "{err}"
        );
    }

    /// The optdigits images with their digit and the digit's parity, on an MLP with a
    /// `parity` head branching from the trunk's hidden layer (added by surgery).
    fn digits_with_parity() -> (Network, crate::data::Split) {
        let parity = |d: Dataset| {
            d.with_mapped_target("parity", LABEL_TARGET, &[0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
                .unwrap()
        };
        let data = optdigits_embedded().unwrap();
        let data = crate::data::Split {
            train: parity(data.train),
            test: parity(data.test),
        };
        let net = Network::new(
            zoo::mlp(&data.train.sample_shape, &[64], 10, 0.0),
            7,
            &Device::flex(),
        )
        .unwrap();
        let head = crate::nn::HeadSpec {
            name: "parity".into(),
            from: "backbone".into(),
            layers: vec![crate::nn::Node::anon(crate::nn::LayerSpec::Linear {
                in_features: None,
                out_features: 2,
                bias: true,
            })],
        };
        let (net, _) = net
            .surgery(&[crate::nn::Edit::AddHead { head }], 7)
            .unwrap();
        (net, data)
    }

    #[test]
    fn two_heads_learn_digit_and_parity_with_per_task_records() {
        let dir = tempfile::tempdir().unwrap();
        let (mut net, data) = digits_with_parity();
        let mut tasks = two_tasks();
        tasks[0].head = None;
        tasks[1] = Task {
            name: "parity".into(),
            head: Some("parity".into()),
            target: "parity".into(),
            loss: crate::train::Loss::Focal {
                gamma: 2.0,
                alpha: None,
            },
            metric: None,
            weight: 1.0,
        };
        let cfg = TrainConfig::new(6, 32, OptimizerConfig::adam(3e-3));
        let mut t = Trainer::new(cfg, &net, 7)
            .unwrap()
            .with_tasks(tasks.clone())
            .with_output(dir.path());
        let h = t
            .fit(&mut net, &data.train, Some(&data.test))
            .unwrap()
            .history;
        let last = h.last().unwrap();
        let (digit, parity) = (&last.tasks["digit"], &last.tasks["parity"]);
        assert!(digit.valid_metric.unwrap() > 0.9, "{last:?}");
        assert!(parity.valid_metric.unwrap() > 0.85, "{last:?}");
        assert_eq!(last.valid_accuracy, digit.valid_metric);
        assert!(h[0].tasks["parity"].train_loss > parity.train_loss);
        let e = evaluate_tasks(&mut net, &data.test, &tasks, 256).unwrap();
        assert_eq!(e[1].value, parity.valid_metric.unwrap());
        let line = std::fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
        assert!(
            line.contains("\"parity\":{\"metric\":\"accuracy\""),
            "{line}"
        );
        // A task naming a head or target that does not exist is an error before training.
        let mut bad = tasks.clone();
        bad[1].target = "colour".into();
        let cfg = TrainConfig::new(1, 32, OptimizerConfig::adam(3e-3));
        let err = Trainer::new(cfg, &net, 7)
            .unwrap()
            .with_tasks(bad)
            .fit(&mut net, &data.train, None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("task `parity`") && err.contains("no target `colour`"),
            "{err}"
        );
    }

    #[test]
    fn autoencoder_trains_on_unlabeled_digits() {
        let data = optdigits_embedded().unwrap();
        let unlabeled = |mut d: Dataset| {
            d.y.clear();
            d
        };
        let (train, test) = (unlabeled(data.train), unlabeled(data.test));
        let spec = NetworkSpec::from_toml(
            r#"
            input_shape = [1, 8, 8]
            [[layers]]
            type = "flatten"
            [[layers]]
            name = "code"
            type = "linear"
            out_features = 12
            [[layers]]
            type = "relu"
            [[layers]]
            name = "decoder"
            type = "linear"
            out_features = 64
            "#,
            Path::new("autoencoder.toml"),
        )
        .unwrap();
        let mut net = Network::new(spec, 3, &Device::flex()).unwrap();
        let tasks = vec![Task::reconstruct("reconstruction", None)];
        let before = evaluate_tasks(&mut net, &test, &tasks, 256).unwrap()[0].value;
        let cfg = TrainConfig::new(3, 32, OptimizerConfig::adam(3e-3));
        let mut t = Trainer::new(cfg.clone(), &net, 3)
            .unwrap()
            .with_tasks(tasks.clone());
        let h = t.fit(&mut net, &train, Some(&test)).unwrap().history;
        let after = h.last().unwrap().tasks["reconstruction"]
            .valid_metric
            .unwrap();
        assert!(after < 0.5 * before, "test MSE {before} -> {after}");
        assert!(h[0].train_loss > h[2].train_loss, "{h:?}");
        assert_eq!(h[2].valid_accuracy, None);
        // Without a task that needs no labels, unlabeled data is still refused.
        let err = Trainer::new(cfg, &net, 3)
            .unwrap()
            .fit(&mut net, &train, None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no labels"), "{err}");
    }
}
