//! The one check of a `[train]` table's values, run by every config loader: each value
//! outside its range is an error naming the file, the field's path (`train.optimizer.beta1`)
//! and the allowed range, before any data is read.

use std::path::Path;

use super::optim::{OptimizerConfig, OptimizerKind};
use super::schedule::Schedule;
use super::trainer::TrainConfig;
use crate::{Error, Result};

/// Whether `epochs = 0` is allowed (a family that then evaluates only and says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroEpochs {
    Refused,
    EvaluatesOnly,
}

/// Checks `value` of `field` against a rule; `ok` says whether it holds.
struct Fields<'a> {
    file: &'a Path,
    prefix: &'a str,
}

impl Fields<'_> {
    fn check(
        &self,
        field: &str,
        value: impl std::fmt::Display,
        ok: bool,
        rule: &str,
    ) -> Result<()> {
        if ok {
            return Ok(());
        }
        Err(Error::Config {
            path: self.file.to_path_buf(),
            msg: format!("{}.{field} = {value}: {rule}", self.prefix),
        })
    }

    fn positive(&self, field: &str, v: f64, what: &str) -> Result<()> {
        self.check(
            field,
            v,
            v.is_finite() && v > 0.0,
            &format!("{what} must be a positive number"),
        )
    }

    fn non_negative(&self, field: &str, v: f64, what: &str) -> Result<()> {
        self.check(
            field,
            v,
            v.is_finite() && v >= 0.0,
            &format!("{what} must be 0 or more"),
        )
    }

    /// `0 <= v < 1`: a decay rate that forgets (1 would never forget, above 1 diverges).
    fn decay(&self, field: &str, v: f64, what: &str) -> Result<()> {
        self.check(
            field,
            v,
            (0.0..1.0).contains(&v),
            &format!("{what} must be at least 0 and below 1"),
        )
    }

    fn at_least_one(&self, field: &str, v: usize, what: &str) -> Result<()> {
        self.check(field, v, v >= 1, &format!("{what} must be at least 1"))
    }
}

impl TrainConfig {
    /// Checks every value against its allowed range. `file` is the config file and `prefix`
    /// the table's path in it (`"train"`), both named in the error.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file, the field's path, its value and the allowed range.
    pub fn validate(&self, file: &Path, prefix: &str, zero_epochs: ZeroEpochs) -> Result<()> {
        let f = Fields { file, prefix };
        if zero_epochs == ZeroEpochs::Refused {
            f.check(
                "epochs",
                self.epochs,
                self.epochs >= 1,
                "the number of epochs must be at least 1 (to score a model without training it, use `tlkit eval`)",
            )?;
        }
        f.at_least_one("batch_size", self.batch_size, "the batch size")?;
        f.at_least_one(
            "eval_batch_size",
            self.eval_batch_size,
            "the evaluation batch size",
        )?;
        if let Some(c) = self.clip_grad_norm {
            f.positive("clip_grad_norm", c, "the largest gradient norm")?;
        }
        if let Some(e) = &self.early_stopping {
            f.at_least_one(
                "early_stopping.patience",
                e.patience,
                "the patience in epochs",
            )?;
            f.non_negative(
                "early_stopping.min_delta",
                e.min_delta,
                "the smallest improvement",
            )?;
        }
        validate_schedule(&self.schedule, &f)?;
        validate_optimizer(&self.optimizer, &f)
    }
}

fn validate_schedule(s: &Schedule, f: &Fields<'_>) -> Result<()> {
    match *s {
        Schedule::Constant => Ok(()),
        Schedule::Step { step_epochs, gamma } => {
            f.at_least_one(
                "schedule.step_epochs",
                step_epochs,
                "the step length in epochs",
            )?;
            f.check(
                "schedule.gamma",
                gamma,
                gamma > 0.0 && gamma <= 1.0,
                "the step factor must be above 0 and at most 1",
            )
        }
        Schedule::Cosine { min_factor } => f.check(
            "schedule.min_factor",
            min_factor,
            (0.0..=1.0).contains(&min_factor),
            "the final factor must be between 0 and 1",
        ),
        Schedule::InvDecay { gamma, power, .. } => {
            f.non_negative("schedule.gamma", gamma, "the decay rate")?;
            f.non_negative("schedule.power", power, "the decay power")
        }
    }
}

