//! The weighting methods by name: what `--method` and a config's `method` accept.

use super::{CaGrad, Dwa, Equal, GradNorm, Mgda, PcGrad, Uncertainty};
use crate::train::GradientStrategy;
use crate::{Error, Result};

/// A weighting method's name, what it is, and its constructor (the defaults of its file).
pub struct MethodInfo {
    pub name: &'static str,
    pub about: &'static str,
    /// Whether it needs each task's gradient (one backward pass per task).
    pub per_task_gradients: bool,
    pub new: fn() -> Box<dyn GradientStrategy>,
}

/// Every weighting method, in the order tables list them.
pub const METHODS: &[MethodInfo] = &[
    MethodInfo {
        name: "ew",
        about: "equal weighting",
        per_task_gradients: false,
        new: || Box::new(Equal),
    },
    MethodInfo {
        name: "uw",
        about: "uncertainty weighting (Kendall et al. 2018)",
        per_task_gradients: false,
        new: || Box::new(Uncertainty::default()),
    },
    MethodInfo {
        name: "dwa",
        about: "dynamic weight average (Liu et al. 2019), T = 2",
        per_task_gradients: false,
        new: || Box::new(Dwa::default()),
    },
    MethodInfo {
        name: "gradnorm",
        about: "GradNorm (Chen et al. 2018), alpha = 1.5",
        per_task_gradients: true,
        new: || Box::new(GradNorm::default()),
    },
    MethodInfo {
        name: "pcgrad",
        about: "projecting conflicting gradients (Yu et al. 2020)",
        per_task_gradients: true,
        new: || Box::new(PcGrad::default()),
    },
    MethodInfo {
        name: "mgda",
        about: "min-norm gradient combination (Sener & Koltun 2018)",
        per_task_gradients: true,
        new: || Box::new(Mgda::default()),
    },
    MethodInfo {
        name: "mgda_ub",
        about: "MGDA-UB: the min-norm combination on the shared representation's gradients",
        per_task_gradients: true,
        new: || {
            Box::new(Mgda {
                upper_bound: true,
                ..Mgda::default()
            })
        },
    },
    MethodInfo {
        name: "cagrad",
        about: "conflict-averse gradient descent (Liu et al. 2021), c = 0.5",
        per_task_gradients: true,
        new: || Box::new(CaGrad::default()),
    },
];

/// The names of [`METHODS`], comma-separated.
pub fn method_names() -> String {
    METHODS
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The method called `name`, with its defaults.
pub fn method(name: &str) -> Result<Box<dyn GradientStrategy>> {
    METHODS
        .iter()
        .find(|m| m.name == name)
        .map(|m| (m.new)())
        .ok_or_else(|| Error::Unknown {
            kind: "weighting method",
            name: name.into(),
            known: method_names(),
        })
}
