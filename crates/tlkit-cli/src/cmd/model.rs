//! The model reference every command that takes a network accepts: `MODEL [--spec FILE]
//! [--rename FROM=TO] [--checkpoint NAME]`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;

use tlkit::weights::{LoadContext, ModelRef, Rename};

/// What `MODEL` may be, for the `--help` of every command that takes one.
pub const MODEL_HELP: &str =
    "MODEL is a built-in architecture (mlp, lenet, resnet: random start, built for
--input-shape/--classes or the data), a pretrained built-in (efficientnet-lite0), a tlkit
run folder of any command (model.toml + weights.safetensors; --checkpoint best|last), an
.onnx model (carries its network), or a weights file (.safetensors, .pt/.pth in the zip or
legacy format, .bin, a Hugging Face folder) with the spec of its network: `w.pt --spec
net.toml`, names mapped with `--rename module.=` where the checkpoint's differ.";

#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// The network (see below).
    pub model: String,
    /// The network spec (.toml/.json) that a weights file's tensors belong to.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Rewrite a checkpoint name prefix before loading (repeatable), e.g. `module.=`.
    #[arg(long, value_name = "FROM=TO")]
    pub rename: Vec<String>,
    /// For a run folder: which weights, final (default), best or last.
    #[arg(long, value_name = "NAME")]
    pub checkpoint: Option<String>,
}

impl ModelArgs {
    /// The reference the arguments name.
    pub fn reference(&self) -> Result<ModelRef> {
        let rename = self
            .rename
            .iter()
            .map(|r| r.parse::<Rename>())
            .collect::<tlkit::Result<Vec<_>>>()?;
        let mut r = ModelRef::parse(&self.model)?.with_spec(self.spec.clone(), rename)?;
        if let Some(c) = &self.checkpoint {
            match &mut r {
                ModelRef::Run { checkpoint, .. } => *checkpoint = Some(c.clone()),
                other => anyhow::bail!(
                    "--checkpoint chooses a run folder's weights, but `{other}` is not a run folder"
                ),
            }
        }
        Ok(r)
    }

    /// Relative paths against the working folder, pretrained weights from the cache.
    pub fn context(&self) -> Result<LoadContext> {
        Ok(LoadContext::new(
            Path::new("."),
            tlkit::data::cache_dir(),
            tlkit::backend::default_device()?,
        ))
    }
}
