//! Test helpers shared by the layer files' tests: random inputs, reading and setting
//! parameters, and a finite-difference check of autodiff's gradients.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Act, Mode, Network};
use crate::backend::{self, Device, Tensor};

/// `n` values uniform in [−1, 1) drawn from `rng`: the own kernels' tests' inputs.
pub fn uniform(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// `n` samples of uniform values in [−½, ½) for `net`'s input, drawn from `seed`.
pub fn input(net: &Network, n: usize, seed: u64) -> Act {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let w: usize = net.spec().input_shape.iter().product();
    net.input((0..n * w).map(|_| rng.random::<f32>() - 0.5).collect(), n)
        .unwrap()
}

/// The values of parameter `path`.
pub fn values(net: &Network, path: &str) -> Vec<f32> {
    backend::to_vec(&net.slot(path).unwrap().value)
}

/// Sets parameter `path` to `v`.
pub fn set(net: &mut Network, path: &str, v: Vec<f32>) {
    let n = v.len();
    net.set_values(path, backend::tensor(v, [n], &Device::flex()))
        .unwrap();
}

/// Asserts that autodiff's gradient of `loss` on each `(parameter, index)` of `checks` is
/// non-zero and matches central finite differences (step 10⁻³) of the same loss.
pub fn check_gradients(
    net: &mut Network,
    checks: &[(&str, usize)],
    loss: impl Fn(&mut Network, Mode<'_>) -> Tensor<1>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let grads = loss(net, Mode::Train(&mut rng)).backward();
    // Read every gradient before any value is set: setting makes a new leaf.
    let autos: Vec<f64> = checks
        .iter()
        .map(|&(path, k)| {
            let g = net.slot(path).unwrap().value.grad(&grads).unwrap();
            g.into_data().try_to_vec::<f32>().unwrap()[k] as f64
        })
        .collect();
    for (&(path, k), auto) in checks.iter().zip(autos) {
        let base = values(net, path);
        let h = 1e-3f32;
        let mut at = |delta: f32| {
            let mut v = base.clone();
            v[k] += delta;
            set(net, path, v);
            backend::scalar(&loss(net, Mode::Eval)) as f64
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h as f64);
        set(net, path, base);
        assert!(auto.abs() > 1e-5, "{path}[{k}]: no gradient");
        assert!(
            (auto - numeric).abs() < 2e-3 * (1.0 + auto.abs()),
            "{path}[{k}]: autodiff {auto}, finite differences {numeric}"
        );
    }
}
