//! The accuracy matrix and the continual-learning metrics of Lopez-Paz & Ranzato,
//! "Gradient Episodic Memory for Continual Learning", NeurIPS 2017
//! (<https://arxiv.org/abs/1706.08840>), Section 4:
//!
//! - `R[i][j]`: test accuracy on task `j` after training on tasks `0..=i`;
//! - ACC = 1/T · Σ_j R[T−1][j];
//! - BWT = 1/(T−1) · Σ_{j<T−1} (R[T−1][j] − R[j][j])  (negative = forgetting);
//! - FWT = 1/(T−1) · Σ_{j≥1} (R[j−1][j] − b_j), with `b_j` the accuracy of the randomly
//!   initialised model on task `j`.

use serde::{Deserialize, Serialize};

/// An accuracy matrix with its random-initialisation baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccuracyMatrix {
    /// `r[i][j]`, fractions in [0, 1]. A method trained once on all tasks (joint training)
    /// has a single row.
    pub r: Vec<Vec<f64>>,
    /// `b[j]`: accuracy of the model before any training.
    pub baseline: Vec<f64>,
}

impl AccuracyMatrix {
    /// Number of tasks.
    pub fn tasks(&self) -> usize {
        self.baseline.len()
    }

    /// Mean accuracy over all tasks after the last one.
    pub fn acc(&self) -> f64 {
        let last = self.r.last().map(Vec::as_slice).unwrap_or(&[]);
        last.iter().sum::<f64>() / last.len().max(1) as f64
    }

    /// Backward transfer; `None` without one row per task or with a single task.
    pub fn bwt(&self) -> Option<f64> {
        let t = self.tasks();
        if t < 2 || self.r.len() != t {
            return None;
        }
        Some(
            (0..t - 1)
                .map(|j| self.r[t - 1][j] - self.r[j][j])
                .sum::<f64>()
                / (t - 1) as f64,
        )
    }

    /// Forward transfer; `None` without one row per task or with a single task.
    pub fn fwt(&self) -> Option<f64> {
        let t = self.tasks();
        if t < 2 || self.r.len() != t {
            return None;
        }
        Some(
            (1..t)
                .map(|j| self.r[j - 1][j] - self.baseline[j])
                .sum::<f64>()
                / (t - 1) as f64,
        )
    }

    /// The matrix as a Markdown table in percent.
    pub fn table(&self, task_names: &[String]) -> String {
        let mut s = String::from("| after \\ on |");
        for n in task_names {
            s += &format!(" {n} |");
        }
        s += "\n|---|";
        s += &"---:|".repeat(task_names.len());
        s += "\n";
        let rows = self.r.len();
        for (i, row) in self.r.iter().enumerate() {
            let label = if rows == self.tasks() {
                task_names.get(i).cloned().unwrap_or_default()
            } else {
                "all tasks (joint)".into()
            };
            s += &format!("| {label} |");
            for v in row {
                s += &format!(" {:.2} |", 100.0 * v);
            }
            s += "\n";
        }
        s += "| random init (b) |";
        for v in &self.baseline {
            s += &format!(" {:.2} |", 100.0 * v);
        }
        s + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: R = [[.9,.1,.2],[.5,.8,.3],[.4,.6,.7]], b = [.1,.2,.25].
    /// ACC = (.4+.6+.7)/3 = .56667; BWT = ((.4−.9)+(.6−.8))/2 = −.35;
    /// FWT = ((.1−.2)+(.3−.25))/2 = −.025.
    #[test]
    fn metrics_follow_lopez_paz_and_ranzato() {
        let m = AccuracyMatrix {
            r: vec![
                vec![0.9, 0.1, 0.2],
                vec![0.5, 0.8, 0.3],
                vec![0.4, 0.6, 0.7],
            ],
            baseline: vec![0.1, 0.2, 0.25],
        };
        assert!((m.acc() - 1.7 / 3.0).abs() < 1e-12);
        assert!((m.bwt().unwrap() + 0.35).abs() < 1e-12);
        assert!((m.fwt().unwrap() + 0.025).abs() < 1e-12);
        let joint = AccuracyMatrix {
            r: vec![vec![0.9, 0.8, 0.7]],
            ..m.clone()
        };
        assert!((joint.acc() - 0.8).abs() < 1e-12);
        assert_eq!(joint.bwt(), None);
        let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        assert!(m.table(&names).contains("| c | 40.00 | 60.00 | 70.00 |"));
    }
}
