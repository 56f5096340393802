//! A BERT encoder (the architecture of MiniLM and most sentence-embedding models) over weights
//! with Hugging Face names (`embeddings.word_embeddings.weight`,
//! `encoder.layer.N.attention.self.query.weight`, …), plus mean pooling.
//!
//! The forward pass follows the original BERT: token + position + segment embeddings, layer
//! norm, then per layer multi-head self-attention with a padding mask, residual and layer norm,
//! a GELU (erf) feed-forward block, residual and layer norm.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::backend::{self, Device, Tensor, activation};
use crate::weights::load_weights;
use crate::{Error, Result};

use super::tokenize::TokenBatch;

/// The fields of a Hugging Face BERT `config.json` the encoder needs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Number of segment types.
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// Layer-norm epsilon.
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
    /// Activation of the feed-forward block; only `gelu` is supported.
    #[serde(default = "gelu")]
    pub hidden_act: String,
}

fn two() -> usize {
    2
}
fn eps() -> f64 {
    1e-12
}
fn gelu() -> String {
    "gelu".into()
}

impl BertConfig {
    /// Every tensor the encoder reads, with its shape.
    pub fn expected(&self) -> Vec<(String, Vec<usize>)> {
        let (h, i) = (self.hidden_size, self.intermediate_size);
        let mut out = vec![
            (
                "embeddings.word_embeddings.weight".to_string(),
                vec![self.vocab_size, h],
            ),
            (
                "embeddings.position_embeddings.weight".into(),
                vec![self.max_position_embeddings, h],
            ),
            (
                "embeddings.token_type_embeddings.weight".into(),
                vec![self.type_vocab_size, h],
            ),
            ("embeddings.LayerNorm.weight".into(), vec![h]),
            ("embeddings.LayerNorm.bias".into(), vec![h]),
        ];
        for l in 0..self.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            for (name, shape) in [
                ("attention.self.query", vec![h, h]),
                ("attention.self.key", vec![h, h]),
                ("attention.self.value", vec![h, h]),
                ("attention.output.dense", vec![h, h]),
                ("intermediate.dense", vec![i, h]),
                ("output.dense", vec![h, i]),
            ] {
                let out_dim = shape[0];
                out.push((format!("{p}.{name}.weight"), shape));
                out.push((format!("{p}.{name}.bias"), vec![out_dim]));
            }
            for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
                out.push((format!("{p}.{norm}.weight"), vec![h]));
                out.push((format!("{p}.{norm}.bias"), vec![h]));
            }
        }
        out
    }

    fn check(&self, path: &Path) -> Result<()> {
        let bad = |msg: String| Error::Config {
            path: path.to_path_buf(),
            msg,
        };
        if self.hidden_act != "gelu" {
            return Err(bad(format!(
                "hidden_act `{}` is not supported (only `gelu`)",
                self.hidden_act
            )));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(bad(format!(
                "num_attention_heads {} must divide hidden_size {}",
                self.num_attention_heads, self.hidden_size
            )));
        }
        Ok(())
    }
}

/// A BERT encoder with its weights on a device.
pub struct Bert {
    config: BertConfig,
    params: BTreeMap<String, (Vec<usize>, Tensor<1>)>,
    device: Device,
}

