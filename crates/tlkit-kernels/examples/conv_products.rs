//! Would blocking the convolutions' per-sample matrix products over several samples make them
//! faster? Times faer's product at the shapes of the MNIST-M network's convolutions, one sample
//! per product (what `tlkit_kernels::conv` does) against blocks of 2–16 samples in one product.
//!
//! ```text
//! cargo run --release -p tlkit-kernels --example conv_products
//! ```
//!
//! One thread, no rayon; the best of 7 rounds of 64 samples. Each product reuses its operands,
//! so this measures the products alone, with their data in cache.

use std::time::Instant;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};

/// One product `C (m × n) = A (m × k) · B (k × n)` shape, `reps` times per round.
struct Shape {
    m: usize,
    k: usize,
    n: usize,
    /// `A` is stored as its transpose (`k × m`), as the input gradient's `Wᵀ` is.
    a_transposed: bool,
    /// `B` is stored as its transpose (`n × k`), as the weight gradient's `col(x)ᵀ` is.
    b_transposed: bool,
    /// The product is added to `C` (the weight gradient accumulates over samples).
    add: bool,
}

/// The best time of 7 rounds of `reps` products, in seconds.
fn time(s: &Shape, reps: usize) -> f64 {
    let value = |i: usize, j: usize| ((i * 7 + j * 3) % 11) as f32 * 0.1;
    let a = if s.a_transposed {
        Mat::<f32>::from_fn(s.k, s.m, value)
    } else {
        Mat::<f32>::from_fn(s.m, s.k, value)
    };
    let b = if s.b_transposed {
        Mat::<f32>::from_fn(s.n, s.k, value)
    } else {
        Mat::<f32>::from_fn(s.k, s.n, value)
    };
    let mut c = Mat::<f32>::zeros(s.m, s.n);
    let accum = if s.add { Accum::Add } else { Accum::Replace };
    (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                let av = if s.a_transposed {
                    a.transpose()
                } else {
                    a.as_ref()
                };
                let bv = if s.b_transposed {
                    b.transpose()
                } else {
                    b.as_ref()
                };
                matmul(c.as_mut(), accum, av, bv, 1.0, Par::Seq);
            }
            t.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    const SAMPLES: usize = 64;
    // (name, C_out, rows of im2col = C_in·kH·kW, output plane H_out·W_out)
    let convs = [
        ("conv1 3->32 k5, 28x28", 32, 75, 576),
        ("conv2 32->48 k5, 12x12", 48, 800, 64),
    ];
    println!("layer | pass | samples per product | ms per {SAMPLES} samples | GFLOP/s");
    for (name, cout, rows, plane) in convs {
        for pass in ["forward", "input grad", "weight grad"] {
            for block in [1usize, 2, 4, 8, 16] {
                let shape = match pass {
                    "forward" => Shape {
                        m: cout,
                        k: rows,
                        n: plane * block,
                        a_transposed: false,
                        b_transposed: false,
                        add: false,
                    },
                    "input grad" => Shape {
                        m: rows,
                        k: cout,
                        n: plane * block,
                        a_transposed: true,
                        b_transposed: false,
                        add: false,
                    },
                    _ => Shape {
                        m: cout,
                        k: plane * block,
                        n: rows,
                        a_transposed: false,
                        b_transposed: true,
                        add: true,
                    },
                };
                let secs = time(&shape, SAMPLES / block);
                let flops = 2.0 * (cout * rows * plane * SAMPLES) as f64;
                println!(
                    "{name} | {pass} | {block} | {:.3} | {:.1}",
                    secs * 1e3,
                    flops / secs / 1e9
                );
            }
        }
    }
}
