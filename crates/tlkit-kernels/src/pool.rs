//! Max pooling with the position of each maximum (`u32` in the input plane), and its input
//! gradient.

use rayon::prelude::*;

/// The sizes of one max pooling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeometry {
    /// `N · C`: pooling treats every channel of every sample alike.
    pub planes: usize,
    pub in_size: [usize; 2],
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub out_size: [usize; 2],
}

impl PoolGeometry {
    /// The geometry of pooling `x` `[N, C, H, W]`; `None` for a zero kernel or stride, padding
    /// not smaller than the kernel (a window could hold padding only), no output, or a plane
    /// too large for `u32` positions.
    pub fn new(
        x: [usize; 4],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
    ) -> Option<Self> {
        let [n, c, h, w] = x;
        if kernel.contains(&0)
            || stride.contains(&0)
            || (0..2).any(|a| padding[a] >= kernel[a])
            || u32::try_from(h * w).is_err()
        {
            return None;
        }
        let out = |a: usize, size: usize| {
            (size + 2 * padding[a])
                .checked_sub(kernel[a])
                .map(|room| room / stride[a] + 1)
        };
        Some(PoolGeometry {
            planes: n * c,
            in_size: [h, w],
            kernel,
            stride,
            padding,
            out_size: [out(0, h)?, out(1, w)?],
        })
    }

    fn in_plane(&self) -> usize {
        self.in_size[0] * self.in_size[1]
    }

    fn out_plane(&self) -> usize {
        self.out_size[0] * self.out_size[1]
    }

    /// The input rows (or columns) `lo..hi` that output `o` reads along `axis`.
    fn window(&self, axis: usize, o: usize) -> (usize, usize) {
        let start = (o * self.stride[axis]) as isize - self.padding[axis] as isize;
        let end = start + self.kernel[axis] as isize;
        (
            start.max(0) as usize,
            (end.min(self.in_size[axis] as isize)) as usize,
        )
    }
}

/// The pooled values and, per output, the position of its maximum in the input plane.
pub fn forward(g: &PoolGeometry, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    crate::threads::warm();
    let (ip, op) = (g.in_plane(), g.out_plane());
    let mut y = vec![0.0f32; g.planes * op];
    let mut at = vec![0u32; g.planes * op];
    if op == 0 {
        return (y, at);
    }
    y.par_chunks_mut(op)
        .zip(at.par_chunks_mut(op))
        .zip(x.par_chunks(ip))
        .for_each(|((yc, ac), xc)| {
            if g.kernel == [2, 2] && g.stride == [2, 2] && g.padding == [0, 0] {
                crate::wide(
                    #[inline(always)]
                    || pool_2x2(g, xc, yc, ac),
                );
                return;
            }
            pool_any(g, xc, yc, ac);
        });
    (y, at)
}

/// Any window, stride and padding: the first maximum in row-major window order, and a NaN
/// takes the place of anything before it (so the last NaN of a window wins), as in Burn.
fn pool_any(g: &PoolGeometry, xc: &[f32], yc: &mut [f32], ac: &mut [u32]) {
    let w = g.in_size[1];
    for oh in 0..g.out_size[0] {
        let (h0, h1) = g.window(0, oh);
        for ow in 0..g.out_size[1] {
            let (w0, w1) = g.window(1, ow);
            let (mut best, mut pos) = (f32::NEG_INFINITY, u32::MAX);
            for ih in h0..h1 {
                for iw in w0..w1 {
                    let v = xc[ih * w + iw];
                    if pos == u32::MAX || v > best || v.is_nan() {
                        best = v;
                        pos = (ih * w + iw) as u32;
                    }
                }
            }
            yc[oh * g.out_size[1] + ow] = best;
            ac[oh * g.out_size[1] + ow] = pos;
        }
    }
}

/// The 2×2 windows of stride 2 without padding (LeNet's, the MNIST-M network's): no window
/// bounds to compute, the four candidates in the general loop's order. The choice of each
/// candidate is a select, not a branch: on real activations which of four values is largest
/// is a coin toss that a branch predictor loses half the time.
#[inline(always)]
fn pool_2x2(g: &PoolGeometry, xc: &[f32], yc: &mut [f32], ac: &mut [u32]) {
    let (w, wo) = (g.in_size[1], g.out_size[1]);
    for (oh, (yr, ar)) in yc.chunks_mut(wo).zip(ac.chunks_mut(wo)).enumerate() {
        let top = 2 * oh * w;
        let (r0, r1) = (&xc[top..top + 2 * wo], &xc[top + w..top + w + 2 * wo]);
        let pairs = r0.chunks_exact(2).zip(r1.chunks_exact(2));
        // Positions as `u32` (the plane fits, `PoolGeometry::new` checks): 64-bit lanes would
        // halve the vector width.
        let (top, w) = (top as u32, w as u32);
        for (ow, ((y, a), (p0, p1))) in (0u32..).zip(yr.iter_mut().zip(ar.iter_mut()).zip(pairs)) {
            let (mut best, mut pos) = (p0[0], 0u32);
            for (v, p) in [(p0[1], 1), (p1[0], w), (p1[1], w + 1)] {
                // The general loop's rule: a larger value or a NaN takes the place.
                let take = (v > best) | v.is_nan();
                best = if take { v } else { best };
                pos = if take { p } else { pos };
            }
            *y = best;
            *a = top + 2 * ow + pos;
        }
    }
}

/// The input gradient: each output gradient added at the position of its maximum.
pub fn backward(g: &PoolGeometry, at: &[u32], dy: &[f32]) -> Vec<f32> {
    crate::threads::warm();
    let (ip, op) = (g.in_plane(), g.out_plane());
    let mut dx = vec![0.0f32; g.planes * ip];
    if op == 0 {
        return dx;
    }
    dx.par_chunks_mut(ip)
        .zip(at.par_chunks(op).zip(dy.par_chunks(op)))
        .for_each(|(dxc, (ac, dyc))| {
            for (&p, &d) in ac.iter().zip(dyc) {
                dxc[p as usize] += d;
            }
        });
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ties, NaNs (one or several in a window), infinities and signed zeros: the 2×2 path
    /// picks the same value and the same position as the general loop.
    #[test]
    fn the_2x2_path_is_the_general_loop() {
        let special = [
            0.0,
            -0.0,
            1.0,
            1.0,
            -1.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.5,
        ];
        for (shape, seed) in [
            ([2, 3, 8, 8], 1u64),
            ([1, 2, 9, 7], 2),
            ([1, 1, 2, 2], 3),
            ([2, 2, 24, 24], 4),
            ([1, 3, 13, 30], 5),
        ] {
            let n: usize = shape.iter().product();
            let mut state = seed;
            let x: Vec<f32> = (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    special[(state >> 33) as usize % special.len()]
                })
                .collect();
            let g = PoolGeometry::new(shape, [2, 2], [2, 2], [0, 0]).expect("a geometry");
            let (y, at) = forward(&g, &x);
            let op = g.out_plane();
            let (mut y_ref, mut at_ref) = (vec![0.0; y.len()], vec![0; at.len()]);
            for ((xc, yc), ac) in x
                .chunks(g.in_plane())
                .zip(y_ref.chunks_mut(op))
                .zip(at_ref.chunks_mut(op))
            {
                pool_any(&g, xc, yc, ac);
            }
            assert_eq!(at, at_ref, "positions, {shape:?}");
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&y_ref), "values, {shape:?}");
        }
    }
}
