//! The toy regression of GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm:
//! Gradient Normalization for Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018,
//! §4, <https://arxiv.org/abs/1711.02257>): T regression tasks on one input whose losses
//! differ in scale by design, so that a weighting method that lets the large tasks dominate
//! shows it.
//!
//! Task i maps x ∈ ℝ²⁵⁰ to f_i(x) = σ_i·tanh((B + ε_i)·x) ∈ ℝ¹⁰⁰, where B (100×250) has
//! entries from N(0, 10²) shared by all tasks, ε_i (100×250) entries from N(0, 3.5²) of its
//! own, and x is standard normal. σ_i sets the task's scale: (1, 100) for `gradnorm-toy`;
//! for `gradnorm-toy-10`, ten scales evenly spaced in log between 1 and 100 (σ_i =
//! 100^{i/9}: 1, 1.67, 2.78, …, 100). Targets `t0 … t{T-1}`, 100 real values each; no class
//! labels. 10 000 training and 2 000 test samples.
//!
//! Everything comes from one ChaCha8 stream seeded with [`GRADNORM_TOY_SEED`], drawn in this
//! order: B row by row, then each ε_i, then the training inputs, then the test inputs
//! (normals by Box–Muller, one pair of uniforms per value). With B's scale the products
//! (B + ε_i)·x have a standard deviation near 10.6·√250 ≈ 168, so tanh is nearly always
//! saturated and each output is close to ±σ_i (predicting 0 scores MSE ≈ 0.995·σ_i²): the
//! paper's setting, stated as it is.
//!
//! Against the paper: §4 writes B's and εᵢ's entries as N(0, 10) and N(0, 3.5); they are read
//! here as standard deviations, as both public reproductions of the toy read them (any reading
//! leaves tanh saturated: with variances 10 and 3.5 the products' spread is still near 58).
//! The paper does not say how x is drawn, and the reproductions differ (uniform on [−1, 1]
//! scaled to unit norm; uniform on [0, 1]); x here is standard normal, and unit-norm inputs
//! were measured to change nothing of substance (BENCHMARKS.md, "Why t0 resists loss
//! weighting"). The best linear predictor of a task (least squares on the 10 000 training
//! samples) scores test MSE ≈ 0.37·σᵢ², near the 1 − 2/π of a linear fit to a saturated sign:
//! the bar a network should pass.

use faer::Mat;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dataset::{Dataset, Split, Target};
use crate::linalg::{to_f64, view};
use crate::{Error, Result};

/// The seed of the toy's matrices and inputs.
pub const GRADNORM_TOY_SEED: u64 = 2018;
/// Width of an input.
pub const TOY_INPUTS: usize = 250;
/// Width of each task's output.
pub const TOY_OUTPUTS: usize = 100;
/// Standard deviation of B's entries.
pub const TOY_B_STD: f64 = 10.0;
/// Standard deviation of each εᵢ's entries.
pub const TOY_EPS_STD: f64 = 3.5;
/// Training samples of the named sets.
pub const TOY_TRAIN: usize = 10_000;
/// Test samples of the named sets.
pub const TOY_TEST: usize = 2_000;

/// The scales σ of `tasks` tasks: (1, 100) for two; for more, evenly spaced in log from 1 to
/// 100 (σᵢ = 100^{i/(T−1)}); 1 for a single task.
pub fn toy_sigmas(tasks: usize) -> Vec<f64> {
    match tasks {
        0 => vec![],
        1 => vec![1.0],
        t => (0..t)
            .map(|i| 100f64.powf(i as f64 / (t - 1) as f64))
            .collect(),
    }
}

/// The toy's tasks: the shared matrix, each task's perturbation and scale.
#[derive(Debug, Clone, PartialEq)]
pub struct ToyTasks {
    /// B, `TOY_OUTPUTS × TOY_INPUTS`, row-major.
    pub b: Vec<f32>,
    /// εᵢ per task, each `TOY_OUTPUTS × TOY_INPUTS`, row-major.
    pub eps: Vec<Vec<f32>>,
    /// σᵢ per task.
    pub sigma: Vec<f64>,
}

/// One standard normal value from two uniforms (Box–Muller, cosine branch).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // 1 − u lies in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn normals(rng: &mut ChaCha8Rng, n: usize, std: f64) -> Vec<f32> {
    (0..n).map(|_| (std * normal(rng)) as f32).collect()
}

/// The outputs σ·tanh(M·x) of every row of `x` (`n × TOY_INPUTS`) for one task's matrix `m`
/// (`TOY_OUTPUTS × TOY_INPUTS`, B + εᵢ added in `f64`): `n × TOY_OUTPUTS`, row-major. The
/// product is taken in `f64` (sums of 250 terms of size 10 lose about 10⁻⁴ in `f32`).
fn outputs(x: &[f32], m: &Mat<f64>, sigma: f64) -> Result<Vec<f32>> {
    let n = x.len() / TOY_INPUTS;
    let xm = to_f64(view("toy inputs", x, n, TOY_INPUTS)?);
    let prod = &xm * m.transpose();
    let mut out = Vec::with_capacity(n * TOY_OUTPUTS);
    for i in 0..n {
        out.extend((0..TOY_OUTPUTS).map(|j| (sigma * prod[(i, j)].tanh()) as f32));
    }
    Ok(out)
}

