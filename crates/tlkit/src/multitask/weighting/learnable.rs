//! A method's own learnable values (uncertainty weighting's log-variances, GradNorm's
//! weights), updated on the host with Adam (Kingma & Ba 2015, β₁ = 0.9, β₂ = 0.999,
//! ε = 1e-8): the methods compute their gradients in closed form from the task losses and
//! gradient norms, so they need no autodiff graph of their own.

/// Values and their Adam moments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Learnable {
    pub values: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    steps: u64,
}

impl Learnable {
    /// `values`, before any update.
    pub fn new(values: Vec<f64>) -> Self {
        let n = values.len();
        Learnable {
            values,
            m: vec![0.0; n],
            v: vec![0.0; n],
            steps: 0,
        }
    }

    /// One Adam step of size `lr` against `grad` (one entry per value).
    pub fn step(&mut self, grad: &[f64], lr: f64) {
        let (b1, b2, eps) = (0.9, 0.999, 1e-8);
        self.steps += 1;
        let t = self.steps as i32;
        for (i, g) in grad.iter().enumerate() {
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g;
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g * g;
            let m = self.m[i] / (1.0 - b1.powi(t));
            let v = self.v[i] / (1.0 - b2.powi(t));
            self.values[i] -= lr * m / (v.sqrt() + eps);
        }
    }

    /// Per value: `[value, m, v, steps]`, followed by `extra[i]` (for a method's own
    /// per-task numbers).
    pub fn state(&self, extra: &[Vec<f64>]) -> Vec<Vec<f64>> {
        (0..self.values.len())
            .map(|i| {
                let mut s = vec![self.values[i], self.m[i], self.v[i], self.steps as f64];
                s.extend(extra.get(i).into_iter().flatten());
                s
            })
            .collect()
    }

    /// The inverse of [`Learnable::state`]: the values and what followed them per task, or
    /// `None` when the state does not have this shape (a record of another method).
    pub fn restore(state: &[Vec<f64>]) -> Option<(Self, Vec<Vec<f64>>)> {
        if state.is_empty() || state.iter().any(|s| s.len() < 4) {
            return None;
        }
        let l = Learnable {
            values: state.iter().map(|s| s[0]).collect(),
            m: state.iter().map(|s| s[1]).collect(),
            v: state.iter().map(|s| s[2]).collect(),
            steps: state[0][3] as u64,
        };
        Some((l, state.iter().map(|s| s[4..].to_vec()).collect()))
    }
}
