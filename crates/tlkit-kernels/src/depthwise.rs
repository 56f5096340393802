//! Depthwise convolutions with stride 1 over a zero-padded copy of each plane, as long
//! contiguous multiply-adds (EfficientNet's 3×3 and 5×5 layers between its strided ones).
//!
//! With the input plane copied into a zero-padded buffer `P` of width `wp = W_out + (kW−1)·dW`,
//! an output computed on the same width (`Y'`, `H_out × wp`, its last `wp − W_out` columns
//! thrown away) is, for every kernel tap `(i, j)`, one multiply-add over the whole plane:
//!
//! ```text
//! Y'[p] += w[i, j] · P[p + i·dH·wp + j·dW]      for p in 0 .. H_out·wp
//! ```
//!
//! A tap is then a single vectorised loop of `H_out·wp` values however narrow the plane (4×4
//! and 7×7 in EfficientNet-Lite0's late layers at 112 px), where row-by-row loops spend their
//! time on bounds and loop overhead. The input gradient scatters the same way into a padded
//! `∂P` (`∂P[p + off] += w · ∂Y'[p]`, `∂Y'` zero in the extra columns) and the weight gradient
//! is one dot product per tap (`∂w[i, j] = Σ_p ∂Y'[p] · P[p + off]`). Strided depthwise layers
//! keep the row loops of [`crate::conv`].

use rayon::prelude::*;

use crate::conv::{Geometry, dot};

/// The padded plane of one convolution: its width, the offset of each kernel tap, and the
/// buffer lengths.
struct Padded {
    wp: usize,
    /// `P`'s length: `hp·wp` plus the overhang of the last tap's reads.
    p_len: usize,
    /// `H_out · wp`.
    y_len: usize,
    taps: Vec<usize>,
}

impl Padded {
    fn new(g: &Geometry) -> Self {
        let [ho, wo] = g.out_size;
        let [kh, kw] = g.kernel;
        let [dh, dw] = g.dilation;
        let wp = wo + (kw - 1) * dw;
        let hp = ho + (kh - 1) * dh;
        let taps = (0..kh)
            .flat_map(|i| (0..kw).map(move |j| i * dh * wp + j * dw))
            .collect();
        Padded {
            wp,
            p_len: hp * wp + (kw - 1) * dw,
            y_len: ho * wp,
            taps,
        }
    }

    /// Per axis, how many leading input rows (columns) land inside `P`, and at which offset
    /// (`pad_begin`): input index `r` sits at `P` index `r + pad_begin`.
    fn inside(&self, g: &Geometry) -> [(usize, usize); 2] {
        let hp = g.out_size[0] + (g.kernel[0] - 1) * g.dilation[0];
        let extent = [hp, self.wp];
        std::array::from_fn(|a| {
            let pad = g.pad_begin[a];
            (g.in_size[a].min(extent[a].saturating_sub(pad)), pad)
        })
    }

    /// Copies the input plane `xc` into `p` (zeros around it).
    fn fill(&self, g: &Geometry, xc: &[f32], p: &mut [f32]) {
        p.fill(0.0);
        let [(rows, pt), (cols, pl)] = self.inside(g);
        let w = g.in_size[1];
        for r in 0..rows {
            let dst = (r + pt) * self.wp + pl;
            p[dst..dst + cols].copy_from_slice(&xc[r * w..r * w + cols]);
        }
    }

    /// Copies the output plane `yc` (`H_out × W_out`) into the padded-width `y` (zeros in the
    /// extra columns).
    fn spread(&self, g: &Geometry, yc: &[f32], y: &mut [f32]) {
        let wo = g.out_size[1];
        y.fill(0.0);
        for (dst, src) in y.chunks_mut(self.wp).zip(yc.chunks(wo)) {
            dst[..wo].copy_from_slice(src);
        }
    }
}

/// Whether these kernels apply: depthwise with stride 1.
pub(crate) fn applies(g: &Geometry) -> bool {
    g.is_depthwise() && g.stride == [1, 1]
}

fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    crate::wide(
        #[inline(always)]
        || {
            for (o, v) in y.iter_mut().zip(x) {
                *o += a * v;
            }
        },
    )
}

pub(crate) fn forward(g: &Geometry, x: &[f32], w: &[f32], y: &mut [f32]) {
    let pd = Padded::new(g);
    let (ip, op, kk) = (g.in_plane(), g.out_plane(), pd.taps.len());
    let wo = g.out_size[1];
    y.par_chunks_mut(op).enumerate().for_each_init(
        || (vec![0.0f32; pd.p_len], vec![0.0f32; pd.y_len]),
        |(p, yp), (plane, yc)| {
            let (n, co) = (plane / g.out_channels, plane % g.out_channels);
            let ci = n * g.in_channels + co / g.cout_g();
            pd.fill(g, &x[ci * ip..(ci + 1) * ip], p);
            yp.fill(0.0);
            for (&off, &wv) in pd.taps.iter().zip(&w[co * kk..(co + 1) * kk]) {
                axpy(wv, &p[off..off + pd.y_len], yp);
            }
            for (dst, src) in yc.chunks_mut(wo).zip(yp.chunks(pd.wp)) {
                dst.copy_from_slice(&src[..wo]);
            }
        },
    );
}

pub(crate) fn input_grad(g: &Geometry, w: &[f32], dy: &[f32], dx: &mut [f32]) {
    let pd = Padded::new(g);
    let (ip, op, kk, m) = (g.in_plane(), g.out_plane(), pd.taps.len(), g.cout_g());
    let [(rows, pt), (cols, pl)] = pd.inside(g);
    let wd = g.in_size[1];
    dx.par_chunks_mut(ip).enumerate().for_each_init(
        || (vec![0.0f32; pd.p_len], vec![0.0f32; pd.y_len]),
        |(dp, dyp), (plane, dxc)| {
            let (n, ci) = (plane / g.in_channels, plane % g.in_channels);
            dp.fill(0.0);
            for co in ci * m..(ci + 1) * m {
                let at = (n * g.out_channels + co) * op;
                pd.spread(g, &dy[at..at + op], dyp);
                for (&off, &wv) in pd.taps.iter().zip(&w[co * kk..(co + 1) * kk]) {
                    axpy(wv, dyp, &mut dp[off..off + pd.y_len]);
                }
            }
            // Inputs outside P are read by no window: their gradient stays zero.
            for r in 0..rows {
                let src = (r + pt) * pd.wp + pl;
                dxc[r * wd..r * wd + cols].copy_from_slice(&dp[src..src + cols]);
            }
        },
    );
}

pub(crate) fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    let pd = Padded::new(g);
    let (ip, op, kk) = (g.in_plane(), g.out_plane(), pd.taps.len());
    dw.par_chunks_mut(kk).enumerate().for_each_init(
        || (vec![0.0f32; pd.p_len], vec![0.0f32; pd.y_len]),
        |(p, dyp), (co, dwk)| {
            let ci = co / g.cout_g();
            for n in 0..g.batch {
                let xi = (n * g.in_channels + ci) * ip;
                let yi = (n * g.out_channels + co) * op;
                pd.fill(g, &x[xi..xi + ip], p);
                pd.spread(g, &dy[yi..yi + op], dyp);
                for (d, &off) in dwk.iter_mut().zip(&pd.taps) {
                    *d += dot(dyp, &p[off..off + pd.y_len]);
                }
            }
        },
    );
}
