//! Compute threads that spin between operations instead of sleeping.
//!
//! A training step is a few hundred operations, each split over the rayon pool, with a little
//! serial work between them. Rayon puts an idle thread to sleep after a few dozen yields, and
//! the next operation has to wake it: on the 2-core KVM guest of BENCHMARKS.md ("Compute threads
//! that spin") a 128 × 784 × 256 product on two threads took 610 µs after the calling thread had
//! worked alone for 1 ms, against 394 µs back to back and 479 µs on one thread
//! (`examples/idle_product.rs`). PyTorch's OpenMP threads spin for a while before they sleep;
//! this does the same on rayon: after [`spin_between_operations`], each kernel of this crate
//! starts, if none is running, one spinner on every pool thread but the calling one (index 0 of
//! a pool built with `use_current_thread`). A spinner runs whatever the pool has
//! ([`rayon::yield_now`]: the other threads' split work, Burn's operations too) and returns to
//! rayon, which then lets the thread sleep, once it has found nothing for the idle limit.
//!
//! What a kernel computes does not change: the work is cut the same way, only the thread that
//! runs a piece can differ, and every piece sums in its own fixed order. The cost is the CPU
//! time of the spinning threads, up to the idle limit after the last operation.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

static ENABLED: AtomicBool = AtomicBool::new(false);
/// A round of spinners was started and not all of them have returned.
static SPINNING: AtomicBool = AtomicBool::new(false);
/// Spinners of the current round still running.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
static IDLE_NANOS: AtomicU64 = AtomicU64::new(0);

/// Makes this crate's kernels keep the rayon pool's threads spinning until they have found no
/// work for `idle`; call it once, on the thread that will run the operations, after making it
/// thread 0 of rayon's global pool (`ThreadPoolBuilder::use_current_thread`). On a pool the
/// calling thread is not part of, the spinners would take every core the pool has and leave the
/// calling thread to share one: leave it off there.
pub fn spin_between_operations(idle: Duration) {
    IDLE_NANOS.store(
        u64::try_from(idle.as_nanos()).unwrap_or(u64::MAX),
        Ordering::Relaxed,
    );
    ENABLED.store(!idle.is_zero(), Ordering::Release);
}

/// Starts a round of spinners unless one is running or spinning is off: one relaxed load when
/// nothing is to be done.
#[inline]
pub(crate) fn warm() {
    if ENABLED.load(Ordering::Relaxed) && !SPINNING.load(Ordering::Relaxed) {
        start_round();
    }
}

#[cold]
fn start_round() {
    let threads = rayon::current_num_threads();
    if threads < 2 || rayon::current_thread_index() != Some(0) {
        // Not the pool's thread 0 (a prefetch thread, a test harness thread): its work is
        // injected into the pool as rayon does it.
        return;
    }
    if SPINNING.swap(true, Ordering::AcqRel) {
        return;
    }
    RUNNING.store(threads - 1, Ordering::Release);
    let idle = Duration::from_nanos(IDLE_NANOS.load(Ordering::Relaxed));
    rayon::spawn_broadcast(move |ctx| {
        if ctx.index() == 0 {
            return;
        }
        spin(idle);
        if RUNNING.fetch_sub(1, Ordering::AcqRel) == 1 {
            SPINNING.store(false, Ordering::Release);
        }
    });
}

/// Runs the pool's work until none has come for `idle`. Between looks it offers its core to
/// any other thread that is ready to run (`sched_yield`, back at once when none is), so that
/// another process sharing the cores, or this one's own threads outside the pool, lose little
/// to the spinning.
fn spin(idle: Duration) {
    let mut last = Instant::now();
    loop {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => last = Instant::now(),
            Some(rayon::Yield::Idle) if last.elapsed() < idle => std::thread::yield_now(),
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With spinners on a pool that the calling thread is part of, a parallel kernel gives the
    /// same bits as without, and the spinners end once the work has stopped.
    #[test]
    fn spinners_compute_the_same_and_stop_when_idle() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .expect("a two-thread pool");
        let d = crate::linear::Dims {
            rows: 64,
            inputs: 96,
            outputs: 80,
        };
        let x: Vec<f32> = (0..64 * 96)
            .map(|i| ((i * 37) % 101) as f32 * 0.01)
            .collect();
        let w: Vec<f32> = (0..80 * 96)
            .map(|i| ((i * 53) % 97) as f32 * -0.01)
            .collect();
        let plain = pool.install(|| crate::linear::forward(&d, &x, &w, None));
        spin_between_operations(Duration::from_millis(5));
        // Thread 0 of the pool plays the calling thread.
        let spun = pool.install(|| {
            rayon::broadcast(|ctx| {
                (ctx.index() == 0).then(|| {
                    (0..20)
                        .map(|_| crate::linear::forward(&d, &x, &w, None))
                        .collect::<Vec<_>>()
                })
            })
        });
        spin_between_operations(Duration::ZERO);
        let spun: Vec<Vec<f32>> = spun.into_iter().flatten().flatten().collect();
        assert_eq!(spun.len(), 20);
        for y in &spun {
            assert_eq!(y, &plain);
        }
        let t = Instant::now();
        while SPINNING.load(Ordering::Acquire) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "the spinners never stopped"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
