//! Named datasets: `load_named("mnist", &cache)` loads a fetched dataset (or the embedded one)
//! as a train/test [`Split`] with its domain and class names set.
//!
//! Loading does not re-hash the files ([`fetch::verify`](super::fetch::verify) does); the
//! loaders' own checks (IDX sizes, CSV widths) catch a damaged file.

use std::path::{Path, PathBuf};

use super::csv::load_csv;
use super::dataset::{Dataset, Split};
use super::embedded::{
    DIGITS_SPLIT_SEED, DIGITS_TEST_FRACTION, digit_names, optdigits_csv_options, optdigits_embedded,
};
use super::fetch::{dataset_dir, not_fetched};
use super::idx::load_pair;
use super::multimnist::{MULTI_MNIST_SEED, Placement, multi_split, pair_split};
use super::toy::named_toy;
use crate::{Error, Result};

/// Every name [`load_named`] accepts.
pub const KNOWN_DATASETS: &[&str] = &[
    "mnist",
    "fashion-mnist",
    "optdigits",
    "sklearn-digits",
    "optdigits-embedded",
    "multi-mnist",
    "multi-fashion",
    "multi-fashion-mnist",
    "gradnorm-toy",
    "gradnorm-toy-10",
];

/// Fashion-MNIST's class names, in label order (Xiao, Rasul & Vollgraf 2017,
/// arXiv:1708.07747).
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Path of `file` of fetched dataset `name` (e.g. `("sklearn-digits", "china.jpg")`), or an
/// error saying to run `tlkit data fetch <name>` when it is not there.
pub fn cached_file(name: &str, file: &str, cache: &Path) -> Result<PathBuf> {
    let path = dataset_dir(cache, name).join(file);
    if path.is_file() {
        Ok(path)
    } else {
        Err(not_fetched(name, &path))
    }
}

/// Sets the domain and class names of both parts.
fn tag(mut split: Split, domain: &str, classes: Vec<String>) -> Split {
    for ds in [&mut split.train, &mut split.test] {
        ds.domain = domain.to_string();
        ds.class_names = Some(classes.clone());
    }
    split
}

/// An IDX dataset stored as the four MNIST-named files.
fn load_idx_split(name: &str, cache: &Path) -> Result<Split> {
    let f = |file: &str| cached_file(name, file, cache);
    let train = load_pair(
        f("train-images-idx3-ubyte.gz")?,
        f("train-labels-idx1-ubyte.gz")?,
        &format!("{name}/train"),
    )?;
    let test = load_pair(
        f("t10k-images-idx3-ubyte.gz")?,
        f("t10k-labels-idx1-ubyte.gz")?,
        &format!("{name}/test"),
    )?;
    Ok(Split { train, test })
}