/// The toy with `tasks` tasks (scales [`toy_sigmas`]), `train` / `test` samples, drawn from
/// `seed`; `name` names the result (`gradnorm-toy`). Returns the split and the tasks that
/// made it.
///
/// # Errors
/// [`Error::Spec`] for no tasks or no samples.
pub fn gradnorm_toy(
    name: &str,
    tasks: usize,
    train: usize,
    test: usize,
    seed: u64,
) -> Result<(Split, ToyTasks)> {
    if tasks == 0 || train == 0 || test == 0 {
        return Err(Error::Spec(format!(
            "dataset `{name}`: the toy needs at least one task and one sample per part, got {tasks} tasks, {train} / {test} samples"
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let size = TOY_OUTPUTS * TOY_INPUTS;
    let b = normals(&mut rng, size, TOY_B_STD);
    let eps: Vec<Vec<f32>> = (0..tasks)
        .map(|_| normals(&mut rng, size, TOY_EPS_STD))
        .collect();
    let toy = ToyTasks {
        b,
        eps,
        sigma: toy_sigmas(tasks),
    };
    let matrices: Vec<Mat<f64>> = toy
        .eps
        .iter()
        .map(|e| {
            Mat::from_fn(TOY_OUTPUTS, TOY_INPUTS, |r, c| {
                let at = r * TOY_INPUTS + c;
                f64::from(toy.b[at]) + f64::from(e[at])
            })
        })
        .collect();
    let mut part = |n: usize, which: &str| -> Result<Dataset> {
        let x = normals(&mut rng, n * TOY_INPUTS, 1.0);
        let mut ds = Dataset::new(format!("{name}/{which}"), vec![TOY_INPUTS], x, vec![], 0)?;
        for (i, (m, &s)) in matrices.iter().zip(&toy.sigma).enumerate() {
            let values = outputs(&ds.x, m, s)?;
            ds = ds.with_target(
                &format!("t{i}"),
                Target::Values {
                    values,
                    width: TOY_OUTPUTS,
                },
            )?;
        }
        Ok(ds)
    };
    let train = part(train, "train")?;
    let test = part(test, "test")?;
    Ok((Split { train, test }, toy))
}

/// The named toy: `gradnorm-toy` (σ = 1, 100) or `gradnorm-toy-10` (ten tasks), 10 000 /
/// 2 000 samples.
pub fn named_toy(name: &str, tasks: usize) -> Result<Split> {
    Ok(gradnorm_toy(name, tasks, TOY_TRAIN, TOY_TEST, GRADNORM_TOY_SEED)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(ds: &Dataset, target: &str) -> Vec<f32> {
        match &ds.targets[target] {
            Target::Values { values, width } => {
                assert_eq!(*width, TOY_OUTPUTS);
                values.clone()
            }
            other => panic!("real values expected, got {other:?}"),
        }
    }

    /// One sample's targets against σᵢ·tanh(Σⱼ (Bₖⱼ + εᵢₖⱼ)·xⱼ) summed here in f64, entry by
    /// entry; the scales, sizes and the spread of the drawn values.
    #[test]
    fn targets_follow_the_formula() {
        let (split, toy) = gradnorm_toy("gradnorm-toy", 2, 40, 7, GRADNORM_TOY_SEED).unwrap();
        assert_eq!((split.train.len(), split.test.len()), (40, 7));
        assert_eq!(split.train.sample_shape, [TOY_INPUTS]);
        assert_eq!(split.test.name, "gradnorm-toy/test");
        assert_eq!(toy.sigma, [1.0, 100.0]);
        for (ds, k) in [(&split.train, 17), (&split.test, 6)] {
            let x = ds.sample(k);
            for task in 0..2 {
                let got = values(ds, &format!("t{task}"));
                let got = &got[k * TOY_OUTPUTS..(k + 1) * TOY_OUTPUTS];
                for (row, &g) in got.iter().enumerate() {
                    let mut dot = 0f64;
                    for (j, &xj) in x.iter().enumerate() {
                        let at = row * TOY_INPUTS + j;
                        dot +=
                            (f64::from(toy.b[at]) + f64::from(toy.eps[task][at])) * f64::from(xj);
                    }
                    let want = toy.sigma[task] * dot.tanh();
                    let tol = 1e-6 * toy.sigma[task];
                    assert!(
                        (f64::from(g) - want).abs() <= tol,
                        "task {task} row {row}: {g} vs {want}"
                    );
                }
            }
        }
        // The draws have the stated spreads (25 000 values each: the sample std is within
        // 2% of the true one).
        let std = |v: &[f32]| {
            let n = v.len() as f64;
            let m = v.iter().map(|&a| f64::from(a)).sum::<f64>() / n;
            (v.iter().map(|&a| (f64::from(a) - m).powi(2)).sum::<f64>() / n).sqrt()
        };
        assert!(
            (std(&toy.b) / TOY_B_STD - 1.0).abs() < 0.02,
            "{}",
            std(&toy.b)
        );
        assert!((std(&toy.eps[1]) / TOY_EPS_STD - 1.0).abs() < 0.02);
        assert!((std(&split.train.x) - 1.0).abs() < 0.03);
        assert_ne!(toy.eps[0], toy.eps[1]);
        // tanh saturates: the large task's outputs sit near ±100.
        let big = values(&split.train, "t1");
        let near = big.iter().filter(|v| v.abs() > 90.0).count() as f64 / big.len() as f64;
        assert!(near > 0.9, "{near}");
        // So predicting 0 scores MSE/σ² = E[tanh²] ≈ 1 − 2φ(0)/168 ≈ 0.995.
        let zero = big.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / big.len() as f64;
        assert!((zero / 1e4 - 0.995).abs() < 0.005, "{zero}");
        // Deterministic; another seed draws another set.
        let (again, _) = gradnorm_toy("gradnorm-toy", 2, 40, 7, GRADNORM_TOY_SEED).unwrap();
        assert_eq!(again.test.targets, split.test.targets);
        let (other, _) = gradnorm_toy("gradnorm-toy", 2, 40, 7, 1).unwrap();
        assert_ne!(other.train.x, split.train.x);
        let err = gradnorm_toy("gradnorm-toy", 0, 40, 7, 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gradnorm-toy") && err.contains("0 tasks"),
            "{err}"
        );
    }

    /// Writes a named toy as raw little-endian `f32` files for the PyTorch comparison
    /// (`bench/gradnorm_toy/torch_toy.py`): `x_{train,test}.f32` and `t{i}_{train,test}.f32`
    /// in `$TLKIT_TOY_EXPORT/<name>/` (a temporary folder without the variable, as in the
    /// test script's run of every ignored test), and checks the sizes written. By hand:
    /// `TLKIT_TOY_EXPORT=/tmp/toy cargo test -p tlkit --lib export_named_toys -- --ignored`.
    #[test]
    #[ignore = "writes files; run by hand for bench/gradnorm_toy"]
    fn export_named_toys() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::env::var_os("TLKIT_TOY_EXPORT")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| tmp.path().to_path_buf());
        for (name, tasks) in [("gradnorm-toy", 2), ("gradnorm-toy-10", 10)] {
            let split = named_toy(name, tasks).unwrap();
            let dir = root.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            let write = |file: String, v: &[f32]| {
                let bytes: Vec<u8> = v.iter().flat_map(|a| a.to_le_bytes()).collect();
                std::fs::write(dir.join(file), bytes).unwrap();
            };
            for (part, ds) in [("train", &split.train), ("test", &split.test)] {
                write(format!("x_{part}.f32"), &ds.x);
                for t in 0..tasks {
                    write(format!("t{t}_{part}.f32"), &values(ds, &format!("t{t}")));
                }
                let len = |f: &str| std::fs::metadata(dir.join(f)).unwrap().len() as usize;
                assert_eq!(len(&format!("x_{part}.f32")), 4 * ds.len() * TOY_INPUTS);
                assert_eq!(
                    len(&format!("t{}_{part}.f32", tasks - 1)),
                    4 * ds.len() * TOY_OUTPUTS
                );
            }
        }
    }

    #[test]
    fn ten_scales_spread_evenly_in_log() {
        let s = toy_sigmas(10);
        assert_eq!(s.len(), 10);
        assert_eq!((s[0], s[9]), (1.0, 100.0));
        for w in s.windows(2) {
            assert!((w[1] / w[0] - 100f64.powf(1.0 / 9.0)).abs() < 1e-12);
        }
        assert_eq!(toy_sigmas(2), [1.0, 100.0]);
    }

    /// The named sets: sizes and targets, each task at its scale.
    #[test]
    fn named_sets_have_their_sizes_and_targets() {
        let two =
            crate::data::load_named("gradnorm-toy", std::path::Path::new("/nonexistent")).unwrap();
        assert_eq!((two.train.len(), two.test.len()), (TOY_TRAIN, TOY_TEST));
        assert_eq!(two.train.targets.keys().collect::<Vec<_>>(), ["t0", "t1"]);
        let ten = crate::data::load_named("gradnorm-toy-10", std::path::Path::new("/nonexistent"))
            .unwrap();
        assert_eq!(ten.train.targets.len(), 10);
        assert!(ten.train.targets.contains_key("t9"));
        let max = |t: &str| {
            values(&ten.test, t)
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()))
        };
        assert!(max("t0") <= 1.0 && max("t0") > 0.99, "{}", max("t0"));
        assert!(max("t9") <= 100.0 && max("t9") > 99.0, "{}", max("t9"));
    }
}
