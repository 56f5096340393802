//! Adam's update of one parameter tensor in one pass (Kingma & Ba, "Adam: A Method for
//! Stochastic Optimization", ICLR 2015, <https://arxiv.org/abs/1412.6980>, Algorithm 1, in
//! PyTorch's arrangement of `torch.optim.Adam`):
//!
//! ```text
//! m ← β₁·m + (1 − β₁)·g          (m = (1 − β₁)·g on the first step)
//! v ← β₂·v + (1 − β₂)·g²         (v = (1 − β₂)·g² on the first step)
//! p ← p − (m / (√(v / c₂) + ε))·s,   c₂ = 1 − β₂ᵗ,  s = lr / (1 − β₁ᵗ)
//! ```
//!
//! Written as tensor operations this is about a dozen passes over the parameter, each with a
//! buffer of its own; here it is one. Every element goes through the same `f32` operations in
//! the same order as `tlkit::train::optim`'s composed version (`m·β₁ + g·(1 − β₁)`,
//! `(g·g)·(1 − β₂)`, `(m / d)·s`), so the two give the same bits.

use rayon::prelude::*;

/// The step's constants, in `f32` as the composed version rounds them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    pub beta1: f32,
    pub beta2: f32,
    /// `1 − β₂ᵗ`.
    pub bias_correction2: f32,
    pub eps: f32,
    /// `lr / (1 − β₁ᵗ)`.
    pub step_size: f32,
}

/// Elements per rayon task.
const CHUNK: usize = 1 << 14;

/// The new `(p, m, v)` from the parameter `p`, its gradient `g` and the moments `m`, `v` of the
/// previous step (`None` on the first step), in new buffers ([`adam_in_place`] on copies).
pub fn adam(
    s: &AdamStep,
    p: &[f32],
    g: &[f32],
    moments: Option<(&[f32], &[f32])>,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let n = p.len();
    let mut p1 = vec![0.0f32; n];
    let (mut m1, mut v1) = match moments {
        Some((m, v)) => (m.to_vec(), v.to_vec()),
        None => (vec![0.0f32; n], vec![0.0f32; n]),
    };
    adam_in_place(s, p, &mut p1, g, &mut m1, &mut v1, moments.is_none());
    (p1, m1, v1)
}

/// One step that writes the new parameter into `p_out` and updates the moments `m`, `v` where
/// they are (on the first step, `first`, they are only written). The optimizer's moments are
/// its own, so this saves two buffers a step; the parameter is shared with the network, so
/// its new values go to a buffer of their own.
pub fn adam_in_place(
    s: &AdamStep,
    p: &[f32],
    p_out: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    first: bool,
) {
    crate::threads::warm();
    let n = p.len();
    assert!(
        g.len() == n && p_out.len() == n && m.len() == n && v.len() == n,
        "adam: the parameter, its gradient, the output and both moments differ in length"
    );
    let (c1, c2) = (1.0 - s.beta1, 1.0 - s.beta2);
    p_out
        .par_chunks_mut(CHUNK)
        .zip(m.par_chunks_mut(CHUNK))
        .zip(v.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(k, ((pc, mc), vc))| {
            let at = k * CHUNK..(k * CHUNK + pc.len());
            let (p, g) = (&p[at.clone()], &g[at]);
            crate::wide(
                #[inline(always)]
                || {
                    if first {
                        for k in 0..pc.len() {
                            mc[k] = g[k] * c1;
                            vc[k] = g[k] * g[k] * c2;
                        }
                    } else {
                        for k in 0..pc.len() {
                            mc[k] = mc[k] * s.beta1 + g[k] * c1;
                            vc[k] = vc[k] * s.beta2 + g[k] * g[k] * c2;
                        }
                    }
                    for k in 0..pc.len() {
                        let d = (vc[k] / s.bias_correction2).sqrt() + s.eps;
                        pc[k] = p[k] - mc[k] / d * s.step_size;
                    }
                },
            )
        });
}
