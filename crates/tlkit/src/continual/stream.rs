//! Task streams and the three continual-learning scenarios.
//!
//! A stream is a sequence of [`Task`]s, each a train/test pair whose labels live in one
//! *global* label space: tasks drawn from the same dataset (and the same pixel permutation)
//! share labels, every other source gets its own block of labels after the ones before it.
//! Split MNIST therefore has the digits 0–9 as labels; Permuted MNIST with 10 tasks has
//! `10·t + digit`.
//!
//! The scenarios follow van de Ven & Tolias, "Three scenarios for continual learning"
//! (NeurIPS 2018 workshop, <https://arxiv.org/abs/1904.07734>), implemented the way Hsu et al.,
//! "Re-evaluating Continual Learning Scenarios" (2018, <https://arxiv.org/abs/1810.12488>) do:
//! - **task-incremental**: one output layer over all global labels, used as a multi-head
//!   classifier: each sample's loss and prediction are restricted to the units of its task's
//!   classes (the task label is known in training and at test time);
//! - **domain-incremental**: labels are renumbered within each task (Split MNIST: even/odd →
//!   0/1), one shared head of as many units as a task has classes, no task label;
//! - **class-incremental**: one head over all global labels; training on task `t` restricts
//!   the loss to the classes seen so far (Hsu et al.'s `valid_out_dim`); testing uses all units.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{self, Dataset, Transform, batch};
use crate::{Error, Result};

/// Which continual-learning scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Task-incremental: the task label is given (multi-head).
    #[default]
    Task,
    /// Domain-incremental: same label set in every task, no task label.
    Domain,
    /// Class-incremental: one growing label set, no task label.
    Class,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::Task, Scenario::Domain, Scenario::Class];

    /// The scenario named `s` (`task`, `domain`, `class`), as on the command line.
    pub fn parse(s: &str) -> Result<Self> {
        crate::config::parse_name(s, &Self::ALL, Self::as_str, "scenario")
    }

    /// The scenario's name as written in configs.
    pub fn as_str(self) -> &'static str {
        match self {
            Scenario::Task => "task",
            Scenario::Domain => "domain",
            Scenario::Class => "class",
        }
    }
}

/// How the tasks of a stream are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKind {
    /// Class subsets of one dataset (`classes`; default: consecutive pairs 0/1, 2/3, …).
    Split,
    /// `tasks` copies of one dataset, each with its own fixed pixel permutation (the first
    /// task unpermuted).
    Permuted,
    /// Any sequence of datasets, class subsets and permutations (`sequence`).
    Sequence,
}

/// One task of a user-defined sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// A dataset name `tlkit data` knows (`mnist`, `fashion-mnist`, `optdigits-embedded`, …).
    pub dataset: String,
    /// Keep only these classes (the dataset's labels); default all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<u32>>,
    /// Permute the pixels with the permutation drawn from this seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permutation: Option<u64>,
    /// Transforms of this task's data (after the permutation, before the stream's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Transform>,
}

/// The `[stream]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    pub kind: StreamKind,
    /// The dataset of `split` and `permuted` streams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// `split`: the class subsets, one per task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<Vec<u32>>>,
    /// `permuted`: the number of tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<usize>,
    /// `permuted`: seed of the permutations (the same for every run seed).
    #[serde(default)]
    pub permutation_seed: u64,
    /// `sequence`: the tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sequence: Vec<TaskSpec>,
    /// Keep at most this many training samples of each task (a seeded random subset), as
    /// `train_limit` does for one dataset elsewhere (`train_per_task` is the old name).
    #[serde(
        default,
        alias = "train_per_task",
        skip_serializing_if = "Option::is_none"
    )]
    pub train_limit: Option<usize>,
    /// Keep at most this many test samples of each task (a seeded random subset;
    /// `test_per_task` is the old name).
    #[serde(
        default,
        alias = "test_per_task",
        skip_serializing_if = "Option::is_none"
    )]
    pub test_limit: Option<usize>,
    /// Transforms applied to every task (e.g. Hsu et al.'s `pad` 2 + `normalize`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Transform>,
}

impl StreamConfig {
    /// Split MNIST: five tasks of two digits.
    pub fn split(dataset: &str) -> Self {
        StreamConfig {
            kind: StreamKind::Split,
            dataset: Some(dataset.into()),
            classes: None,
            tasks: None,
            permutation_seed: 0,
            sequence: vec![],
            train_limit: None,
            test_limit: None,
            transforms: vec![],
        }
    }

