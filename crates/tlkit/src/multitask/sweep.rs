//! The branch sweep: one multi-task arm per method and branch point of the trunk, the trunk
//! shared up to the point and the rest copied into every head (the experiment Misra et al.
//! 2016 ran before proposing cross-stitch units, "Cross-stitch Networks for Multi-task
//! Learning", CVPR 2016, Figs. 2–3: which split is best depends on the tasks). Each point's
//! row gives each task's test metric and its gain over the task alone, and the number of
//! parameters the tasks share.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::config::MultitaskConfig;
use crate::backend::Device;
use crate::nn::branch::{INPUT, branch_after, branch_points, distinct_branch_points};
use crate::nn::spec::HEADS;
use crate::nn::{Network, NetworkSpec};
use crate::plot::{self, Series};
use crate::{Error, Result};

/// The arm name of `method` at branch point `point`.
pub fn arm_name(method: &str, point: &str) -> String {
    format!("{method}@{point}")
}

/// The sweep's branch points: the config's, or `input`, each point before a layer with
/// parameters, and the last.
pub fn points(cfg: &MultitaskConfig, spec: &NetworkSpec) -> Vec<String> {
    if cfg.branch_points.is_empty() {
        std::iter::once(INPUT.to_string())
            .chain(distinct_branch_points(spec))
            .collect()
    } else {
        cfg.branch_points.clone()
    }
}

/// The network of each branch point, in order; a point that is not a layer of the trunk is an
/// error naming the config field and the points there are.
pub fn specs(
    cfg: &MultitaskConfig,
    spec: &NetworkSpec,
    config: &Path,
) -> Result<Vec<(String, NetworkSpec)>> {
    let points = points(cfg, spec);
    if points.is_empty() {
        return Err(Error::Config {
            path: config.to_path_buf(),
            msg: format!(
                "branch_points is empty; name trunk layers from {}",
                branch_points(spec).join(", ")
            ),
        });
    }
    points
        .into_iter()
        .map(|p| {
            let s = branch_after(spec, &p).map_err(|e| Error::Config {
                path: config.to_path_buf(),
                msg: format!("branch_points: {e}"),
            })?;
            Ok((p, s))
        })
        .collect()
}

/// One task at one branch point.
#[derive(Debug, Clone, Serialize)]
pub struct BranchTask {
    pub task: String,
    pub mean: f64,
    pub std: f64,
    /// The mean minus the task's single-task mean (when the study has the single-task arm).
    pub gain: Option<f64>,
}

/// One row of the sweep: a method at a branch point.
#[derive(Debug, Clone, Serialize)]
pub struct BranchRow {
    pub arm: String,
    pub method: String,
    pub point: String,
    /// Parameters of the trunk (shared by every task) and of the whole network.
    pub shared_params: usize,
    pub params: usize,
    pub tasks: Vec<BranchTask>,
}

/// The rows of the sweep from each arm's per-task (mean, std) and the single-task means.
pub fn rows(
    cfg: &MultitaskConfig,
    specs: &[(String, NetworkSpec)],
    stats: &BTreeMap<(String, String), (f64, f64)>,
    single: &BTreeMap<String, f64>,
    device: &Device,
) -> Result<Vec<BranchRow>> {
    let mut out = vec![];
    for (point, spec) in specs {
        let net = Network::new(spec.clone(), 0, device)?;
        let params = net.num_params();
        let head_params: usize = net
            .slots()
            .filter(|(p, s)| p.starts_with(&format!("{HEADS}.")) && !s.role.is_buffer())
            .map(|(_, s)| s.shape.iter().product::<usize>())
            .sum();
        for m in &cfg.methods {
            let arm = arm_name(m, point);
            let tasks = cfg
                .tasks
                .iter()
                .filter_map(|t| {
                    let &(mean, std) = stats.get(&(arm.clone(), t.name.clone()))?;
                    Some(BranchTask {
                        task: t.name.clone(),
                        mean,
                        std,
                        gain: single.get(&t.name).map(|b| mean - b),
                    })
                })
                .collect();
            out.push(BranchRow {
                arm,
                method: m.clone(),
                point: point.clone(),
                shared_params: params - head_params,
                params,
                tasks,
            });
        }
    }
    Ok(out)
}

/// `plots/branch_sweep.png`: each task's mean test metric against the branch point (x = the
/// point's place in the sweep, named in the title), one line per method and task, and the
/// single-task level as a flat line.
pub fn draw(
    rows: &[BranchRow],
    single: &BTreeMap<String, f64>,
    metric: &str,
    plots: &Path,
) -> Result<()> {
    let mut points: Vec<&str> = vec![];
    for r in rows {
        if !points.contains(&r.point.as_str()) {
            points.push(&r.point);
        }
    }
    let x = |p: &str| points.iter().position(|q| *q == p).unwrap_or(0) as f64;
    let mut lines: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for r in rows {
        for t in &r.tasks {
            let line = lines.entry(format!("{} {}", r.method, t.task)).or_default();
            line.0.push(x(&r.point));
            line.1.push(t.mean);
        }
    }
    let last = points.len().saturating_sub(1) as f64;
    let mut series: Vec<Series> = lines
        .into_iter()
        .map(|(name, (xs, ys))| Series::new(name, xs, ys))
        .collect();
    for (task, &b) in single {
        series.push(Series::new(
            format!("single-task {task}"),
            vec![0.0, last],
            vec![b, b],
        ));
    }
    if series.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{i} = {p}"))
        .collect();
    plot::line_plot(
        &plots.join("branch_sweep.png"),
        &format!("test {metric} per branch point ({})", names.join(", ")),
        "branch point (shared up to and including)",
        metric,
        &series,
    )
}
