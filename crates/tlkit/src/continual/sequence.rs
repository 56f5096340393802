//! One seed's pass through the stream: every task trained in order through the trainer (or,
//! for a progressive network, a column per task), the accuracy matrix filled in after each.

use std::cell::RefCell;
use std::rc::Rc;

use super::ContinualConfig;
use super::method::TaskContext;
use super::metrics::AccuracyMatrix;
use super::pnn::{ColumnArch, EpochCallback, Progressive};
use super::stream::{ScenarioView, concat};
use crate::backend::Device;
use crate::config::ModelConfig;
use crate::data::Dataset;
use crate::nn::{Network, NetworkSpec};
use crate::study::Cell;
use crate::train::{EpochRecord, Hook, Trainer, evaluate_groups};
use crate::{Error, Result};

/// The column architecture of a progressive network: an `mlp` or `conv` model's layers.
pub(crate) fn column(
    model: &ModelConfig,
    input_shape: &[usize],
    outputs: usize,
) -> Result<ColumnArch> {
    match model {
        ModelConfig::Mlp { hidden, dropout } => {
            if *dropout > 0.0 {
                return Err(Error::Spec(
                    "model.dropout is not supported by method pnn; set it to 0".into(),
                ));
            }
            Ok(ColumnArch::mlp(input_shape, hidden, outputs))
        }
        ModelConfig::Conv { channels, hidden } => {
            Ok(ColumnArch::conv(input_shape, channels, hidden, outputs))
        }
        _ => Err(Error::Spec(
            "method pnn builds its columns from model arch = \"mlp\" or \"conv\"".into(),
        )),
    }
}

/// Per task, the accuracy on its test set after every epoch (over the whole stream).
pub(crate) type Curves = Rc<RefCell<Vec<Vec<f64>>>>;

/// Evaluates every task after every epoch.
struct CurveHook {
    view: Rc<ScenarioView>,
    curves: Curves,
    batch: usize,
}

impl Hook for CurveHook {
    fn on_epoch_end(&mut self, net: &mut Network, _r: &EpochRecord) -> Result<()> {
        let row = eval_all(net, &self.view, self.batch)?;
        let mut c = self.curves.borrow_mut();
        for (j, a) in row.into_iter().enumerate() {
            c[j].push(a);
        }
        Ok(())
    }
}

fn eval_all(net: &mut Network, view: &ScenarioView, batch: usize) -> Result<Vec<f64>> {
    let groups = view.eval_groups();
    view.data
        .iter()
        .map(|(_, test)| Ok(evaluate_groups(net, test, batch, groups.as_deref())?.accuracy))
        .collect()
}

/// Trains one seed of a method that is a network plus trainer extensions.
pub(crate) fn run_network(
    cfg: &ContinualConfig,
    view: &Rc<ScenarioView>,
    seed: u64,
    device: &Device,
    spec: &NetworkSpec,
    cell: &Cell,
    curves: Option<&Curves>,
) -> Result<(AccuracyMatrix, Network)> {
    let mut net = Network::new(spec.clone(), seed, device)?;
    let bs = cfg.train.eval_batch_size;
    let baseline = eval_all(&mut net, view, bs)?;
    let mut method = cfg.method.build()?;
    let mut r = vec![];
    let tasks = view.len();
    let plan: Vec<usize> = if method.is_joint() {
        vec![tasks - 1]
    } else {
        (0..tasks).collect()
    };
    for t in plan {
        let ctx = TaskContext {
            task: t,
            view,
            seed,
        };
        let train: Dataset = if method.is_joint() {
            let parts: Vec<&Dataset> = view.data.iter().map(|(tr, _)| tr).collect();
            concat(&parts, "all tasks")?
        } else {
            method.train_set(&ctx)?
        };
        let mut trainer =
            Trainer::new(cfg.train.clone(), &net, seed.wrapping_mul(1000) + t as u64)?;
        if let Some(g) = view.train_groups(t) {
            trainer = trainer.with_label_groups(g);
        }
        for term in method.terms(&net, &ctx)? {
            trainer = trainer.with_term(term);
        }
        if let Some(c) = curves {
            trainer = trainer.with_hook(Box::new(CurveHook {
                view: view.clone(),
                curves: c.clone(),
                batch: bs,
            }));
        }
        // A task an earlier session finished or was killed in continues from its checkpoint
        // (a finished one trains no further); the method's consolidation after it is
        // recomputed from the restored network.
        let mut trainer = cell.part(&format!("task{t}")).attach(trainer, &mut net)?;
        trainer.fit(&mut net, &train, None)?;
        method.after_task(&net, &ctx)?;
        r.push(eval_all(&mut net, view, bs)?);
    }
    Ok((AccuracyMatrix { r, baseline }, net))
}

/// Trains one seed of a progressive network, a column per task, each through the trainer in
/// the cell's `task<t>` folder (so a killed run continues where it stopped). R[i][j] for
/// j ≤ i uses column j; for j > i (forward transfer) the newest column, whose units of task j
/// are untrained.
pub(crate) fn run_pnn(
    cfg: &ContinualConfig,
    view: &Rc<ScenarioView>,
    seed: u64,
    device: &Device,
    cell: &Cell,
    curves: Option<&Curves>,
) -> Result<(AccuracyMatrix, Progressive)> {
    let input = &view.data[0].0.sample_shape;
    let mut p = Progressive::new(column(&cfg.model, input, view.outputs)?, device)?;
    let bs = cfg.train.eval_batch_size;
    let eval = move |p: &mut Progressive, view: &ScenarioView, newest: usize| -> Result<Vec<f64>> {
        (0..view.len())
            .map(|j| p.accuracy(j.min(newest), &view.data[j].1, &view.heads, bs))
            .collect()
    };
    p.add_column(seed)?;
    let baseline = eval(&mut p, view, 0)?;
    let mut r = vec![];
    for t in 0..view.len() {
        if t > 0 {
            p.add_column(seed.wrapping_mul(1000) + t as u64)?;
        }
        let on_epoch = curves.map(|c| {
            let (view, c) = (view.clone(), c.clone());
            Box::new(move |p: &mut Progressive| {
                let row = eval(p, &view, t)?;
                let mut c = c.borrow_mut();
                for (j, a) in row.into_iter().enumerate() {
                    c[j].push(a);
                }
                Ok(())
            }) as EpochCallback
        });
        let (mut net, laterals) = p.take_last(on_epoch)?;
        let trainer = Trainer::new(cfg.train.clone(), &net, seed.wrapping_mul(1000) + t as u64)?
            .with_label_groups(view.heads.clone())
            .with_term(Box::new(laterals));
        let mut trainer = cell.part(&format!("task{t}")).attach(trainer, &mut net)?;
        trainer.fit(&mut net, &view.data[t].0, None)?;
        p.put_last(net, &trainer.module_state())?;
        r.push(eval(&mut p, view, t)?);
    }
    Ok((AccuracyMatrix { r, baseline }, p))
}