    /// Permuted `dataset` with `tasks` tasks.
    pub fn permuted(dataset: &str, tasks: usize) -> Self {
        StreamConfig {
            kind: StreamKind::Permuted,
            tasks: Some(tasks),
            ..Self::split(dataset)
        }
    }

    /// The tasks this config describes, as a sequence.
    pub fn task_specs(
        &self,
        mut num_classes: impl FnMut(&str) -> Result<usize>,
    ) -> Result<Vec<TaskSpec>> {
        let field = |f: &str| {
            Error::Spec(
                format!("stream.{f} is required for kind = `{:?}`", self.kind).to_lowercase(),
            )
        };
        match self.kind {
            StreamKind::Split => {
                let d = self.dataset.clone().ok_or_else(|| field("dataset"))?;
                let classes = match &self.classes {
                    Some(c) => c.clone(),
                    None => {
                        let n = num_classes(&d)? as u32;
                        (0..n)
                            .step_by(2)
                            .map(|c| (c..(c + 2).min(n)).collect())
                            .collect()
                    }
                };
                Ok(classes
                    .into_iter()
                    .map(|c| TaskSpec {
                        dataset: d.clone(),
                        classes: Some(c),
                        permutation: None,
                        transforms: vec![],
                    })
                    .collect())
            }
            StreamKind::Permuted => {
                let d = self.dataset.clone().ok_or_else(|| field("dataset"))?;
                let n = self.tasks.ok_or_else(|| field("tasks"))?;
                Ok((0..n)
                    .map(|t| TaskSpec {
                        dataset: d.clone(),
                        classes: None,
                        permutation: (t > 0).then(|| {
                            self.permutation_seed
                                .wrapping_mul(1000)
                                .wrapping_add(t as u64)
                        }),
                        transforms: vec![],
                    })
                    .collect())
            }
            StreamKind::Sequence => Ok(self.sequence.clone()),
        }
    }
}

/// One task: its data with global labels and the global labels it uses.
#[derive(Debug, Clone)]
pub struct Task {
    pub name: String,
    pub train: Dataset,
    pub test: Dataset,
    /// The task's classes, in the global label space, ascending.
    pub classes: Vec<u32>,
}

/// A sequence of tasks sharing one input shape and one global label space.
#[derive(Debug, Clone)]
pub struct Stream {
    pub tasks: Vec<Task>,
    /// Size of the global label space.
    pub num_classes: usize,
}

/// A seeded permutation of `0..n`.
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    batch::epoch_order(n, seed, 0, true)
}

fn permute(ds: &Dataset, perm: &[usize]) -> Dataset {
    let w = ds.sample_width();
    let mut out = ds.clone();
    for (i, chunk) in out.x.chunks_mut(w).enumerate() {
        let src = ds.sample(i);
        for (o, &p) in chunk.iter_mut().zip(perm) {
            *o = src[p];
        }
    }
    out
}

fn limit(ds: Dataset, n: Option<usize>, seed: u64, name: String) -> Dataset {
    match n {
        Some(n) if n < ds.len() => {
            let mut idx = batch::epoch_order(ds.len(), seed, 0, true);
            idx.truncate(n);
            idx.sort_unstable();
            ds.subset(&idx, name)
        }
        _ => Dataset { name, ..ds },
    }
}

