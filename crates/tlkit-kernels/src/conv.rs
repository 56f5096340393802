//! Host kernels of tlkit's own 2-D convolution: forward, input gradient and weight gradient on
//! contiguous `f32` buffers in PyTorch's layouts (`x` `[N, C_in, H, W]`, `w`
//! `[C_out, C_in/groups, kH, kW]`, `y` `[N, C_out, H_out, W_out]`).
//!
//! Two paths:
//! - **im2col + one matrix product per sample and group** (faer's `matmul`, sequential inside,
//!   rayon over the batch): `y_g = W_g · col(x_g)`, `dcol = W_gᵀ · dy_g` scattered back by
//!   col2im, `dW_g = Σ_n dy_g · col(x_g)ᵀ`. A 1×1 convolution with stride 1 and no padding
//!   skips im2col: the input plane is already the column matrix.
//! - **direct loops for depthwise convolutions** (one input channel per group, EfficientNet's
//!   3×3 and 5×5 layers), rayon over the `(sample, channel)` planes: a depthwise layer is a few
//!   multiply-adds per output value, so a matrix product would pay more in packing than it
//!   saves.
//!
//! Why not Burn 0.22.1's `flex` kernels: `flex` runs a 2-D convolution through its 3-D kernel,
//! its input gradient through a transposed convolution, and its grouped weight gradient one
//! group at a time through slices (see BENCHMARKS.md, "Training speed against PyTorch", for
//! the profile).
//!
//! The weight gradient sums over the batch in one partial per rayon thread, added in thread
//! order: for a given thread count the result is deterministic, and across thread counts it
//! differs only in summation order.

use faer::linalg::matmul::matmul;
use faer::{Accum, Par};
use rayon::prelude::*;

use crate::{depthwise, rows, rows_mut};

/// One of the three computations of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    Forward = 0,
    InputGrad = 1,
    WeightGrad = 2,
}

/// The sizes of one 2-D convolution, all derived from the input and weight shapes and the
/// options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub batch: usize,
    pub in_channels: usize,
    pub in_size: [usize; 2],
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Padding before the first row and column; the padding after them only sets `out_size`.
    pub pad_begin: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
    pub out_size: [usize; 2],
}

impl Geometry {
    /// The geometry of `x` `[N, C_in, H, W]` convolved with `w` `[C_out, C_in/groups, kH, kW]`;
    /// `padding` is `(begin, end)` per spatial axis. `None` when the shapes do not fit together
    /// (channels not divisible by `groups`, kernel larger than the padded input, a zero size).
    pub fn new(
        x: [usize; 4],
        w: [usize; 4],
        stride: [usize; 2],
        padding: [(usize, usize); 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Option<Self> {
        let [batch, in_channels, h, wd] = x;
        let [out_channels, cin_g, kh, kw] = w;
        if groups == 0
            || in_channels != cin_g * groups
            || out_channels % groups != 0
            || stride.contains(&0)
            || dilation.contains(&0)
            || kh == 0
            || kw == 0
        {
            return None;
        }
        let out = |axis: usize, size: usize, k: usize| {
            let (b, e) = padding[axis];
            let span = dilation[axis] * (k - 1) + 1;
            (size + b + e)
                .checked_sub(span)
                .map(|room| room / stride[axis] + 1)
        };
        Some(Geometry {
            batch,
            in_channels,
            in_size: [h, wd],
            out_channels,
            kernel: [kh, kw],
            stride,
            pad_begin: [padding[0].0, padding[1].0],
            dilation,
            groups,
            out_size: [out(0, h, kh)?, out(1, wd, kw)?],
        })
    }

    pub(super) fn cin_g(&self) -> usize {
        self.in_channels / self.groups
    }

    pub(super) fn cout_g(&self) -> usize {
        self.out_channels / self.groups
    }

    pub(super) fn in_plane(&self) -> usize {
        self.in_size[0] * self.in_size[1]
    }

    pub(super) fn out_plane(&self) -> usize {
        self.out_size[0] * self.out_size[1]
    }

    /// Rows of the im2col matrix of one group: `C_in/groups · kH · kW`.
    fn col_rows(&self) -> usize {
        self.cin_g() * self.kernel[0] * self.kernel[1]
    }

    /// One input channel per group: the direct loops apply.
    pub fn is_depthwise(&self) -> bool {
        self.cin_g() == 1 && self.groups > 1
    }

    /// A 1×1 convolution that reads every input pixel once in place: no im2col needed.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1]
            && self.stride == [1, 1]
            && self.pad_begin == [0, 0]
            && self.out_size == self.in_size
    }

    /// Stride 1 and every kernel position inside the input for every output (no padding on
    /// either side): each im2col row is a `H_out × W_out` window of the input plane.
    fn is_unpadded_stride_1(&self) -> bool {
        self.stride == [1, 1]
            && self.pad_begin == [0, 0]
            && (0..2).all(|a| {
                self.out_size[a] + self.dilation[a] * (self.kernel[a] - 1) == self.in_size[a]
            })
    }

    /// The name of this convolution's kernel path and `pass` in the kernel profile
    /// (tlkit's `nn::kernel_profile`).
    pub fn kind(&self, pass: Pass) -> &'static str {
        const NAMES: [[&str; 3]; 3] = [
            [
                "conv depthwise: forward",
                "conv depthwise: input grad",
                "conv depthwise: weight grad",
            ],
            [
                "conv 1x1: forward",
                "conv 1x1: input grad",
                "conv 1x1: weight grad",
            ],
            [
                "conv im2col: forward",
                "conv im2col: input grad",
                "conv im2col: weight grad",
            ],
        ];
        let path = if self.is_depthwise() {
            0
        } else if self.kernel == [1, 1] {
            1
        } else {
            2
        };
        NAMES[path][pass as usize]
    }