impl Bert {
    /// Loads a Hugging Face model folder: `config.json` and the weights (`model.safetensors` or
    /// `pytorch_model.bin`). Names may carry a `bert.` prefix (checkpoints of task models).
    ///
    /// # Errors
    /// [`Error::Config`] for a missing or unsupported `config.json`, [`Error::Path`] naming the
    /// first missing tensor, [`Error::Checkpoint`]-style [`Error::Path`] for a shape mismatch.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| Error::io("read", &config_path, e))?;
        let config: BertConfig = serde_json::from_str(&text).map_err(|e| Error::Config {
            path: config_path.clone(),
            msg: format!("not a BERT config: {e}"),
        })?;
        config.check(&config_path)?;
        let weights = load_weights(dir)?;
        let mut params = BTreeMap::new();
        for (name, shape) in config.expected() {
            let found = weights
                .tensors
                .get(&name)
                .or_else(|| weights.tensors.get(&format!("bert.{name}")));
            let Some((got_shape, values)) = found else {
                return Err(Error::Path(format!(
                    "{}: tensor `{name}` is missing; these are not BERT weights matching config.json ({} layers, hidden {})",
                    dir.display(),
                    config.num_hidden_layers,
                    config.hidden_size
                )));
            };
            if *got_shape != shape {
                return Err(Error::Path(format!(
                    "{}: tensor `{name}` has shape {got_shape:?} but config.json implies {shape:?}",
                    dir.display()
                )));
            }
            let t = backend::tensor(values.clone(), [values.len()], device);
            params.insert(name, (shape, t));
        }
        Ok(Self {
            config,
            params,
            device: device.clone(),
        })
    }

    /// The model's configuration.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Number of parameters the encoder uses.
    pub fn num_params(&self) -> usize {
        self.params
            .values()
            .map(|(s, _)| s.iter().product::<usize>())
            .sum()
    }

    fn vector(&self, name: &str) -> Tensor<1> {
        self.params[name].1.clone()
    }

    fn matrix(&self, name: &str) -> Tensor<2> {
        let (shape, t) = &self.params[name];
        t.clone().reshape([shape[0], shape[1]])
    }

    /// `x · Wᵀ + b` for `x` `[n, in]` and the linear layer `name`.
    fn linear(&self, x: Tensor<2>, name: &str) -> Tensor<2> {
        let w = self.matrix(&format!("{name}.weight"));
        let b = self.vector(&format!("{name}.bias"));
        x.matmul(w.transpose()) + b.unsqueeze::<2>()
    }

    /// Layer norm over the last dimension of `x` `[n, h]`.
    fn layer_norm(&self, x: Tensor<2>, name: &str) -> Tensor<2> {
        let mean = x.clone().mean_dim(1);
        let centred = x - mean;
        let var = centred.clone().powf_scalar(2.0).mean_dim(1);
        let normed = centred / (var + self.config.layer_norm_eps).sqrt();
        normed * self.vector(&format!("{name}.weight")).unsqueeze::<2>()
            + self.vector(&format!("{name}.bias")).unsqueeze::<2>()
    }

    /// Hidden states of the last layer, `[batch, seq, hidden]`.
    ///
    /// # Errors
    /// [`Error::Spec`] when a sequence is longer than the position embeddings or a token id is
    /// outside the vocabulary.
    pub fn forward(&self, tokens: &TokenBatch) -> Result<Tensor<3>> {
        let c = &self.config;
        let (b, s, h) = (tokens.batch, tokens.seq, c.hidden_size);
        if s > c.max_position_embeddings {
            return Err(Error::Spec(format!(
                "a text has {s} tokens; the model covers at most {} (truncate the input)",
                c.max_position_embeddings
            )));
        }
        if let Some(id) = tokens.ids.iter().find(|&&i| i as usize >= c.vocab_size) {
            return Err(Error::Spec(format!(
                "token id {id} is outside the vocabulary of {} (tokenizer and model do not match)",
                c.vocab_size
            )));
        }
        let dev = &self.device;
        let ids = backend::labels(&tokens.ids, dev);
        let types = backend::labels(&tokens.type_ids, dev);
        let positions: Vec<u32> = (0..b).flat_map(|_| 0..s as u32).collect();
        let positions = backend::labels(&positions, dev);
        let x = self
            .matrix("embeddings.word_embeddings.weight")
            .select(0, ids)
            + self
                .matrix("embeddings.position_embeddings.weight")
                .select(0, positions)
            + self
                .matrix("embeddings.token_type_embeddings.weight")
                .select(0, types);
        let mut x = self.layer_norm(x, "embeddings.LayerNorm");

        let heads = c.num_attention_heads;
        let dh = h / heads;
        let mask: Vec<f32> = tokens
            .mask
            .iter()
            .map(|&m| if m == 0 { -1e9 } else { 0.0 })
            .collect();
        let mask_bias = backend::tensor(mask, [b, 1, 1, s], dev);
        let scale = 1.0 / (dh as f64).sqrt();
        let split = |t: Tensor<2>| t.reshape([b, s, heads, dh]).swap_dims(1, 2);
        for l in 0..c.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let q = split(self.linear(x.clone(), &format!("{p}.attention.self.query")));
            let k = split(self.linear(x.clone(), &format!("{p}.attention.self.key")));
            let v = split(self.linear(x.clone(), &format!("{p}.attention.self.value")));
            let scores = q.matmul(k.swap_dims(2, 3)) * scale + mask_bias.clone();
            let probs = activation::softmax(scores, 3);
            let ctx = probs.matmul(v).swap_dims(1, 2).reshape([b * s, h]);
            let attn = self.linear(ctx, &format!("{p}.attention.output.dense"));
            x = self.layer_norm(attn + x, &format!("{p}.attention.output.LayerNorm"));
            let inter =
                activation::gelu(self.linear(x.clone(), &format!("{p}.intermediate.dense")));
            let out = self.linear(inter, &format!("{p}.output.dense"));
            x = self.layer_norm(out + x, &format!("{p}.output.LayerNorm"));
        }
        Ok(x.reshape([b, s, h]))
    }
}

/// Mean of the hidden states over the real (unmasked) tokens, `[batch, hidden]`.
pub fn mean_pool(hidden: Tensor<3>, tokens: &TokenBatch) -> Tensor<2> {
    let [b, s, _] = hidden.dims();
    let mask: Vec<f32> = tokens.mask.iter().map(|&m| m as f32).collect();
    let mask = backend::tensor(mask, [b, s, 1], &hidden.device());
    let summed = (hidden * mask.clone()).sum_dim(1).squeeze_dim::<2>(1);
    let counts = mask.sum_dim(1).squeeze_dim::<2>(1).clamp_min(1e-9);
    summed / counts
}

/// Rows scaled to unit L2 norm.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x
        .clone()
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .clamp_min(1e-12);
    x / norm
}
