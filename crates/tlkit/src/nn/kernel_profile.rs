//! Wall time spent in tlkit's own kernels (convolution, pooling, batch norm), accumulated per
//! kernel when the environment variable `TLKIT_PROFILE` is set to `1`, for the profile of a
//! training step (`examples/bench_train.rs` prints it at the end; BENCHMARKS.md, "The own
//! kernels, second round").
//!
//! Off (the default), a kernel call pays one read of an initialised `OnceLock`. On, every call
//! locks one mutex to add its time: a few hundred calls per step, far below the kernels' own
//! cost.
//! The times are wall time of the calling thread around the whole kernel, rayon work included.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Per kernel name: (calls, total time).
static TOTALS: Mutex<BTreeMap<&'static str, (u64, Duration)>> = Mutex::new(BTreeMap::new());

/// Whether `TLKIT_PROFILE=1` (read once per process).
fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("TLKIT_PROFILE").is_ok_and(|v| v.trim() == "1"))
}

/// Runs `f`, adding its wall time to `kernel`'s total when profiling is on.
pub(crate) fn timed<T>(kernel: &'static str, f: impl FnOnce() -> T) -> T {
    if !enabled() {
        return f();
    }
    let start = Instant::now();
    let out = f();
    let spent = start.elapsed();
    let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    let entry = totals.entry(kernel).or_default();
    entry.0 += 1;
    entry.1 += spent;
    out
}

/// One kernel's accumulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelTime {
    pub kernel: &'static str,
    pub calls: u64,
    pub seconds: f64,
}

/// Whether `TLKIT_PROFILE=1` switched the accumulation on for this process.
pub fn profiling() -> bool {
    enabled()
}

/// The totals so far, by kernel name, and resets them (so a caller can drop warm-up steps).
pub fn take() -> Vec<KernelTime> {
    let mut totals = TOTALS.lock().unwrap_or_else(|e| e.into_inner());
    std::mem::take(&mut *totals)
        .into_iter()
        .map(|(kernel, (calls, t))| KernelTime {
            kernel,
            calls,
            seconds: t.as_secs_f64(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timed_passes_the_value_through_and_take_empties() {
        // Whatever the environment, the value comes back unchanged and a second take is empty
        // of what the first one returned.
        assert_eq!(timed("test kernel", || 41 + 1), 42);
        let first = take();
        if profiling() {
            assert!(
                first
                    .iter()
                    .any(|k| k.kernel == "test kernel" && k.calls >= 1)
            );
        } else {
            assert!(first.is_empty());
        }
        assert!(!take().iter().any(|k| k.kernel == "test kernel"));
    }
}
