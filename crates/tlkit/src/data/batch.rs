//! Seeded, deterministic and portable sample orders, batching, stratified splits and batch
//! gathering.
//!
//! Orders depend only on `(seed, epoch)` and the ChaCha8 stream, never on the platform, the
//! thread count or the `rand` version: the shuffle is our own Fisher–Yates over
//! `ChaCha8Rng::next_u64` with Lemire's unbiased bounded draw, so a run on another machine sees
//! the same batches.

use std::collections::BTreeMap;
use std::sync::mpsc;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use super::dataset::Dataset;
use crate::Result;

/// A ChaCha8 generator keyed by `(seed, stream)`: the first 16 bytes of the key are `seed` and
/// `stream` little-endian, the rest zero.
fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&stream.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

/// A uniform draw from `0..bound` (`bound > 0`), Lemire's multiply-and-reject method.
fn below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    let threshold = bound.wrapping_neg() % bound;
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(bound);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// Shuffles `v` in place (Fisher–Yates, from the back).
fn shuffle(v: &mut [usize], rng: &mut ChaCha8Rng) {
    for i in (1..v.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

/// The order in which to visit `n` samples in epoch `epoch`: `0..n` when `shuffle` is false,
/// else a permutation drawn from ChaCha8 keyed by `(seed, epoch)`. Same arguments, same order,
/// on every platform.
pub fn epoch_order(n: usize, seed: u64, epoch: usize, shuffle: bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    if shuffle {
        self::shuffle(&mut order, &mut rng_for(seed, epoch as u64));
    }
    order
}

/// The first `k` samples of each class in `order`, in that order: a few-shot draw (`labels[i]`
/// is sample `i`'s class, below `classes`). Over the same order, a smaller `k`'s draw is inside
/// a larger one's.
pub fn first_per_class(order: &[usize], labels: &[u32], classes: usize, k: usize) -> Vec<usize> {
    let mut taken = vec![0usize; classes];
    order
        .iter()
        .copied()
        .filter(|&i| {
            let c = labels[i] as usize;
            taken[c] += 1;
            taken[c] <= k
        })
        .collect()
}

/// Splits `order` into consecutive batches of `batch_size` indices; the last batch is shorter
/// unless `drop_last`, which drops it. A `batch_size` of 0 yields no batches (configs should
/// reject it before training).
pub fn batches(
    order: &[usize],
    batch_size: usize,
    drop_last: bool,
) -> impl Iterator<Item = &[usize]> {
    let size = batch_size.max(1);
    order
        .chunks(size)
        .take_while(move |b| batch_size > 0 && (!drop_last || b.len() == size))
}

/// Number of batches [`batches`] yields for `n` indices.
pub fn num_batches(n: usize, batch_size: usize, drop_last: bool) -> usize {
    match (batch_size, drop_last) {
        (0, _) => 0,
        (b, true) => n / b,
        (b, false) => n.div_ceil(b),
    }
}

/// Stream of the generator used by [`Dataset::stratified_split`], apart from epoch streams.
const SPLIT_STREAM: u64 = u64::MAX;

impl Dataset {
    /// Splits into `(train, test)` keeping each class's share: `round(count · test_fraction)`
    /// samples of every class go to test, chosen by a ChaCha8 shuffle keyed by `seed`. Both
    /// parts keep the original sample order. Unlabelled data is treated as one class.
    ///
    /// `test_fraction` is clamped to `[0, 1]` (NaN counts as 0). The parts are named
    /// `<family>/train` and `<family>/test`, where `<family>` is the name before its first `/`.
    pub fn stratified_split(&self, test_fraction: f64, seed: u64) -> (Dataset, Dataset) {
        let f = if test_fraction.is_nan() {
            0.0
        } else {
            test_fraction.clamp(0.0, 1.0)
        };
        let mut by_class: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for i in 0..self.len() {
            by_class
                .entry(self.y.get(i).copied().unwrap_or(0))
                .or_default()
                .push(i);
        }
        let mut rng = rng_for(seed, SPLIT_STREAM);
        let mut is_test = vec![false; self.len()];
        for members in by_class.values_mut() {
            shuffle(members, &mut rng);
            let k = (members.len() as f64 * f).round() as usize;
            for &i in &members[..k.min(members.len())] {
                is_test[i] = true;
            }
        }
        let (test, train): (Vec<usize>, Vec<usize>) = (0..self.len()).partition(|&i| is_test[i]);
        let family = self.name.split('/').next().unwrap_or(&self.name);
        (
            self.subset(&train, format!("{family}/train")),
            self.subset(&test, format!("{family}/test")),
        )
    }

    /// The samples and labels at `idx`, concatenated in that order: `idx.len() · sample_width`
    /// values and `idx.len()` labels (none when the dataset is unlabelled). The
    /// [deferred](Dataset::deferred) transforms are applied to these samples here.
    ///
    /// # Errors
    /// As the deferred transforms (a batch over [`Limits`](super::Limits)).
    ///
    /// # Panics
    /// If an index is not below `len()`; indices come from [`epoch_order`], not from users.
    pub fn gather_batch(&self, idx: &[usize]) -> Result<(Vec<f32>, Vec<u32>)> {
        let mut x = Vec::with_capacity(idx.len() * self.stored_width());
        for &i in idx {
            x.extend_from_slice(self.sample(i));
        }
        let y = if self.y.is_empty() {
            Vec::new()
        } else {
            idx.iter().map(|&i| self.y[i]).collect()
        };
        Ok((self.transform_stored(x)?, y))
    }
}

/// Runs `consume` on `make(job)` for each of `jobs` in order, making the items on a
/// background thread up to `ahead` (at least 1) items in advance: the next batch is assembled
/// (gathered, transformed) while the current one trains.
///
/// The first error, of `make` or of `consume`, ends both and is returned; when `consume`
/// stops, the maker's next send fails and it ends too, so nothing waits on a full channel. A
/// panic on the maker's thread is re-raised here.
pub fn prefetch<J, T>(
    jobs: impl Iterator<Item = J> + Send,
    ahead: usize,
    make: impl Fn(J) -> Result<T> + Send,
    mut consume: impl FnMut(T) -> Result<()>,
) -> Result<()>
where
    T: Send,
{
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel(ahead.max(1));
        s.spawn(move || {
            for job in jobs {
                let item = make(job);
                let failed = item.is_err();
                if tx.send(item).is_err() || failed {
                    break;
                }
            }
        });
        // `rx` is dropped on every way out of this loop, which releases a blocked maker.
        for item in rx {
            consume(item?)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(n: usize, classes: u32) -> Dataset {
        let x = (0..n * 2).map(|v| v as f32).collect();
        let y = (0..n).map(|i| i as u32 % classes).collect();
        Dataset::new("toy", vec![2], x, y, classes as usize).unwrap()
    }

    #[test]
    fn epoch_order_is_deterministic_and_varies_by_epoch_and_seed() {
        let a = epoch_order(100, 7, 0, true);
        assert_eq!(a, epoch_order(100, 7, 0, true));
        assert_ne!(a, epoch_order(100, 7, 1, true));
        assert_ne!(a, epoch_order(100, 8, 0, true));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_eq!(epoch_order(5, 7, 3, false), vec![0, 1, 2, 3, 4]);
        assert!(epoch_order(0, 1, 0, true).is_empty());
    }

    // Golden values from an independent pure-Python ChaCha8 (no rand code involved), so a change
    // of rand_chacha, of the key layout or of the shuffle (which would silently change every
    // run's batches) fails here:
    //   import struct; M = 2**32 - 1
    //   rotl = lambda v, c: ((v << c) & M) | (v >> (32 - c))
    //   def qr(s, a, b, c, d):
    //       for x, y, z, r in ((a, b, d, 16), (c, d, b, 12), (a, b, d, 8), (c, d, b, 7)):
    //           s[x] = (s[x] + s[y]) & M; s[z] = rotl(s[z] ^ s[x], r)
    //   def block(key, ctr):  # 8 rounds, 64-bit counter in words 12-13, stream 0
    //       s = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574, *struct.unpack("<8I", key),
    //            ctr & M, ctr >> 32, 0, 0]; w = s[:]
    //       for _ in range(4):
    //           for q in ((0,4,8,12),(1,5,9,13),(2,6,10,14),(3,7,11,15),
    //                     (0,5,10,15),(1,6,11,12),(2,7,8,13),(3,4,9,14)): qr(w, *q)
    //       return [(x + y) & M for x, y in zip(w, s)]
    //   def words(seed, stream):
    //       key, ctr = struct.pack("<QQ", seed, stream) + bytes(16), 0
    //       while True: yield from block(key, ctr); ctr += 1
    //   def order(n, seed, epoch):
    //       g, v = words(seed, epoch), list(range(n))
    //       for i in range(n - 1, 0, -1):
    //           b = i + 1; t = (2**64 - b) % b
    //           while True:
    //               m = (next(g) | next(g) << 32) * b
    //               if m % 2**64 >= t: break
    //           j = m >> 64; v[i], v[j] = v[j], v[i]
    //       return v
    //   order(10, 0, 0); order(10, 42, 3)
    #[test]
    fn epoch_order_matches_reference_chacha8() {
        assert_eq!(epoch_order(10, 0, 0, true), [9, 2, 3, 4, 6, 7, 0, 1, 5, 8]);
        assert_eq!(epoch_order(10, 42, 3, true), [0, 1, 7, 8, 4, 2, 9, 6, 3, 5]);
    }

    #[test]
    fn bounded_draw_is_uniform_enough() {
        let mut rng = rng_for(1, 2);
        let mut counts = [0usize; 3];
        for _ in 0..30_000 {
            counts[below(&mut rng, 3) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn batches_cover_the_order() {
        let order: Vec<usize> = (0..10).collect();
        let b: Vec<&[usize]> = batches(&order, 4, false).collect();
        assert_eq!(b, vec![&[0, 1, 2, 3][..], &[4, 5, 6, 7], &[8, 9]]);
        assert_eq!(batches(&order, 4, true).count(), 2);
        assert_eq!(batches(&order, 5, true).count(), 2);
        assert_eq!(batches(&order, 0, false).count(), 0);
        assert_eq!(num_batches(10, 4, false), 3);
        assert_eq!(num_batches(10, 4, true), 2);
    }

    #[test]
    fn stratified_split_keeps_class_shares_and_is_deterministic() {
        let ds = labelled(100, 4); // 25 per class
        let (train, test) = ds.stratified_split(0.2, 3);
        assert_eq!((train.len(), test.len()), (80, 20));
        assert_eq!(
            (train.name.as_str(), test.name.as_str()),
            ("toy/train", "toy/test")
        );
        for c in 0..4 {
            assert_eq!(test.y.iter().filter(|&&l| l == c).count(), 5);
        }
        let (train2, test2) = ds.stratified_split(0.2, 3);
        assert_eq!((train.x, test.x.clone()), (train2.x, test2.x));
        let (_, other) = ds.stratified_split(0.2, 4);
        assert_ne!(test.x, other.x);
        // Out-of-range fractions are clamped.
        assert_eq!(ds.stratified_split(2.0, 0).1.len(), 100);
        assert_eq!(ds.stratified_split(f64::NAN, 0).1.len(), 0);
    }

    #[test]
    fn prefetch_keeps_the_order_and_makes_ahead() {
        let mut seen = vec![];
        prefetch(
            0..50usize,
            2,
            |j| Ok(j * j),
            |v| {
                seen.push(v);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, (0..50).map(|j| j * j).collect::<Vec<_>>());
        // The maker runs ahead of a slow consumer: while item 0 is consumed, item 1 is made.
        let made = std::sync::atomic::AtomicUsize::new(0);
        let mut ahead = vec![];
        prefetch(
            0..4usize,
            1,
            |j| {
                made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(j)
            },
            |j| {
                std::thread::sleep(std::time::Duration::from_millis(50));
                ahead.push(made.load(std::sync::atomic::Ordering::SeqCst) - j);
                Ok(())
            },
        )
        .unwrap();
        assert!(ahead[0] >= 2, "{ahead:?}");
    }

    #[test]
    fn prefetch_errors_end_both_sides() {
        use crate::Error;
        // A maker error arrives in order, after the items before it.
        let mut seen = vec![];
        let e = prefetch(
            0..100usize,
            1,
            |j| {
                if j == 3 {
                    Err(Error::Spec("batch 3".into()))
                } else {
                    Ok(j)
                }
            },
            |j| {
                seen.push(j);
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(
            (e.to_string().contains("batch 3"), seen),
            (true, vec![0, 1, 2])
        );
        // A consumer that stops early releases the maker (which would otherwise make a
        // billion items, or wait forever on the full channel).
        let made = std::sync::atomic::AtomicUsize::new(0);
        let e = prefetch(
            0..1_000_000_000usize,
            1,
            |j| {
                made.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(j)
            },
            |j| {
                if j == 2 {
                    Err(Error::Spec("stop".into()))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("stop"));
        assert!(made.into_inner() <= 5);
    }

    #[test]
    fn first_per_class_keeps_the_order_and_nests() {
        let labels = [0, 1, 0, 2, 1, 0, 2, 1];
        let order = [7, 6, 5, 4, 3, 2, 1, 0];
        assert_eq!(first_per_class(&order, &labels, 3, 1), [7, 6, 5]);
        assert_eq!(first_per_class(&order, &labels, 3, 2), [7, 6, 5, 4, 3, 2]);
        assert_eq!(first_per_class(&order, &labels, 3, 9).len(), 8);
    }

    #[test]
    fn gather_batch_follows_indices() {
        let ds = labelled(5, 3);
        let (x, y) = ds.gather_batch(&[4, 0]).unwrap();
        assert_eq!(x, vec![8., 9., 0., 1.]);
        assert_eq!(y, vec![1, 0]);
    }
}