    /// The output positions `o` along `axis` whose input position `o·stride + k·dilation −
    /// pad_begin` lies inside the input, as a range `lo..hi`, and that offset
    /// `k·dilation − pad_begin`.
    fn valid(&self, axis: usize, k: usize) -> (usize, usize, isize) {
        let offset = (k * self.dilation[axis]) as isize - self.pad_begin[axis] as isize;
        let s = self.stride[axis] as isize;
        let size = self.in_size[axis] as isize;
        let out = self.out_size[axis] as isize;
        // o·s + offset ≥ 0  ⇔  o ≥ ceil(−offset / s); o·s + offset < size ⇔ o ≤ (size−1−offset)/s.
        let lo = if offset >= 0 {
            0
        } else {
            (-offset + s - 1) / s
        };
        let hi = if size - 1 - offset < 0 {
            0
        } else {
            ((size - 1 - offset) / s + 1).min(out)
        };
        (lo as usize, (hi.max(lo)) as usize, offset)
    }
}

/// Writes the im2col matrix of one sample's group `xg` (`[C_in/groups, H, W]`) into `col`
/// (`[C_in/groups · kH · kW, H_out · W_out]`, zeros where the kernel reads padding).
fn im2col(g: &Geometry, xg: &[f32], col: &mut [f32]) {
    if g.is_unpadded_stride_1() {
        im2col_windows(g, xg, col);
    } else {
        im2col_any(g, xg, col);
    }
}

/// Where each row of the im2col matrix starts in the group's input (`[C_in/groups, H, W]`)
/// without padding and with stride 1, in row order `(c, i, j)`: the top left of the window
/// that kernel tap `(i, j)` of channel `c` reads.
fn window_starts(g: &Geometry) -> impl Iterator<Item = usize> {
    let [h, w] = g.in_size;
    let [kh, kw] = g.kernel;
    let [dh, dw] = g.dilation;
    (0..g.cin_g()).flat_map(move |c| {
        (0..kh).flat_map(move |i| (0..kw).map(move |j| c * h * w + i * dh * w + j * dw))
    })
}

