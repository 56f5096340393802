//! MultiMNIST as Sener & Koltun build it ("Multi-Task Learning as Multi-Objective
//! Optimization", NeurIPS 2018, <https://arxiv.org/abs/1810.04650>, after Sabour et al.
//! 2017): two digits overlaid, one task per digit.
//!
//! Each image of a split gets a random partner from the same split; on a 36×36 canvas the
//! image is put at rows and columns 0–27 (the left digit) and the partner at 6–33 (the right
//! digit), overlapping pixels take the maximum of the two, and the canvas is resized to 28×28
//! by nearest neighbour: output pixel i reads canvas pixel ⌊(i + ½)·36/28⌋ (PIL's nearest,
//! which the authors' `imresize(…, interp='nearest')` calls). Targets: `left` (also the
//! default labels) and `right`; 60 000 / 10 000 samples as MNIST.
//!
//! Where ours differs: the partners are a seeded permutation of the split (each image is a
//! right digit exactly once) rather than independent draws from NumPy's global generator,
//! so the set is the same on every machine; pixel values are kept as MNIST's /255 values
//! (the authors' uint8 round trip is the identity for MNIST's 0..255 images).

use super::batch::epoch_order;
use super::dataset::{Dataset, Split, Target};
use crate::{Error, Result};

/// The seed of the partners of `multi-mnist` (train and test draw different permutations).
pub const MULTI_MNIST_SEED: u64 = 2018;

/// Side of the canvas the two digits are placed on.
const CANVAS: usize = 36;
/// Offset of the right digit on the canvas.
const SHIFT: usize = 6;

/// The canvas pixel that output pixel `i` (of `out`) reads in a nearest-neighbour resize
/// from `CANVAS`.
fn nearest(i: usize, out: usize) -> usize {
    ((2 * i + 1) * CANVAS) / (2 * out)
}

/// One overlaid image from two `side`×`side` digits (row-major): the 36×36 canvas resized
/// back to `side`×`side` (`side` = 28 for MNIST).
pub fn overlay(left: &[f32], right: &[f32], side: usize) -> Vec<f32> {
    let mut canvas = vec![0.0f32; CANVAS * CANVAS];
    for r in 0..side {
        for c in 0..side {
            canvas[r * CANVAS + c] = left[r * side + c];
        }
    }
    for r in 0..side {
        for c in 0..side {
            let at = (r + SHIFT) * CANVAS + c + SHIFT;
            canvas[at] = canvas[at].max(right[r * side + c]);
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
pub fn multi_split(split: &Split, name: &str, seed: u64) -> Result<Split> {
    Ok(Split {
        train: multi(&split.train, &format!("{name}/train"), seed, 0)?,
        test: multi(&split.test, &format!("{name}/test"), seed, 1)?,
    })
}

fn multi(data: &Dataset, name: &str, seed: u64, stream: usize) -> Result<Dataset> {
    let side = match data.sample_shape.as_slice() {
        [1, h, w] if h == w && *h <= CANVAS - SHIFT => *h,
        other => {
            return Err(Error::Spec(format!(
                "dataset `{}`: overlaid digits need square single-channel images of at most {}×{} ([1, 28, 28]), got {other:?}",
                data.name,
                CANVAS - SHIFT,
                CANVAS - SHIFT
            )));
        }
    };
    if data.y.len() != data.len() {
        return Err(Error::Spec(format!(
            "dataset `{}` has no labels; overlaid digits need each digit's class",
            data.name
        )));
    }
    let partner = epoch_order(data.len(), seed, stream, true);
    let mut x = Vec::with_capacity(data.x.len());
    for (i, &j) in partner.iter().enumerate() {
        x.extend(overlay(data.sample(i), data.sample(j), side));
    }
    let right: Vec<u32> = partner.iter().map(|&j| data.y[j]).collect();
    let classes = |labels: Vec<u32>| Target::Classes {
        labels,
        num_classes: data.num_classes,
    };
    let mut out = Dataset::new(
        name,
        data.sample_shape.clone(),
        x,
        data.y.clone(),
        data.num_classes,
    )?
    .with_target("left", classes(data.y.clone()))?
    .with_target("right", classes(right))?;
    out.class_names = data.class_names.clone();
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
        let m = multi_split(&split, "multi-toy", 3).unwrap();
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
        let mut sorted = right.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2, 3, 4], "partners are a permutation");
        for (i, &r) in right.iter().enumerate() {
            let want = overlay(split.train.sample(i), split.train.sample(r as usize), 28);
            assert_eq!(m.train.sample(i), &want[..]);
        }
        // Same seed, same set; train and test draw different partners.
        let again = multi_split(&split, "multi-toy", 3).unwrap();
        assert_eq!(again.train.x, m.train.x);
        assert_ne!(m.train.targets["right"], m.test.targets["right"]);
        let flat = Dataset::new("flat/train", vec![784], vec![0.0; 784], vec![1], 10).unwrap();
        let bad = Split {
            train: flat.clone(),
            test: flat,
        };
        let err = multi_split(&bad, "m", 0).unwrap_err().to_string();
        assert!(
            err.contains("[1, 28, 28]") && err.contains("flat/train"),
            "{err}"
        );
    }
}
