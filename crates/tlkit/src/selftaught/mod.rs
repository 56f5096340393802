//! Self-taught learning (Raina et al. 2007, "Self-taught learning: transfer learning from
//! unlabeled data", ICML): features learned without labels on one kind of data, then used
//! for a labeled task of another. Sparse codes by FISTA over a dictionary learned online,
//! PCA (from [`crate::linalg`]) as the classical baseline, whole images encoded by pooled
//! patch codes, and the learned basis as a folder that encodes any dataset.

pub mod basis;
pub mod classifier;
pub mod config;
pub mod dictionary;
pub mod fista;
pub mod pooling;
pub mod study;

pub use basis::{Basis, BasisMeta, LearnMethod, LearnedBasis, Method, learn};
pub use classifier::{ClassifierConfig, ClassifierKind, LinearClassifier};
pub use config::{ArmConfig, BENCHMARKS, SelftaughtConfig, SelftaughtOverrides};
pub use dictionary::{Dictionary, DictionaryConfig, IterRecord, Learned};
pub use fista::{Codes, FistaConfig, encode};
pub use pooling::{PatchEncoding, Pool, encode_images};