/// [`im2col`] without padding and with stride 1: each row a window of the plane, copied row by
/// row with no bounds to compute.
fn im2col_windows(g: &Geometry, xg: &[f32], col: &mut [f32]) {
    let (w, [ho, wo]) = (g.in_size[1], g.out_size);
    for (window, start) in col.chunks_exact_mut(ho * wo).zip(window_starts(g)) {
        for (oh, row) in window.chunks_exact_mut(wo).enumerate() {
            let at = start + oh * w;
            copy_row(row, &xg[at..at + wo]);
        }
    }
}

/// [`im2col`] for any stride, padding and dilation.
fn im2col_any(g: &Geometry, xg: &[f32], col: &mut [f32]) {
    let [h, w] = g.in_size;
    let [ho, wo] = g.out_size;
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let mut r = 0;
    for c in 0..g.cin_g() {
        let plane = &xg[c * h * w..(c + 1) * h * w];
        for i in 0..kh {
            let (oh_lo, oh_hi, oh_off) = g.valid(0, i);
            for j in 0..kw {
                let (ow_lo, ow_hi, ow_off) = g.valid(1, j);
                let dst = &mut col[r * ho * wo..(r + 1) * ho * wo];
                for oh in 0..ho {
                    let row = &mut dst[oh * wo..(oh + 1) * wo];
                    if oh < oh_lo || oh >= oh_hi || ow_lo >= ow_hi {
                        row.fill(0.0);
                        continue;
                    }
                    let ih = (oh * sh) as isize + oh_off;
                    let src = &plane[ih as usize * w..(ih as usize + 1) * w];
                    row[..ow_lo].fill(0.0);
                    row[ow_hi..].fill(0.0);
                    let start = (ow_lo * sw) as isize + ow_off;
                    if sw == 1 {
                        let n = ow_hi - ow_lo;
                        copy_row(
                            &mut row[ow_lo..ow_hi],
                            &src[start as usize..start as usize + n],
                        );
                    } else {
                        for (t, v) in row[ow_lo..ow_hi].iter_mut().enumerate() {
                            *v = src[start as usize + t * sw];
                        }
                    }
                }
                r += 1;
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short rows of im2col, inline in blocks of eight rather
/// than a `memcpy` call per row: a row is as long as the output is wide (8 floats in LeNet's
/// second convolution, copied thousands of times per sample). Measured only together with
/// [`im2col_windows`]; on its own, in the general loop, it did not change the kernel's time.
#[inline]
fn copy_row(dst: &mut [f32], src: &[f32]) {
    if dst.len() > 64 {
        dst.copy_from_slice(src);
        return;
    }
    let (d8, dt) = dst.as_chunks_mut::<8>();
    let (s8, st) = src[..d8.len() * 8 + dt.len()].as_chunks::<8>();
    for (d, s) in d8.iter_mut().zip(s8) {
        *d = *s;
    }
    for (d, s) in dt.iter_mut().zip(st) {
        *d = *s;
    }
}

/// Adds the im2col-shaped `col` back onto the input positions it was read from: the adjoint
/// of [`im2col`].
fn col2im(g: &Geometry, col: &[f32], dxg: &mut [f32]) {
    if g.is_unpadded_stride_1() {
        col2im_windows(g, col, dxg);
    } else {
        col2im_any(g, col, dxg);
    }
}

/// [`col2im`] without padding and with stride 1, the adjoint of [`im2col_windows`].
fn col2im_windows(g: &Geometry, col: &[f32], dxg: &mut [f32]) {
    let (w, [ho, wo]) = (g.in_size[1], g.out_size);
    for (window, start) in col.chunks_exact(ho * wo).zip(window_starts(g)) {
        for (oh, row) in window.chunks_exact(wo).enumerate() {
            let at = start + oh * w;
            for (d, v) in dxg[at..at + wo].iter_mut().zip(row) {
                *d += v;
            }
        }
    }
}

/// [`col2im`] for any stride, padding and dilation.
fn col2im_any(g: &Geometry, col: &[f32], dxg: &mut [f32]) {
    let [h, w] = g.in_size;
    let [ho, wo] = g.out_size;
    let [kh, kw] = g.kernel;
    let [sh, sw] = g.stride;
    let mut r = 0;
    for c in 0..g.cin_g() {
        let plane = &mut dxg[c * h * w..(c + 1) * h * w];
        for i in 0..kh {
            let (oh_lo, oh_hi, oh_off) = g.valid(0, i);
            for j in 0..kw {
                let (ow_lo, ow_hi, ow_off) = g.valid(1, j);
                let src = &col[r * ho * wo..(r + 1) * ho * wo];
                r += 1;
                if ow_lo >= ow_hi {
                    continue;
                }
                for oh in oh_lo..oh_hi {
                    let ih = ((oh * sh) as isize + oh_off) as usize;
                    let dst = &mut plane[ih * w..(ih + 1) * w];
                    let row = &src[oh * wo + ow_lo..oh * wo + ow_hi];
                    let start = ((ow_lo * sw) as isize + ow_off) as usize;
                    if sw == 1 {
                        for (d, v) in dst[start..start + row.len()].iter_mut().zip(row) {
                            *d += v;
                        }
                    } else {
                        for (t, v) in row.iter().enumerate() {
                            dst[start + t * sw] += v;
                        }
                    }
                }
            }
        }
    }
}

/// `y = conv2d(x, w)` without bias.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f32> {
    crate::threads::warm();
    let mut y = vec![0.0f32; g.batch * g.out_channels * g.out_plane()];
    if g.batch == 0 || y.is_empty() {
        return y;
    }
    if depthwise::applies(g) {
        depthwise::forward(g, x, w, &mut y);
        return y;
    }
    if g.is_depthwise() {
        depthwise_forward(g, x, w, &mut y);
        return y;
    }
    let (cin_g, cout_g, rows_k) = (g.cin_g(), g.cout_g(), g.col_rows());
    let (ip, op) = (g.in_plane(), g.out_plane());
    let col_len = if g.is_pointwise() { 0 } else { rows_k * op };
    y.par_chunks_mut(g.out_channels * op)
        .zip(x.par_chunks(g.in_channels * ip))
        .for_each_init(
            || vec![0.0f32; col_len],
            |col, (yn, xn)| {
                for grp in 0..g.groups {
                    let xg = &xn[grp * cin_g * ip..(grp + 1) * cin_g * ip];
                    let src: &[f32] = if g.is_pointwise() {
                        xg
                    } else {
                        im2col(g, xg, col);
                        col
                    };
                    let wg = &w[grp * cout_g * rows_k..(grp + 1) * cout_g * rows_k];
                    matmul(
                        rows_mut(
                            &mut yn[grp * cout_g * op..(grp + 1) * cout_g * op],
                            cout_g,
                            op,
                        ),
                        Accum::Replace,
                        rows(wg, cout_g, rows_k),
                        rows(src, rows_k, op),
                        1.0,
                        Par::Seq,
                    );
                }
            },
        );
    y
}

/// The gradient of the loss with respect to `x`, from `dy` (`[N, C_out, H_out, W_out]`).
pub fn input_grad(g: &Geometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    crate::threads::warm();
    let mut dx = vec![0.0f32; g.batch * g.in_channels * g.in_plane()];
    if g.batch == 0 || dx.is_empty() || g.out_plane() == 0 {
        return dx;
    }
    if depthwise::applies(g) {
        depthwise::input_grad(g, w, dy, &mut dx);
        return dx;
    }
    if g.is_depthwise() {
        depthwise_input_grad(g, w, dy, &mut dx);
        return dx;
    }
    let (cin_g, cout_g, rows_k) = (g.cin_g(), g.cout_g(), g.col_rows());
    let (ip, op) = (g.in_plane(), g.out_plane());
    let col_len = if g.is_pointwise() { 0 } else { rows_k * op };
    dx.par_chunks_mut(g.in_channels * ip)
        .zip(dy.par_chunks(g.out_channels * op))
        .for_each_init(
            || vec![0.0f32; col_len],
            |col, (dxn, dyn_)| {
                for grp in 0..g.groups {
                    let dyg = &dyn_[grp * cout_g * op..(grp + 1) * cout_g * op];
                    let wg = rows(
                        &w[grp * cout_g * rows_k..(grp + 1) * cout_g * rows_k],
                        cout_g,
                        rows_k,
                    );
                    let dxg = &mut dxn[grp * cin_g * ip..(grp + 1) * cin_g * ip];
                    let dst = if g.is_pointwise() {
                        rows_mut(dxg, rows_k, op)
                    } else {
                        rows_mut(col, rows_k, op)
                    };
                    let (a, b) = (wg.transpose(), rows(dyg, cout_g, op));
                    matmul(dst, Accum::Replace, a, b, 1.0, Par::Seq);
                    if !g.is_pointwise() {
                        col2im(g, col, dxg);
                    }
                }
            },
        );
    dx
}

/// The gradient of the loss with respect to `w`, from `x` and `dy`.
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    crate::threads::warm();
    let w_len = g.out_channels * g.col_rows();
    if g.batch == 0 || g.out_plane() == 0 {
        return vec![0.0; w_len];
    }
    if g.is_depthwise() {
        let mut dw = vec![0.0f32; w_len];
        if depthwise::applies(g) {
            depthwise::weight_grad(g, x, dy, &mut dw);
            return dw;
        }
        depthwise_weight_grad(g, x, dy, &mut dw);
        return dw;
    }
    let (cin_g, cout_g, rows_k) = (g.cin_g(), g.cout_g(), g.col_rows());
    let (ip, op) = (g.in_plane(), g.out_plane());
    let col_len = if g.is_pointwise() { 0 } else { rows_k * op };
    let parts = rayon::current_num_threads().clamp(1, g.batch);
    let per = g.batch.div_ceil(parts);
    let partials: Vec<Vec<f32>> = (0..parts)
        .into_par_iter()
        .map(|part| {
            let mut dw = vec![0.0f32; w_len];
            let mut col = vec![0.0f32; col_len];
            for n in part * per..((part + 1) * per).min(g.batch) {
                let xn = &x[n * g.in_channels * ip..(n + 1) * g.in_channels * ip];
                let dyn_ = &dy[n * g.out_channels * op..(n + 1) * g.out_channels * op];
                for grp in 0..g.groups {
                    let xg = &xn[grp * cin_g * ip..(grp + 1) * cin_g * ip];
                    let src: &[f32] = if g.is_pointwise() {
                        xg
                    } else {
                        im2col(g, xg, &mut col);
                        &col
                    };
                    let dyg = rows(
                        &dyn_[grp * cout_g * op..(grp + 1) * cout_g * op],
                        cout_g,
                        op,
                    );
                    let dwg = &mut dw[grp * cout_g * rows_k..(grp + 1) * cout_g * rows_k];
                    matmul(
                        rows_mut(dwg, cout_g, rows_k),
                        Accum::Add,
                        dyg,
                        rows(src, rows_k, op).transpose(),
                        1.0,
                        Par::Seq,
                    );
                }
            }
            dw
        })
        .collect();
    let mut parts = partials.into_iter();
    let mut dw = parts.next().unwrap_or_else(|| vec![0.0; w_len]);
    for p in parts {
        for (a, b) in dw.iter_mut().zip(p) {
            *a += b;
        }
    }
    dw
}

/// The input channel a depthwise output channel reads (`C_out/groups` outputs per input).
fn depthwise_source(g: &Geometry, co: usize) -> usize {
    co / g.cout_g()
}

fn depthwise_forward(g: &Geometry, x: &[f32], w: &[f32], y: &mut [f32]) {
    let (ip, op, kk) = (g.in_plane(), g.out_plane(), g.kernel[0] * g.kernel[1]);
    y.par_chunks_mut(op).enumerate().for_each(|(plane, yc)| {
        let (n, co) = (plane / g.out_channels, plane % g.out_channels);
        let ci = n * g.in_channels + depthwise_source(g, co);
        depthwise_plane(
            g,
            &x[ci * ip..(ci + 1) * ip],
            &w[co * kk..(co + 1) * kk],
            yc,
        );
    });
}

/// `yc += Σ_{i,j} wk[i,j] · xc[shifted by (i, j)]` over one plane.
fn depthwise_plane(g: &Geometry, xc: &[f32], wk: &[f32], yc: &mut [f32]) {
    crate::wide(
        #[inline(always)]
        || depthwise_plane_seq(g, xc, wk, yc),
    )
}

#[inline(always)]
fn depthwise_plane_seq(g: &Geometry, xc: &[f32], wk: &[f32], yc: &mut [f32]) {
    let w = g.in_size[1];
    let wo = g.out_size[1];
    let [sh, sw] = g.stride;
    for i in 0..g.kernel[0] {
        let (oh_lo, oh_hi, oh_off) = g.valid(0, i);
        for j in 0..g.kernel[1] {
            let (ow_lo, ow_hi, ow_off) = g.valid(1, j);
            if ow_lo >= ow_hi {
                continue;
            }
            let wv = wk[i * g.kernel[1] + j];
            let start = ((ow_lo * sw) as isize + ow_off) as usize;
            for oh in oh_lo..oh_hi {
                let ih = ((oh * sh) as isize + oh_off) as usize;
                let src = &xc[ih * w..(ih + 1) * w];
                let dst = &mut yc[oh * wo + ow_lo..oh * wo + ow_hi];
                if sw == 1 {
                    let n = dst.len();
                    for (d, s) in dst.iter_mut().zip(&src[start..start + n]) {
                        *d += wv * s;
                    }
                } else {
                    for (t, d) in dst.iter_mut().enumerate() {
                        *d += wv * src[start + t * sw];
                    }
                }
            }
        }
    }
}

fn depthwise_input_grad(g: &Geometry, w: &[f32], dy: &[f32], dx: &mut [f32]) {
    let (ip, op, kk) = (g.in_plane(), g.out_plane(), g.kernel[0] * g.kernel[1]);
    let (wd, wo) = (g.in_size[1], g.out_size[1]);
    let [sh, sw] = g.stride;
    let m = g.cout_g();
    dx.par_chunks_mut(ip).enumerate().for_each(|(plane, dxc)| {
        crate::wide(
            #[inline(always)]
            || {
                let (n, ci) = (plane / g.in_channels, plane % g.in_channels);
                for co in ci * m..(ci + 1) * m {
                    let dyc =
                        &dy[(n * g.out_channels + co) * op..(n * g.out_channels + co + 1) * op];
                    let wk = &w[co * kk..(co + 1) * kk];
                    for i in 0..g.kernel[0] {
                        let (oh_lo, oh_hi, oh_off) = g.valid(0, i);
                        for j in 0..g.kernel[1] {
                            let (ow_lo, ow_hi, ow_off) = g.valid(1, j);
                            if ow_lo >= ow_hi {
                                continue;
                            }
                            let wv = wk[i * g.kernel[1] + j];
                            let start = ((ow_lo * sw) as isize + ow_off) as usize;
                            for oh in oh_lo..oh_hi {
                                let ih = ((oh * sh) as isize + oh_off) as usize;
                                let dst = &mut dxc[ih * wd..(ih + 1) * wd];
                                let src = &dyc[oh * wo + ow_lo..oh * wo + ow_hi];
                                if sw == 1 {
                                    for (d, s) in dst[start..start + src.len()].iter_mut().zip(src)
                                    {
                                        *d += wv * s;
                                    }
                                } else {
                                    for (t, s) in src.iter().enumerate() {
                                        dst[start + t * sw] += wv * s;
                                    }
                                }
                            }
                        }
                    }
                }
            },
        )
    });
}

fn depthwise_weight_grad(g: &Geometry, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    let (ip, op, kk) = (g.in_plane(), g.out_plane(), g.kernel[0] * g.kernel[1]);
    let (wd, wo) = (g.in_size[1], g.out_size[1]);
    let [sh, sw] = g.stride;
    dw.par_chunks_mut(kk).enumerate().for_each(|(co, dwk)| {
        crate::wide(
            #[inline(always)]
            || {
                let ci = depthwise_source(g, co);
                for n in 0..g.batch {
                    let xc = &x[(n * g.in_channels + ci) * ip..(n * g.in_channels + ci + 1) * ip];
                    let dyc =
                        &dy[(n * g.out_channels + co) * op..(n * g.out_channels + co + 1) * op];
                    for i in 0..g.kernel[0] {
                        let (oh_lo, oh_hi, oh_off) = g.valid(0, i);
                        for j in 0..g.kernel[1] {
                            let (ow_lo, ow_hi, ow_off) = g.valid(1, j);
                            if ow_lo >= ow_hi {
                                continue;
                            }
                            let start = ((ow_lo * sw) as isize + ow_off) as usize;
                            let mut acc = 0.0f32;
                            for oh in oh_lo..oh_hi {
                                let ih = ((oh * sh) as isize + oh_off) as usize;
                                let src = &xc[ih * wd..(ih + 1) * wd];
                                let d = &dyc[oh * wo + ow_lo..oh * wo + ow_hi];
                                if sw == 1 {
                                    acc += dot(d, &src[start..start + d.len()]);
                                } else {
                                    for (t, a) in d.iter().enumerate() {
                                        acc += a * src[start + t * sw];
                                    }
                                }
                            }
                            dwk[i * g.kernel[1] + j] += acc;
                        }
                    }
                }
            },
        )
    });
}

/// `Σ a·b` ([`crate::lanes_sum`]).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    crate::lanes_sum(a, b, |x, y| x * y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distinct values, so that a wrong source position shows.
    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32 * 0.5 - 7.0).collect()
    }

    /// The unpadded stride-1 paths copy and add exactly what the general loops do, with
    /// dilation, non-square kernels and grouped channels.
    #[test]
    fn window_paths_are_the_general_loops() {
        let cases = [
            ([1, 2, 12, 12], [3, 2, 5, 5], [1, 1], 1),
            ([1, 3, 9, 7], [2, 3, 3, 2], [1, 1], 1),
            ([1, 2, 11, 12], [3, 2, 3, 3], [2, 3], 1),
            ([1, 4, 6, 6], [4, 2, 3, 1], [1, 1], 2),
        ];
        for (x, w, dilation, groups) in cases {
            let g = Geometry::new(x, w, [1, 1], [(0, 0); 2], dilation, groups).expect("fits");
            assert!(g.is_unpadded_stride_1(), "{x:?} {w:?}");
            let xg = ramp(g.cin_g() * g.in_plane());
            let n = g.col_rows() * g.out_plane();
            let (mut fast, mut slow) = (vec![f32::NAN; n], vec![f32::NAN; n]);
            im2col_windows(&g, &xg, &mut fast);
            im2col_any(&g, &xg, &mut slow);
            assert_eq!(fast, slow, "im2col {x:?} {w:?} {dilation:?}");
            let col = ramp(n);
            let (mut fast, mut slow) = (xg.clone(), xg.clone());
            col2im_windows(&g, &col, &mut fast);
            col2im_any(&g, &col, &mut slow);
            assert_eq!(fast, slow, "col2im {x:?} {w:?} {dilation:?}");
        }
        // Padding at the end only, or a stride of 2: the general loops.
        let end_only = Geometry::new([1, 1, 8, 8], [1, 1, 3, 3], [1, 1], [(0, 1); 2], [1, 1], 1);
        let strided = Geometry::new([1, 1, 8, 8], [1, 1, 3, 3], [2, 2], [(0, 0); 2], [1, 1], 1);
        for g in [end_only, strided] {
            assert!(!g.expect("fits").is_unpadded_stride_1());
        }
    }

    /// Short, long and ragged rows: the block copy is `copy_from_slice`.
    #[test]
    fn copy_row_copies() {
        for n in [0, 1, 7, 8, 9, 24, 64, 65, 100] {
            let src = ramp(n + 3);
            let mut dst = vec![0.0; n];
            copy_row(&mut dst, &src[..n]);
            assert_eq!(dst, src[..n]);
        }
    }
}