fn validate_optimizer(o: &OptimizerConfig, f: &Fields<'_>) -> Result<()> {
    f.positive("optimizer.lr", o.lr, "the learning rate")?;
    f.non_negative("optimizer.weight_decay", o.weight_decay, "the weight decay")?;
    match o.name {
        OptimizerKind::Sgd => {
            f.decay("optimizer.momentum", o.momentum, "SGD's momentum")?;
            f.check(
                "optimizer.nesterov",
                o.nesterov,
                !o.nesterov || o.momentum > 0.0,
                "Nesterov momentum needs a momentum above 0 (set optimizer.momentum, e.g. 0.9)",
            )?;
        }
        OptimizerKind::Adam | OptimizerKind::Adamw => {
            f.decay(
                "optimizer.beta1",
                o.beta1,
                "Adam's first-moment decay (usually 0.9)",
            )?;
            f.decay(
                "optimizer.beta2",
                o.beta2,
                "Adam's second-moment decay (usually 0.999)",
            )?;
            f.positive("optimizer.eps", o.eps, "Adam's epsilon (usually 1e-8)")?;
        }
    }
    for (i, g) in o.groups.iter().enumerate() {
        f.non_negative(
            &format!("optimizer.groups[{i}].lr_mult"),
            g.lr_mult,
            "a learning-rate multiplier",
        )?;
        if let Some(wd) = g.weight_decay {
            f.non_negative(
                &format!("optimizer.groups[{i}].weight_decay"),
                wd,
                "the weight decay",
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ExperimentConfig;

    fn message(edit: impl FnOnce(&mut TrainConfig)) -> String {
        let mut t = ExperimentConfig::demo().train;
        edit(&mut t);
        t.validate(Path::new("c.toml"), "train", ZeroEpochs::Refused)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn each_value_out_of_range_names_its_field_and_range() {
        let demo = ExperimentConfig::demo().train;
        demo.validate(Path::new("c.toml"), "train", ZeroEpochs::Refused)
            .unwrap();
        let m = message(|t| t.optimizer.lr = 0.0);
        assert!(m.contains("config c.toml: train.optimizer.lr = 0:"), "{m}");
        assert!(message(|t| t.optimizer.lr = f64::NAN).contains("train.optimizer.lr = NaN"));
        let m = message(|t| {
            t.optimizer.name = OptimizerKind::Adam;
            t.optimizer.beta1 = 1.0;
        });
        assert!(
            m.contains("train.optimizer.beta1 = 1: Adam's first-moment decay"),
            "{m}"
        );
        assert!(m.contains("at least 0 and below 1"), "{m}");
        let m = message(|t| {
            t.optimizer.name = OptimizerKind::Sgd;
            t.optimizer.momentum = 5.0;
        });
        assert!(m.contains("train.optimizer.momentum = 5"), "{m}");
        assert!(message(|t| t.optimizer.weight_decay = -1.0).contains("weight_decay = -1"));
        assert!(message(|t| t.clip_grad_norm = Some(-1.0)).contains("train.clip_grad_norm = -1"));
        let m = message(|t| {
            t.schedule = Schedule::Step {
                step_epochs: 0,
                gamma: 0.1,
            }
        });
        assert!(
            m.contains("train.schedule.step_epochs = 0: the step length"),
            "{m}"
        );
        assert!(message(|t| t.batch_size = 0).contains("train.batch_size = 0"));
        assert!(message(|t| t.epochs = 0).contains("train.epochs = 0"));
        let mut t = ExperimentConfig::demo().train;
        t.epochs = 0;
        t.validate(Path::new("c.toml"), "train", ZeroEpochs::EvaluatesOnly)
            .unwrap();
    }
}
