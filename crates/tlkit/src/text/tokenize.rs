//! Text to token ids through a Hugging Face `tokenizer.json` (the `tokenizers` crate), padded
//! per batch to its longest sequence.

use std::path::{Path, PathBuf};

use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::{Error, Result};

/// A batch of tokenised texts, row-major `[batch, seq]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Segment (token type) ids.
    pub type_ids: Vec<u32>,
    /// 1 for a real token, 0 for padding.
    pub mask: Vec<u32>,
    /// Number of texts.
    pub batch: usize,
    /// Length of the longest text in tokens (with the special tokens); every row is padded to it.
    pub seq: usize,
}

/// A tokenizer read from a `tokenizer.json`, truncating to `max_len` tokens.
pub struct TextTokenizer {
    inner: Tokenizer,
    path: PathBuf,
}

impl TextTokenizer {
    /// Reads `tokenizer.json`, keeps its normalizer, pre-tokenizer, vocabulary and template
    /// (`[CLS] … [SEP]`), and replaces its padding and truncation: pad to the batch's longest
    /// text, truncate to `max_len` tokens.
    ///
    /// # Errors
    /// [`Error::Format`] naming the file when it is not a tokenizer the crate can read.
    pub fn from_file(path: &Path, max_len: usize) -> Result<Self> {
        let mut inner = Tokenizer::from_file(path).map_err(|e| Error::Format {
            path: path.to_path_buf(),
            at: None,
            msg: format!("not a readable tokenizer.json: {e}"),
        })?;
        let pad_token = inner
            .get_padding()
            .map(|p| (p.pad_id, p.pad_token.clone()))
            .unwrap_or((0, "[PAD]".into()));
        inner.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id: pad_token.0,
            pad_token: pad_token.1,
            ..PaddingParams::default()
        }));
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..TruncationParams::default()
            }))
            .map_err(|e| Error::Format {
                path: path.to_path_buf(),
                at: None,
                msg: format!("cannot truncate to {max_len} tokens: {e}"),
            })?;
        Ok(Self {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// Size of the vocabulary, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Tokenises `texts` with the special tokens, padded to the longest.
    ///
    /// # Errors
    /// [`Error::Format`] when the tokenizer fails on a text; [`Error::Spec`] for an empty list.
    pub fn encode(&self, texts: &[&str]) -> Result<TokenBatch> {
        if texts.is_empty() {
            return Err(Error::Spec("no texts to tokenise".into()));
        }
        let encodings =
            self.inner
                .encode_batch(texts.to_vec(), true)
                .map_err(|e| Error::Format {
                    path: self.path.clone(),
                    at: None,
                    msg: format!("tokenising failed: {e}"),
                })?;
        let seq = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut out = TokenBatch {
            ids: Vec::with_capacity(seq * texts.len()),
            type_ids: Vec::with_capacity(seq * texts.len()),
            mask: Vec::with_capacity(seq * texts.len()),
            batch: texts.len(),
            seq,
        };
        for e in &encodings {
            out.ids.extend_from_slice(e.get_ids());
            out.type_ids.extend_from_slice(e.get_type_ids());
            out.mask.extend_from_slice(e.get_attention_mask());
        }
        Ok(out)
    }
}
