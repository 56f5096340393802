//! ReLU6, `min(max(x, 0), 6)`, with the mask its gradient needs, and that gradient.
//!
//! The values and the mask are those of Burn's composition on its autodiff backend
//! (`clamp_max(6)` then `clamp_min(0)`, each a comparison and a `mask_fill`): a value above 6
//! becomes 6, then one below 0 becomes 0, so NaN stays NaN and −0 stays −0; the gradient passes
//! where neither replaced the value (0 ≤ x ≤ 6, or NaN) and is +0 elsewhere. Every choice is a
//! select, not a branch: whether an activation is negative is a coin toss that a branch
//! predictor loses half the time.

use rayon::prelude::*;

/// Elements per rayon task: large enough that scheduling is noise next to the loop.
const CHUNK: usize = 1 << 15;

/// `y = clamp(x, 0, 6)` and, per element, whether the gradient passes (1) or not (0).
pub fn relu6_forward(x: &[f32]) -> (Vec<f32>, Vec<u8>) {
    crate::threads::warm();
    let mut y = vec![0.0f32; x.len()];
    let mut pass = vec![0u8; x.len()];
    y.par_chunks_mut(CHUNK)
        .zip(pass.par_chunks_mut(CHUNK))
        .zip(x.par_chunks(CHUNK))
        .for_each(|((yc, pc), xc)| {
            crate::wide(
                #[inline(always)]
                || {
                    for ((y, p), &v) in yc.iter_mut().zip(pc.iter_mut()).zip(xc) {
                        let (high, low) = (v > 6.0, v < 0.0);
                        let kept = if high { 6.0 } else { v };
                        *y = if low { 0.0 } else { kept };
                        *p = u8::from(!(high | low));
                    }
                },
            )
        });
    (y, pass)
}

/// The input gradient: `dy` where the mask passes it, +0 elsewhere.
pub fn relu6_backward(pass: &[u8], dy: &[f32]) -> Vec<f32> {
    crate::threads::warm();
    let mut dx = vec![0.0f32; dy.len()];
    dx.par_chunks_mut(CHUNK)
        .zip(pass.par_chunks(CHUNK))
        .zip(dy.par_chunks(CHUNK))
        .for_each(|((dc, pc), gc)| {
            crate::wide(
                #[inline(always)]
                || {
                    for ((d, &p), &g) in dc.iter_mut().zip(pc).zip(gc) {
                        *d = if p != 0 { g } else { 0.0 };
                    }
                },
            )
        });
    dx
}
