//! Datasets: loaders (IDX, CSV, NPY/NPZ, image folders), transforms, batching, the embedded
//! digits, the registry fetcher, and domain pairs with their input normalisation.

pub mod batch;
pub mod csv;
pub mod dataset;
pub mod embedded;
pub mod fetch;
pub mod idx;
pub mod image_folder;
pub mod limits;
pub mod multimnist;
pub mod normalize;
pub mod npy;
pub mod pairs;
pub mod patches;
pub mod registry;
pub mod toy;
pub mod transform;
mod util;

pub use batch::{batches, epoch_order, first_per_class, num_batches};
pub use csv::{CsvOptions, load_csv};
pub use dataset::{Dataset, INPUT_TARGET, LABEL_TARGET, Split, Target, TargetBatch, TargetKind};
pub use embedded::{DIGITS_SPLIT_SEED, DIGITS_TEST_FRACTION, optdigits_embedded};
pub use fetch::{CachedDataset, cache_dir, fetch, list, verify};
pub use idx::{load_images, load_labels, load_pair};
pub use image_folder::{ImageFolderOptions, load_image, load_image_folder};
pub use limits::Limits;
pub use multimnist::{MULTI_MNIST_SEED, Placement, multi_split, pair_split};
pub use normalize::InputNorm;
pub use npy::{load_npy, load_npz, save_npz};
pub use pairs::DigitStrokes;
pub use registry::{FASHION_MNIST_CLASSES, KNOWN_DATASETS, cached_file, load_named};
pub use toy::{GRADNORM_TOY_SEED, ToyTasks, gradnorm_toy, toy_sigmas};
pub use transform::Transform;