/// Loads dataset `name` from `cache` (see [`KNOWN_DATASETS`]):
///
/// | name | train / test | sample | domain |
/// |---|---|---|---|
/// | `mnist` | 60000 / 10000 | `[1, 28, 28]`, /255 | `mnist` |
/// | `fashion-mnist` | 60000 / 10000 | `[1, 28, 28]`, /255 | `fashion-mnist` |
/// | `optdigits` | 3823 / 1797 (UCI `.tra` / `.tes`) | `[1, 8, 8]`, /16 | `optdigits` |
/// | `sklearn-digits` | 1438 / 359 (stratified 80/20) | `[1, 8, 8]`, /16 | `optdigits` |
/// | `optdigits-embedded` | 1438 / 359 (same split), built in | `[1, 8, 8]`, /16 | `optdigits` |
/// | `multi-mnist` | 60000 / 10000, from `mnist` | `[1, 28, 28]`, targets `left`, `right` | `multi-mnist` |
/// | `multi-fashion` | the same from `fashion-mnist`, each item shifted up to 4 px (Lin et al.) | `[1, 28, 28]`, targets `left`, `right` | `multi-fashion` |
/// | `multi-fashion-mnist` | an `mnist` digit left, a `fashion-mnist` item right, shifted up to 4 px | `[1, 28, 28]`, targets `left`, `right` | `multi-fashion-mnist` |
/// | `gradnorm-toy` | 10000 / 2000, generated (GradNorm's toy, σ = 1, 100) | `[250]`, real targets `t0`, `t1` (100 each), no labels | `gradnorm-toy` |
/// | `gradnorm-toy-10` | the same with ten tasks, σ from 1 to 100 | `[250]`, targets `t0` … `t9` | `gradnorm-toy-10` |
///
/// `sklearn-digits` is scikit-learn's copy of the UCI optdigits test file, so it equals
/// `optdigits-embedded`; both use [`DIGITS_SPLIT_SEED`].
///
/// # Errors
/// [`Error::Unknown`] for another name; [`Error::Path`] saying to run `tlkit data fetch <name>`
/// when the dataset is not in the cache; the loaders' errors for a damaged file.
pub fn load_named(name: &str, cache: &Path) -> Result<Split> {
    let digits = digit_names();
    match name {
        "mnist" => Ok(tag(load_idx_split(name, cache)?, "mnist", digits)),
        "fashion-mnist" => {
            let classes = FASHION_MNIST_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect();
            Ok(tag(load_idx_split(name, cache)?, "fashion-mnist", classes))
        }
        "optdigits" => {
            let opts = optdigits_csv_options();
            let train = load_csv(
                cached_file(name, "optdigits.tra", cache)?,
                &opts,
                "optdigits/train",
            )?;
            let test = load_csv(
                cached_file(name, "optdigits.tes", cache)?,
                &opts,
                "optdigits/test",
            )?;
            Ok(tag(Split { train, test }, "optdigits", digits))
        }
        "sklearn-digits" => {
            let all: Dataset = load_csv(
                cached_file(name, "digits.csv.gz", cache)?,
                &optdigits_csv_options(),
                "sklearn-digits",
            )?;
            let (train, test) = all.stratified_split(DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED);
            Ok(tag(Split { train, test }, "optdigits", digits))
        }
        "optdigits-embedded" => optdigits_embedded(),
        "multi-mnist" => {
            let mnist = tag(load_idx_split("mnist", cache)?, "mnist", digits);
            multi_split(&mnist, name, MULTI_MNIST_SEED, Placement::Fixed)
        }
        "multi-fashion" => multi_split(
            &load_named("fashion-mnist", cache)?,
            name,
            MULTI_MNIST_SEED,
            Placement::Shifted,
        ),
        "multi-fashion-mnist" => pair_split(
            &tag(load_idx_split("mnist", cache)?, "mnist", digits),
            &load_named("fashion-mnist", cache)?,
            name,
            MULTI_MNIST_SEED,
            Placement::Shifted,
        ),
        "gradnorm-toy" => named_toy(name, 2),
        "gradnorm-toy-10" => named_toy(name, 10),
        _ => Err(Error::Unknown {
            kind: "dataset",
            name: name.to_string(),
            known: KNOWN_DATASETS.join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fetch::FETCHABLE;
    use crate::data::fetch::tests::{REAL_CACHE, fetch_all_real};
    use crate::data::idx::tests::{idx1, idx3};

    #[test]
    fn not_fetched_says_how_to_fetch() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["mnist", "fashion-mnist", "optdigits", "sklearn-digits"] {
            let e = load_named(name, tmp.path()).unwrap_err();
            assert!(matches!(e, Error::Path(_)), "{e:?}");
            assert!(
                e.to_string().contains(&format!("tlkit data fetch {name}")),
                "{e}"
            );
        }
    }

    #[test]
    fn unknown_name_lists_known() {
        let e = load_named("cifar10", Path::new("/nonexistent")).unwrap_err();
        assert!(matches!(e, Error::Unknown { .. }));
        assert!(e.to_string().contains("optdigits-embedded"));
    }

    #[test]
    fn embedded_needs_no_cache() {
        let s = load_named("optdigits-embedded", Path::new("/nonexistent")).unwrap();
        assert_eq!(s.train.len() + s.test.len(), 1797);
    }

    #[test]
    fn every_fetchable_dataset_is_known() {
        for s in FETCHABLE {
            // `skimage-photos` holds photos that the MNIST-M-style generator reads
            // (`mnist-m-wide`), not samples of a dataset.
            assert!(
                KNOWN_DATASETS.contains(&s.name) || s.name == "skimage-photos",
                "{}",
                s.name
            );
        }
    }

    // A hand-made cache folder in the MNIST layout loads with tags set.
    #[test]
    fn idx_layout_loads_with_tags() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = dataset_dir(tmp.path(), "fashion-mnist");
        std::fs::create_dir_all(&dir).unwrap();
        for (prefix, n) in [("train", 3u8), ("t10k", 2)] {
            std::fs::write(
                dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
                idx3(n.into(), 2, 2),
            )
            .unwrap();
            let labels: Vec<u8> = (0..n).collect();
            std::fs::write(
                dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
                idx1(&labels),
            )
            .unwrap();
        }
        let s = load_named("fashion-mnist", tmp.path()).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (3, 2));
        assert_eq!(s.test.name, "fashion-mnist/test");
        assert_eq!(s.train.domain, "fashion-mnist");
        assert_eq!(s.train.class_names.as_ref().unwrap()[9], "Ankle boot");
    }

    // CI runs this with `--ignored` after `tlkit data fetch` for each dataset; it fetches
    // whatever is still missing (pip and apt-get) and checks the loaded sizes and contents.
    #[test]
    #[ignore = "needs the fetched datasets (tlkit data fetch); run with --ignored"]
    fn real_datasets_load_with_their_sizes() {
        let _guard = REAL_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let cache = fetch_all_real();
        let sizes = |name: &str| {
            let s = load_named(name, &cache).unwrap();
            (s.train.len(), s.test.len(), s.train.sample_shape.clone())
        };
        assert_eq!(sizes("mnist"), (60000, 10000, vec![1, 28, 28]));
        assert_eq!(sizes("fashion-mnist"), (60000, 10000, vec![1, 28, 28]));
        assert_eq!(sizes("optdigits"), (3823, 1797, vec![1, 8, 8]));
        assert_eq!(sizes("sklearn-digits"), (1438, 359, vec![1, 8, 8]));

        // Fashion-MNIST: 6000 / 1000 per class and the published mean pixel 0.2860.
        let f = load_named("fashion-mnist", &cache).unwrap();
        for c in 0..10 {
            assert_eq!(f.train.y.iter().filter(|&&l| l == c).count(), 6000);
            assert_eq!(f.test.y.iter().filter(|&&l| l == c).count(), 1000);
        }
        let mean = f.train.x.iter().map(|&v| f64::from(v)).sum::<f64>() / f.train.x.len() as f64;
        assert!((mean - 0.2860).abs() < 1e-4, "{mean}");
        // MNIST's published mean pixel is 0.1307.
        let m = load_named("mnist", &cache).unwrap();
        let mean = m.train.x.iter().map(|&v| f64::from(v)).sum::<f64>() / m.train.x.len() as f64;
        assert!((mean - 0.1307).abs() < 1e-4, "{mean}");

        // scikit-learn's digits are the embedded optdigits test file.
        let (sk, emb) = (
            load_named("sklearn-digits", &cache).unwrap(),
            optdigits_embedded().unwrap(),
        );
        assert_eq!(sk.train.x, emb.train.x);
        assert_eq!(sk.test.y, emb.test.y);
        let photo =
            image::open(cached_file("sklearn-digits", "china.jpg", &cache).unwrap()).unwrap();
        assert_eq!((photo.width(), photo.height()), (640, 427));
    }
}
