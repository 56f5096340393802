//! A small dataset compiled into the library, so that examples and tests run with no download:
//! the UCI optdigits test file (Alpaydin & Kaynak 1998, "Optical Recognition of Handwritten
//! Digits", UCI Machine Learning Repository, CC BY 4.0), 1797 rows of 64 counts in `0..=16`
//! (8×8 blocks of a 32×32 bitmap) and the digit. It is the data of scikit-learn's
//! `load_digits`.

use std::path::Path;

use super::csv::{CsvOptions, load_csv_bytes};
use super::dataset::Split;
use crate::Result;

/// The gzipped optdigits test file (`optdigits.tes`, sha256 of the uncompressed file
/// 6ebb3d2f…f651b8).
const OPTDIGITS_TES_GZ: &[u8] = include_bytes!("../../data/optdigits.tes.gz");

/// Seed of the stratified train/test split of the optdigits/sklearn digits data; fixed so that
/// every run and every machine uses the same split.
pub const DIGITS_SPLIT_SEED: u64 = 20_240_601;

/// Fraction of each class that goes to the test part of that split.
pub const DIGITS_TEST_FRACTION: f64 = 0.2;

/// The ten digit class names, `"0"`..`"9"`.
pub(crate) fn digit_names() -> Vec<String> {
    (0..10).map(|d| d.to_string()).collect()
}

/// CSV options of optdigits rows: 64 features scaled by 1/16 to `[0, 1]`, shape `[1, 8, 8]`,
/// label last, 10 classes.
pub(crate) fn optdigits_csv_options() -> CsvOptions {
    CsvOptions {
        label_column: Some(-1),
        has_header: false,
        scale: 1.0 / 16.0,
        sample_shape: Some(vec![1, 8, 8]),
        num_classes: Some(10),
    }
}

/// The embedded optdigits data, split 80/20 per class with [`DIGITS_SPLIT_SEED`]
/// (1438 train / 359 test samples: each class's 20% is rounded on its own).
///
/// Samples are `[1, 8, 8]` in `[0, 1]` (counts / 16); the parts are named
/// `optdigits-embedded/train` and `optdigits-embedded/test`, domain `optdigits`, classes
/// `"0"`..`"9"`.
pub fn optdigits_embedded() -> Result<Split> {
    let origin = Path::new("<embedded>/optdigits.tes.gz");
    let mut all = load_csv_bytes(
        OPTDIGITS_TES_GZ,
        origin,
        &optdigits_csv_options(),
        "optdigits-embedded",
    )?;
    all.domain = "optdigits".into();
    all.class_names = Some(digit_names());
    let (train, test) = all.stratified_split(DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED);
    Ok(Split { train, test })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class_counts(y: &[u32]) -> [usize; 10] {
        let mut c = [0; 10];
        for &l in y {
            c[l as usize] += 1;
        }
        c
    }

    #[test]
    fn sizes_names_and_ranges() {
        let s = optdigits_embedded().unwrap();
        assert_eq!(s.train.len() + s.test.len(), 1797);
        assert_eq!((s.train.len(), s.test.len()), (1438, 359));
        assert_eq!(s.train.name, "optdigits-embedded/train");
        assert_eq!(s.test.name, "optdigits-embedded/test");
        assert_eq!(s.test.domain, "optdigits");
        assert_eq!(s.train.sample_shape, vec![1, 8, 8]);
        assert_eq!(s.train.num_classes, 10);
        assert_eq!(s.train.class_names.as_ref().unwrap()[9], "9");
        assert!(s.train.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(s.train.x.contains(&1.0));
    }

    #[test]
    fn split_is_stratified() {
        let s = optdigits_embedded().unwrap();
        let (tr, te) = (class_counts(&s.train.y), class_counts(&s.test.y));
        for c in 0..10 {
            let total = tr[c] + te[c];
            assert!(total > 170, "class {c}: {total}");
            let expect = (total as f64 * DIGITS_TEST_FRACTION).round() as usize;
            assert_eq!(te[c], expect, "class {c}");
        }
    }

    #[test]
    fn split_is_deterministic() {
        let (a, b) = (optdigits_embedded().unwrap(), optdigits_embedded().unwrap());
        assert_eq!(a.test.x, b.test.x);
        assert_eq!(a.train.y, b.train.y);
    }

    // The first row of optdigits.tes is a 0 whose first pixels are 0,0,5,13,9,1,0,0; the
    // split keeps file order, so it leads whichever part it went to.
    #[test]
    fn first_row_matches_the_source() {
        let all = load_csv_bytes(
            OPTDIGITS_TES_GZ,
            Path::new("t"),
            &optdigits_csv_options(),
            "t",
        )
        .unwrap();
        assert_eq!(all.y[0], 0);
        assert_eq!(
            &all.x[..8],
            &[0., 0., 5. / 16., 13. / 16., 9. / 16., 1. / 16., 0., 0.]
        );
        let s = optdigits_embedded().unwrap();
        assert!(s.train.sample(0) == all.sample(0) || s.test.sample(0) == all.sample(0));
    }
}
