//! Max pooling with the position of each maximum (`u32` in the input plane), and its input
//! gradient.
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
    let square_2x2 = g.kernel == [2, 2] && g.stride == [2, 2] && g.padding == [0, 0];
    crate::zeroed_by_plane_pairs(g.planes, op, |plane, yc, ac| {
        let xc = &x[plane * ip..(plane + 1) * ip];
        if square_2x2 {
            crate::wide(
                #[inline(always)]
                || pool_2x2(g, xc, yc, ac),
            );
        } else {
            pool_any(g, xc, yc, ac);
        }
    })
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
/// bounds to compute. The four candidates are picked as a tree, the two pairs of each row first
/// and then the two rows' winners, which is the general loop's order: without NaNs each pick
/// keeps the first of equal values, so the tree finds the first maximum in row-major order; a
/// NaN takes the place in every pick, so the last NaN of the window wins.
///
/// Every pick is a mask, not a branch: on real activations which of four values is largest is
/// a coin toss that a branch predictor loses half the time. On x86-64 four outputs at a time
/// are picked in SSE2 registers (the rows here are short, 4 to 12 outputs in the networks of
/// BENCHMARKS.md, too short for the compiler's vector loop, whose scalar remainder took most
/// of the time); the rest of a row, and other targets, go one output at a time.
#[inline(always)]
fn pool_2x2(g: &PoolGeometry, xc: &[f32], yc: &mut [f32], ac: &mut [u32]) {
    let (w, wo) = (g.in_size[1], g.out_size[1]);
    for (oh, (yr, ar)) in yc.chunks_mut(wo).zip(ac.chunks_mut(wo)).enumerate() {
        let top = 2 * oh * w;
        let (r0, r1) = (&xc[top..top + 2 * wo], &xc[top + w..top + w + 2 * wo]);
        // Positions as `u32`: the plane fits, `PoolGeometry::new` checks.
        let (top, w) = (top as u32, w as u32);
        #[cfg(target_arch = "x86_64")]
        let done = sse::row(r0, r1, yr, ar, top, w);
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        let outputs = yr[done..].iter_mut().zip(&mut ar[done..]);
        let pairs = r0[2 * done..]
            .chunks_exact(2)
            .zip(r1[2 * done..].chunks_exact(2));
        for (ow, ((y, a), (p0, p1))) in (done as u32..).zip(outputs.zip(pairs)) {
            let (v0, q0) = pick(p0[0], 0, p0[1], 1);
            let (v1, q1) = pick(p1[0], w, p1[1], w + 1);
            let (v, q) = pick(v0, q0, v1, q1);
            *y = v;
            *a = top + 2 * ow + q;
        }
    }
}

/// The 2×2 picks four outputs at a time in SSE2 registers. SSE2 is part of every x86-64 CPU
/// (the target's baseline), so its operations need no detection; the `unsafe` blocks below are
/// for that (the compiler asks it of every intrinsic called outside a `#[target_feature]`
/// function) and for the unaligned loads and stores, whose ranges are checked slices.
#[cfg(target_arch = "x86_64")]
mod sse {
    use std::arch::x86_64::*;

