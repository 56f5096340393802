//! The corruption of a denoising autoencoder: Vincent, Larochelle, Bengio & Manzagol,
//! "Extracting and Composing Robust Features with Denoising Autoencoders", ICML 2008
//! (<https://www.cs.toronto.edu/~larocheh/publications/icml-2008-denoising-autoencoders.pdf>).
//!
//! The encoder reads a corrupted x̃ ~ q(x̃ | x) and the decoder is asked for the clean x:
//! the loss is ‖g(f(x̃)) − x‖². Two corruptions:
//! - masking noise (the paper's): each input value is set to 0 with probability `fraction`,
//!   independently, without rescaling the rest (unlike dropout);
//! - additive isotropic Gaussian noise: x̃ = x + σ·ε, ε ~ N(0, I).
//!
//! The noise is drawn afresh for every batch from the trainer's step generator (so a seed
//! gives the same run), and enters through the trainer's additions to a layer's output
//! ([`LossTerm::additions`]): the autoencoder's first layer is an identity named `corrupt`,
//! and this term adds x̃ − x to its output. The target stays the dataset's clean samples.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::backend::{self, Tensor};
use crate::nn::network::bernoulli_values;
use crate::nn::{Act, Additions, Network};
use crate::train::{LossTerm, StepContext};
use crate::{Error, Result};

/// The corruption q(x̃ | x).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Noise {
    /// Each value set to 0 with probability `fraction`.
    Mask { fraction: f64 },
    /// N(0, std²) added to each value.
    Gaussian { std: f64 },
}

impl Noise {
    /// `x̃ − x` for a batch `x`: what is added to the input.
    ///
    /// # Shapes
    /// - x: `[batch, ...]` (flat or maps); output: the same
    pub fn difference(&self, x: &Act, rng: &mut ChaCha8Rng) -> Act {
        let dims = x.dims();
        let n: usize = dims.iter().product();
        let device = match x {
            Act::Flat(t) => t.device(),
            Act::Map(t) => t.device(),
        };
        let values: Vec<f32> = match *self {
            // −1 where the value is dropped, so that x + x·m = 0 there.
            Noise::Mask { fraction } => bernoulli_values(rng, n, fraction, -1.0, 0.0),
            Noise::Gaussian { std } => gaussian(n, rng)
                .into_iter()
                .map(|e| (e * std) as f32)
                .collect(),
        };
        let shaped = |v: Vec<f32>| match x {
            Act::Flat(_) => Act::Flat(backend::tensor(v, [dims[0], dims[1]], &device)),
            Act::Map(_) => Act::Map(backend::tensor(
                v,
                [dims[0], dims[1], dims[2], dims[3]],
                &device,
            )),
        };
        match (self, shaped(values), x) {
            (Noise::Mask { .. }, Act::Flat(m), Act::Flat(x)) => {
                Act::Flat(backend::plain(x.clone()) * m)
            }
            (Noise::Mask { .. }, Act::Map(m), Act::Map(x)) => {
                Act::Map(backend::plain(x.clone()) * m)
            }
            (_, noise, _) => noise,
        }
    }

    /// `x̃` for a batch `x`.
    pub fn corrupt(&self, x: &Act, rng: &mut ChaCha8Rng) -> Act {
        match (x.clone(), self.difference(x, rng)) {
            (Act::Flat(x), Act::Flat(d)) => Act::Flat(x + d),
            (Act::Map(x), Act::Map(d)) => Act::Map(x + d),
            (x, _) => x,
        }
    }
}

/// `n` standard normal values (Box–Muller).
fn gaussian(n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let u1: f64 = 1.0 - rng.random::<f64>(); // in (0, 1]
        let u2: f64 = rng.random::<f64>();
        let r = (-2.0 * u1.ln()).sqrt();
        let t = std::f64::consts::TAU * u2;
        out.push(r * t.cos());
        out.push(r * t.sin());
    }
    out.truncate(n);
    out
}

/// Adds the corruption to the output of `layer` (the autoencoder's leading identity) in every
/// training step; it adds no loss.
pub struct Corruption {
    pub layer: String,
    pub noise: Noise,
}

impl LossTerm for Corruption {
    fn name(&self) -> &str {
        "corruption"
    }

    fn has_loss(&self) -> bool {
        false
    }

    fn adds_to_layers(&self) -> bool {
        true
    }

    fn additions(&mut self, input: &Act, rng: &mut ChaCha8Rng) -> Result<Additions> {
        let mut adds = Additions::new();
        adds.insert(self.layer.clone(), vec![self.noise.difference(input, rng)]);
        Ok(adds)
    }

    fn loss(&mut self, _net: &mut Network, _step: &mut StepContext<'_>) -> Result<Tensor<1>> {
        Err(Error::Training(
            "the corruption term adds noise to the input and has no loss".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use rand::SeedableRng;

    #[test]
    fn masking_zeroes_about_the_fraction_and_gaussian_noise_has_its_spread() {
        let d = Device::flex();
        let x = Act::Flat(backend::tensor(vec![0.5; 20_000], [100, 200], &d));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let masked = backend::to_vec(&Noise::Mask { fraction: 0.3 }.corrupt(&x, &mut rng).flat());
        let zeros = masked.iter().filter(|&&v| v == 0.0).count() as f64 / 20_000.0;
        assert!((zeros - 0.3).abs() < 0.02, "{zeros}");
        assert!(masked.iter().all(|&v| v == 0.0 || v == 0.5));
        let noisy = backend::to_vec(&Noise::Gaussian { std: 0.2 }.corrupt(&x, &mut rng).flat());
        let mean = noisy.iter().map(|&v| v as f64).sum::<f64>() / 20_000.0;
        let var = noisy
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / 20_000.0;
        assert!(
            (mean - 0.5).abs() < 0.01 && (var.sqrt() - 0.2).abs() < 0.01,
            "{mean} {var}"
        );
    }
}
