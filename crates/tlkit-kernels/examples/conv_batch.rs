//! The MNIST-M network's convolution and pooling kernels at batch 64 and 128: does a sample
//! cost more at 128 (where a DANN step runs) than at 64?
//!
//! ```text
//! GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=268435456 \
//!   RAYON_NUM_THREADS=2 cargo run --release -p tlkit-kernels --example conv_batch
//! ```
//!
//! (The glibc setting is the one the `tlkit` binary makes; see `tlkit::backend`.) Prints, per
//! kernel and batch, the best time of 5 rounds of 20 calls, in microseconds per sample.

use std::time::Instant;

use tlkit_kernels::conv::{Geometry, forward, input_grad, weight_grad};
use tlkit_kernels::pool::{self, PoolGeometry};

/// `n` values in [−0.5, 0.5) from a fixed stream.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 40) as f32 / 16_777_216.0 - 0.5
        })
        .collect()
}

/// Microseconds per sample of `f` on a batch of `n`: best of 5 rounds of 20 calls.
fn per_sample(n: usize, mut f: impl FnMut()) -> f64 {
    let best = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..20 {
                f();
            }
            t.elapsed().as_secs_f64() / 20.0
        })
        .fold(f64::MAX, f64::min);
    best * 1e6 / n as f64
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("kernel | batch | µs per sample ({threads} threads)");
    for n in [64usize, 128] {
        for (name, x, w) in [
            ("conv1 3->32 k5", [n, 3, 28, 28], [32, 3, 5, 5]),
            ("conv2 32->48 k5", [n, 32, 12, 12], [48, 32, 5, 5]),
        ] {
            let g = Geometry::new(x, w, [1, 1], [(0, 0); 2], [1, 1], 1).expect("a geometry");
            let xs = values(x.iter().product(), 1);
            let ws = values(w.iter().product(), 2);
            let dy = values(n * w[0] * g.out_size[0] * g.out_size[1], 3);
            let f = per_sample(n, || drop(std::hint::black_box(forward(&g, &xs, &ws))));
            let d = per_sample(n, || drop(std::hint::black_box(input_grad(&g, &ws, &dy))));
            let wg = per_sample(n, || drop(std::hint::black_box(weight_grad(&g, &xs, &dy))));
            println!("{name} forward | {n} | {f:.1}");
            println!("{name} input grad | {n} | {d:.1}");
            println!("{name} weight grad | {n} | {wg:.1}");
        }
        for (name, x) in [("pool1 2x2", [n, 32, 24, 24]), ("pool2 2x2", [n, 48, 8, 8])] {
            let g = PoolGeometry::new(x, [2, 2], [2, 2], [0, 0]).expect("a geometry");
            let xs = values(x.iter().product(), 4);
            let (y, at) = pool::forward(&g, &xs);
            let f = per_sample(n, || drop(std::hint::black_box(pool::forward(&g, &xs))));
            let b = per_sample(n, || {
                drop(std::hint::black_box(pool::backward(&g, &at, &y)))
            });
            println!("{name} forward | {n} | {f:.1}");
            println!("{name} backward | {n} | {b:.1}");
        }
    }
}