    /// Pools the first `4·k` outputs of one output row from its two input rows `r0`, `r1`
    /// (`2·wo` values each); returns how many it wrote. `top` is `r0`'s offset in the plane,
    /// `w` the plane's width.
    #[inline(always)]
    pub(super) fn row(
        r0: &[f32],
        r1: &[f32],
        yr: &mut [f32],
        ar: &mut [u32],
        top: u32,
        w: u32,
    ) -> usize {
        let quads = yr.len().min(ar.len()).min(r0.len() / 2).min(r1.len() / 2) / 4;
        // The positions are below 2³¹ (`PoolGeometry::new` checks the plane against `u32`, and
        // a plane of 2³¹ floats would not be allocated), so `i32` lanes hold them.
        let (top, w) = (top as i32, w as i32);
        // SAFETY: SSE2 only (see the module); each store's slice holds the four values stored.
        unsafe {
            let (zero, one, below) = (_mm_setzero_si128(), _mm_set1_epi32(1), _mm_set1_epi32(w));
            let below_right = _mm_add_epi32(below, one);
            let mut left = _mm_setr_epi32(top, top + 2, top + 4, top + 6);
            for k in 0..quads {
                let (a, b) = halves(&r0[8 * k..8 * k + 8]);
                let (c, d) = halves(&r1[8 * k..8 * k + 8]);
                let (v0, q0) = pick(a, zero, b, one);
                let (v1, q1) = pick(c, below, d, below_right);
                let (v, q) = pick(v0, q0, v1, q1);
                let y = &mut yr[4 * k..4 * k + 4];
                let at = &mut ar[4 * k..4 * k + 4];
                _mm_storeu_ps(y.as_mut_ptr(), v);
                _mm_storeu_si128(at.as_mut_ptr().cast(), _mm_add_epi32(left, q));
                left = _mm_add_epi32(left, _mm_set1_epi32(8));
            }
        }
        4 * quads
    }

    /// The even and the odd columns of eight values.
    #[inline(always)]
    fn halves(x: &[f32]) -> (__m128, __m128) {
        assert!(x.len() >= 8);
        // SAFETY: SSE2 only (see the module); `x` holds the eight values loaded.
        unsafe {
            let (lo, hi) = (_mm_loadu_ps(x.as_ptr()), _mm_loadu_ps(x.as_ptr().add(4)));
            (
                _mm_shuffle_ps::<0b10_00_10_00>(lo, hi),
                _mm_shuffle_ps::<0b11_01_11_01>(lo, hi),
            )
        }
    }

    /// [`super::pick`] on four lanes.
    #[inline(always)]
    fn pick(best: __m128, at: __m128i, v: __m128, p: __m128i) -> (__m128, __m128i) {
        // SAFETY: SSE2 only (see the module).
        unsafe {
            let take = _mm_or_ps(_mm_cmpgt_ps(v, best), _mm_cmpunord_ps(v, v));
            let value = _mm_or_ps(_mm_and_ps(take, v), _mm_andnot_ps(take, best));
            let t = _mm_castps_si128(take);
            (
                value,
                _mm_or_si128(_mm_and_si128(t, p), _mm_andnot_si128(t, at)),
            )
        }
    }
}

/// The general loop's rule for a candidate `v` at `p` against the best so far: a larger value
/// or a NaN takes the place. Bit masks: the compiler made a branch of a select here.
#[inline(always)]
fn pick(best: f32, at: u32, v: f32, p: u32) -> (f32, u32) {
    let take = ((v > best) | v.is_nan()) as u32;
    let keep = take.wrapping_sub(1);
    let value = (v.to_bits() & !keep) | (best.to_bits() & keep);
    (f32::from_bits(value), (p & !keep) | (at & keep))
}

/// The input gradient: each output gradient added at the position of its maximum.
pub fn backward(g: &PoolGeometry, at: &[u32], dy: &[f32]) -> Vec<f32> {
    crate::threads::warm();
    let (ip, op) = (g.in_plane(), g.out_plane());
    if op == 0 || ip == 0 {
        return vec![0.0f32; g.planes * ip];
    }
    crate::zeroed_by_planes(g.planes, ip, |plane, dxc| {
        let (ac, dyc) = (
            &at[plane * op..(plane + 1) * op],
            &dy[plane * op..(plane + 1) * op],
        );
        for (&p, &d) in ac.iter().zip(dyc) {
            dxc[p as usize] += d;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A batch of no samples gives empty buffers, through the planes' path too.
    #[test]
    fn an_empty_batch_gives_empty_buffers() {
        for (kernel, stride) in [([2, 2], [2, 2]), ([3, 3], [1, 1])] {
            let g = PoolGeometry::new([0, 3, 6, 6], kernel, stride, [0, 0]).expect("a geometry");
            let (y, at) = forward(&g, &[]);
            assert!(y.is_empty() && at.is_empty());
            assert!(backward(&g, &at, &y).is_empty());
        }
    }

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