/// Builds a stream from task specs, loading datasets with `load` (by name). Checks, before any
/// training, that every task has samples in both parts and that all tasks share one input
/// shape.
pub fn build(
    specs: &[TaskSpec],
    train_per_task: Option<usize>,
    test_per_task: Option<usize>,
    transforms: &[Transform],
    mut load: impl FnMut(&str) -> Result<data::Split>,
) -> Result<Stream> {
    if specs.is_empty() {
        return Err(Error::Spec("the stream has no tasks".into()));
    }
    let mut cache: BTreeMap<String, data::Split> = BTreeMap::new();
    let mut offsets: BTreeMap<(String, Option<u64>), u32> = BTreeMap::new();
    let mut next = 0u32;
    let mut tasks: Vec<Task> = vec![];
    for (t, spec) in specs.iter().enumerate() {
        if !cache.contains_key(&spec.dataset) {
            cache.insert(spec.dataset.clone(), load(&spec.dataset)?);
        }
        let split = &cache[&spec.dataset];
        let k = split.train.num_classes as u32;
        let key = (spec.dataset.clone(), spec.permutation);
        let offset = *offsets.entry(key).or_insert_with(|| {
            next += k;
            next - k
        });
        let classes = spec.classes.clone().unwrap_or_else(|| (0..k).collect());
        if let Some(bad) = classes.iter().find(|&&c| c >= k) {
            return Err(Error::Spec(format!(
                "stream task {t}: class {bad} does not exist in `{}` ({k} classes)",
                spec.dataset
            )));
        }
        let label = match (&spec.classes, spec.permutation) {
            (Some(c), _) => format!("{}:{}", spec.dataset, fmt_classes(c)),
            (None, Some(p)) => format!("{}:perm{p}", spec.dataset),
            (None, None) => spec.dataset.clone(),
        };
        let name = format!("task{t}({label})");
        let mut parts = vec![];
        for (part, ds, lim) in [
            ("train", &split.train, train_per_task),
            ("test", &split.test, test_per_task),
        ] {
            let idx: Vec<usize> = (0..ds.len())
                .filter(|&i| classes.contains(&ds.y[i]))
                .collect();
            if idx.is_empty() {
                return Err(Error::Spec(format!(
                    "stream task {t} ({label}) is empty: `{}` has no {part} samples of classes {classes:?}",
                    spec.dataset
                )));
            }
            let mut sub = ds.subset(&idx, format!("{name}/{part}"));
            if let Some(p) = spec.permutation {
                sub = permute(&sub, &permutation(sub.sample_width(), p));
            }
            sub = Transform::apply_all(&spec.transforms, &sub)?;
            sub = Transform::apply_all(transforms, &sub)?;
            for y in &mut sub.y {
                *y += offset;
            }
            sub.task = name.clone();
            sub.class_names = None;
            parts.push(limit(sub, lim, t as u64 + 1, format!("{name}/{part}")));
        }
        let test = parts.pop().expect("two parts");
        let train = parts.pop().expect("two parts");
        if let Some(first) = tasks.first()
            && first.train.sample_shape != train.sample_shape
        {
            return Err(Error::Spec(format!(
                "stream tasks disagree on the input shape: task 0 ({}) has samples of {} but task {t} ({}) has {}; give every task the same shape",
                first.name,
                crate::nn::fmt_shape(&first.train.sample_shape),
                name,
                crate::nn::fmt_shape(&train.sample_shape)
            )));
        }
        let mut cl: Vec<u32> = classes.iter().map(|c| c + offset).collect();
        cl.sort_unstable();
        cl.dedup();
        tasks.push(Task {
            name,
            train,
            test,
            classes: cl,
        });
    }
    let num_classes = next as usize;
    for t in &mut tasks {
        t.train.num_classes = num_classes;
        t.test.num_classes = num_classes;
    }
    Ok(Stream { tasks, num_classes })
}

fn fmt_classes(c: &[u32]) -> String {
    c.iter().map(u32::to_string).collect::<Vec<_>>().join("-")
}

/// Loads the stream a config describes from the data cache.
pub fn load(cfg: &StreamConfig, cache: &Path) -> Result<Stream> {
    let mut loaded: BTreeMap<String, data::Split> = BTreeMap::new();
    let mut get = |name: &str| -> Result<data::Split> {
        if let Some(s) = loaded.get(name) {
            return Ok(s.clone());
        }
        let s = data::load_named(name, cache)?;
        loaded.insert(name.into(), s.clone());
        Ok(s)
    };
    let specs = cfg.task_specs(|n| Ok(get(n)?.train.num_classes))?;
    build(
        &specs,
        cfg.train_limit,
        cfg.test_limit,
        &cfg.transforms,
        get,
    )
}

/// A stream as one scenario sees it: labels renumbered for the domain-incremental scenario,
/// the number of output units, and the label groups for training and testing.
#[derive(Debug, Clone)]
pub struct ScenarioView {
    pub scenario: Scenario,
    /// Per task: (train, test) with the scenario's labels.
    pub data: Vec<(Dataset, Dataset)>,
    /// Output units of the network.
    pub outputs: usize,
    /// Per task, the output units of that task (its head).
    pub heads: Vec<Vec<u32>>,
}

