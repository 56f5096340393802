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
    let (ip, op) = (g.in_plane(), g.out_plane());
    let mut y = vec![0.0f32; g.planes * op];
    let mut at = vec![0u32; g.planes * op];
    if op == 0 {
        return (y, at);
    }
    let w = g.in_size[1];
    y.par_chunks_mut(op)
        .zip(at.par_chunks_mut(op))
        .zip(x.par_chunks(ip))
        .for_each(|((yc, ac), xc)| {
            if g.kernel == [2, 2] && g.stride == [2, 2] && g.padding == [0, 0] {
                pool_2x2(g, xc, yc, ac);
                return;
            }
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
        });
    (y, at)
}

/// The 2×2 windows of stride 2 without padding (LeNet's, the MNIST-M network's): no window
/// bounds to compute, the four candidates in the general loop's order.
fn pool_2x2(g: &PoolGeometry, xc: &[f32], yc: &mut [f32], ac: &mut [u32]) {
    let (w, wo) = (g.in_size[1], g.out_size[1]);
    for (oh, (yr, ar)) in yc.chunks_mut(wo).zip(ac.chunks_mut(wo)).enumerate() {
        let top = 2 * oh * w;
        let (r0, r1) = (&xc[top..top + 2 * wo], &xc[top + w..top + w + 2 * wo]);
        for (ow, (y, a)) in yr.iter_mut().zip(ar.iter_mut()).enumerate() {
            let c = 2 * ow;
            let (mut best, mut pos) = (r0[c], c);
            for (v, p) in [(r0[c + 1], c + 1), (r1[c], w + c), (r1[c + 1], w + c + 1)] {
                if v > best || v.is_nan() {
                    best = v;
                    pos = p;
                }
            }
            *y = best;
            *a = (top + pos) as u32;
        }
    }
}

/// The input gradient: each output gradient added at the position of its maximum.
pub fn backward(g: &PoolGeometry, at: &[u32], dy: &[f32]) -> Vec<f32> {
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
