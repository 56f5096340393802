//! What waking the compute threads costs: one linear layer's forward product (128 × 784 × 256,
//! the benchmark MLP's first layer) timed after the calling thread has worked alone for a
//! while, as it does between a training step's operations.
//!
//! ```text
//! cargo run --release -p tlkit-kernels --example idle_product -- rayon   # threads sleep
//! cargo run --release -p tlkit-kernels --example idle_product -- caller  # caller is thread 0
//! cargo run --release -p tlkit-kernels --example idle_product -- spin    # ... and threads spin
//! ```
//!
//! `RAYON_NUM_THREADS` sets the threads (default 2). Prints the mean time of 500 products for
//! each idle gap before them.

use std::time::{Duration, Instant};

use tlkit_kernels::linear::{Dims, forward};

/// Works alone on the calling thread for `gap`.
fn alone(gap: Duration) {
    let t = Instant::now();
    while t.elapsed() < gap {
        std::hint::spin_loop();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "rayon".into());
    let threads = match std::env::var("RAYON_NUM_THREADS") {
        Ok(n) => n.parse()?,
        Err(_) => 2,
    };
    let builder = rayon::ThreadPoolBuilder::new().num_threads(threads);
    match mode.as_str() {
        "rayon" => builder.build_global()?,
        "caller" | "spin" => builder.use_current_thread().build_global()?,
        other => return Err(format!("mode {other:?}: rayon, caller or spin").into()),
    }
    if mode == "spin" {
        tlkit_kernels::threads::spin_between_operations(Duration::from_millis(5));
    }
    let d = Dims {
        rows: 128,
        inputs: 784,
        outputs: 256,
    };
    let x: Vec<f32> = (0..128 * 784).map(|i| (i % 13) as f32 * 0.1).collect();
    let w: Vec<f32> = (0..256 * 784).map(|i| (i % 7) as f32 * 0.1).collect();
    for gap_us in [0, 50, 200, 1000] {
        for _ in 0..20 {
            std::hint::black_box(forward(&d, &x, &w, None));
        }
        let runs = 500;
        let mut total = Duration::ZERO;
        for _ in 0..runs {
            alone(Duration::from_micros(gap_us));
            let t = Instant::now();
            std::hint::black_box(forward(&d, &x, &w, None));
            total += t.elapsed();
        }
        println!(
            "{mode} ({threads} threads), {gap_us:>4} µs alone before: {:.0} µs a product",
            total.as_secs_f64() / f64::from(runs) * 1e6
        );
    }
    Ok(())
}
