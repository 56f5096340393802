//! tlkit: a transfer-learning toolkit.
//!
//! The library is built in layers:
//! - [`backend`]: the thin layer over Burn (device, tensor conversions); the only place that
//!   knows Burn's version-specific API besides the network interpreter.
//! - [`data`]: datasets, loaders (IDX, CSV, NPY/NPZ, image folders), transforms, batching,
//!   the registry fetcher, domain pairs and their input normalisation.
//! - [`nn`]: named networks described by a serializable spec, with shape inference before any
//!   data runs, PyTorch-style parameter paths and glob selection.
//! - [`train`]: optimizers, schedules, the trainer loop with its extension points, metrics and
//!   atomic checkpoints.
//! - [`run`]: run folders (resolved config, metrics, summary, plots).
//! - [`text`]: tokenizer and BERT encoder for sentence embeddings (MiniLM-L6).
//! - [`plot`]: learning curves, heatmaps, scatter plots and the t-SNE embedding.
//! - [`adapt`]: unsupervised domain adaptation (DANN, DAN, CORAL, JAN, CDAN) as loss terms
//!   and the `tlkit adapt` pipeline.
//! - [`continual`]: task streams, continual-learning methods (EWC, SI, LwF, replay,
//!   progressive networks, ...) and the accuracy-matrix metrics.
//! - [`transferability`]: how well features of one domain or model serve another
//!   (proxy A-distance).

pub mod adapt;
pub mod backend;
pub mod config;
pub mod continual;
pub mod data;
pub mod error;
pub mod experiment;
pub mod finetune;
pub mod fsio;
pub mod nn;
pub mod plot;
pub mod pretrained;
pub mod run;
pub mod study;
pub mod text;
pub mod train;
pub mod transferability;
pub mod weights;

pub use error::{Error, Result};