impl ScenarioView {
    /// Checks that the scenario can serve the stream and renumbers labels where it must.
    pub fn new(stream: &Stream, scenario: Scenario) -> Result<Self> {
        let tasks = &stream.tasks;
        match scenario {
            Scenario::Task => {
                for (i, a) in tasks.iter().enumerate() {
                    for b in &tasks[i + 1..] {
                        if let Some(c) = a.classes.iter().find(|c| b.classes.contains(c)) {
                            return Err(Error::Spec(format!(
                                "task-incremental learning needs tasks with disjoint classes, but {} and {} share class {c}; use scenario = \"domain\" or different class subsets",
                                a.name, b.name
                            )));
                        }
                    }
                }
                Ok(ScenarioView {
                    scenario,
                    data: tasks
                        .iter()
                        .map(|t| (t.train.clone(), t.test.clone()))
                        .collect(),
                    outputs: stream.num_classes,
                    heads: tasks.iter().map(|t| t.classes.clone()).collect(),
                })
            }
            Scenario::Class => Ok(ScenarioView {
                scenario,
                data: tasks
                    .iter()
                    .map(|t| (t.train.clone(), t.test.clone()))
                    .collect(),
                outputs: stream.num_classes,
                heads: tasks.iter().map(|t| t.classes.clone()).collect(),
            }),
            Scenario::Domain => {
                let k = tasks[0].classes.len();
                if let Some(t) = tasks.iter().find(|t| t.classes.len() != k) {
                    return Err(Error::Spec(format!(
                        "domain-incremental learning needs the same number of classes in every task, but {} has {k} and {} has {}",
                        tasks[0].name,
                        t.name,
                        t.classes.len()
                    )));
                }
                let renumber = |ds: &Dataset, classes: &[u32]| {
                    let mut d = ds.clone();
                    for y in &mut d.y {
                        *y = classes
                            .iter()
                            .position(|c| c == y)
                            .expect("label of the task") as u32;
                    }
                    d.num_classes = k;
                    d
                };
                Ok(ScenarioView {
                    scenario,
                    data: tasks
                        .iter()
                        .map(|t| {
                            (
                                renumber(&t.train, &t.classes),
                                renumber(&t.test, &t.classes),
                            )
                        })
                        .collect(),
                    outputs: k,
                    heads: vec![(0..k as u32).collect(); tasks.len()],
                })
            }
        }
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for a stream without tasks (never built by [`ScenarioView::new`]).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The label groups of training on task `t` (see `Trainer::with_label_groups`): every
    /// task's head (task-incremental, so that replayed samples use their own head), the
    /// classes seen so far (class-incremental), none (domain-incremental).
    pub fn train_groups(&self, t: usize) -> Option<Vec<Vec<u32>>> {
        match self.scenario {
            Scenario::Task => Some(self.heads.clone()),
            Scenario::Class => {
                let mut seen: Vec<u32> = self.heads[..=t].iter().flatten().copied().collect();
                seen.sort_unstable();
                seen.dedup();
                Some(vec![seen])
            }
            Scenario::Domain => None,
        }
    }

    /// The label groups at test time: the task's head when the task label is known
    /// (task-incremental), else none.
    pub fn eval_groups(&self) -> Option<Vec<Vec<u32>>> {
        match self.scenario {
            Scenario::Task => Some(self.heads.clone()),
            _ => None,
        }
    }
}

/// All samples of `parts` in one dataset (same shape; the largest label space).
pub fn concat(parts: &[&Dataset], name: &str) -> Result<Dataset> {
    let first = parts
        .first()
        .ok_or_else(|| Error::Spec("nothing to concatenate".into()))?;
    let mut out = Dataset {
        name: name.into(),
        x: vec![],
        y: vec![],
        targets: Default::default(),
        ..(*first).clone()
    };
    for p in parts {
        if p.sample_shape != out.sample_shape {
            return Err(Error::Spec(format!(
                "`{}` has samples of {} but `{}` has {}",
                p.name,
                crate::nn::fmt_shape(&p.sample_shape),
                first.name,
                crate::nn::fmt_shape(&first.sample_shape)
            )));
        }
        out.x.extend_from_slice(&p.x);
        out.y.extend_from_slice(&p.y);
        out.num_classes = out.num_classes.max(p.num_classes);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::optdigits_embedded;

    fn digits(_: &str) -> Result<data::Split> {
        optdigits_embedded()
    }

    #[test]
    fn split_stream_keeps_two_digits_per_task_with_global_labels() {
        let cfg = StreamConfig::split("optdigits-embedded");
        let specs = cfg.task_specs(|_| Ok(10)).unwrap();
        let s = build(&specs, None, None, &[], digits).unwrap();
        assert_eq!(s.tasks.len(), 5);
        assert_eq!(s.num_classes, 10);
        assert_eq!(s.tasks[2].classes, vec![4, 5]);
        assert!(s.tasks[2].train.y.iter().all(|&y| y == 4 || y == 5));
        let d = ScenarioView::new(&s, Scenario::Domain).unwrap();
        assert_eq!(d.outputs, 2);
        assert!(d.data[2].0.y.iter().all(|&y| y < 2));
        let c = ScenarioView::new(&s, Scenario::Class).unwrap();
        assert_eq!(c.train_groups(1), Some(vec![vec![0, 1, 2, 3]]));
        assert_eq!(c.eval_groups(), None);
    }

    #[test]
    fn permuted_stream_offsets_labels_and_permutes_pixels() {
        let cfg = StreamConfig::permuted("optdigits-embedded", 3);
        let s = build(
            &cfg.task_specs(|_| Ok(10)).unwrap(),
            None,
            Some(20),
            &[],
            digits,
        )
        .unwrap();
        assert_eq!(s.num_classes, 30);
        assert_eq!(s.tasks[1].classes, (10..20).collect::<Vec<_>>());
        assert_eq!(s.tasks[0].train.len(), 1438);
        assert_eq!(s.tasks[2].test.len(), 20);
        // Same samples, different pixel order: the sorted pixel values agree.
        let a = &s.tasks[0].train;
        let b = &s.tasks[1].train;
        assert_eq!(a.y.iter().map(|y| y + 10).collect::<Vec<_>>(), b.y);
        assert_ne!(a.sample(0), b.sample(0));
        let sorted = |v: &[f32]| {
            let mut v = v.to_vec();
            v.sort_by(f32::total_cmp);
            v
        };
        assert_eq!(sorted(a.sample(0)), sorted(b.sample(0)));
        let d = ScenarioView::new(&s, Scenario::Domain).unwrap();
        assert_eq!(d.outputs, 10);
        assert_eq!(d.data[1].0.y, a.y);
    }

    #[test]
    fn empty_task_and_mismatched_shapes_are_errors_before_training() {
        let specs = vec![TaskSpec {
            dataset: "x".into(),
            classes: Some(vec![]),
            permutation: None,
            transforms: vec![],
        }];
        let err = build(&specs, None, None, &[], digits)
            .unwrap_err()
            .to_string();
        assert!(err.contains("task 0") && err.contains("is empty"), "{err}");

        let flat = |name: &str| -> Result<data::Split> {
            let s = optdigits_embedded()?;
            if name == "flat" {
                Ok(data::Split {
                    train: data::transform::flatten(&s.train)?,
                    test: data::transform::flatten(&s.test)?,
                })
            } else {
                Ok(s)
            }
        };
        let specs = ["digits", "flat"].map(|d| TaskSpec {
            dataset: d.into(),
            classes: None,
            permutation: None,
            transforms: vec![],
        });
        let err = build(&specs, None, None, &[], flat)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("disagree on the input shape") && err.contains("task 1"),
            "{err}"
        );
    }

    #[test]
    fn stream_transforms_apply_to_every_task() {
        let cfg: StreamConfig = toml::from_str(
            "kind = \"split\"\ndataset = \"d\"\ntransforms = [{ op = \"pad\", pixels = 2 }]\n",
        )
        .unwrap();
        let specs = cfg.task_specs(|_| Ok(10)).unwrap();
        let s = build(&specs, None, Some(5), &cfg.transforms, digits).unwrap();
        for t in &s.tasks {
            assert_eq!(t.train.sample_shape, vec![1, 12, 12]);
            assert_eq!(t.test.sample_shape, vec![1, 12, 12]);
        }
    }

    #[test]
    fn scenarios_reject_streams_they_cannot_serve() {
        let specs = [vec![0, 1], vec![1, 2]].map(|c| TaskSpec {
            dataset: "d".into(),
            classes: Some(c),
            permutation: None,
            transforms: vec![],
        });
        let s = build(&specs, None, None, &[], digits).unwrap();
        let err = ScenarioView::new(&s, Scenario::Task)
            .unwrap_err()
            .to_string();
        assert!(err.contains("disjoint classes"), "{err}");
        let specs = [vec![0, 1], vec![2, 3, 4]].map(|c| TaskSpec {
            dataset: "d".into(),
            classes: Some(c),
            permutation: None,
            transforms: vec![],
        });
        let s = build(&specs, None, None, &[], digits).unwrap();
        let err = ScenarioView::new(&s, Scenario::Domain)
            .unwrap_err()
            .to_string();
        assert!(err.contains("same number of classes"), "{err}");
    }
}
