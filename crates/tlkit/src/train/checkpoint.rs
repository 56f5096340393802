//! Checkpoints: weights, buffers and optimizer state in one safetensors file, written
//! atomically (temporary file in the same folder, then rename) so that a crash never leaves a
//! half-written checkpoint in place of a good one.
//!
//! Keys: `model/<path>` for parameters and buffers, `optim/<path>.<state>` for optimizer
//! state; the training position and history are JSON in the safetensors metadata under
//! `tlkit`. [`save_weights`] writes a weights-only file with bare PyTorch-style names.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use super::record::EpochRecord;
pub use crate::fsio::write_atomic;
use crate::{Error, Result};

/// Host tensors by name: shape and values.
pub type HostTensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// Where training stood when the checkpoint was written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Epochs completed.
    pub epoch: usize,
    /// Iterations completed.
    pub iteration: usize,
    pub optimizer_steps: u64,
    /// Every completed epoch's record, so a resumed run rewrites the same metrics.
    pub history: Vec<EpochRecord>,
    /// Best validation score so far and the epochs since it improved (early stopping).
    pub best: Option<f64>,
    pub bad_epochs: usize,
}

/// A loaded checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub model: HostTensors,
    pub optimizer: BTreeMap<String, Vec<f32>>,
    pub meta: Option<CheckpointMeta>,
}

fn to_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn serialize(
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    meta: Option<HashMap<String, String>>,
    path: &Path,
) -> Result<Vec<u8>> {
    let views = tensors
        .iter()
        .map(|(k, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes).map(|v| (k.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Checkpoint {
            path: path.into(),
            msg: e.to_string(),
        })?;
    safetensors::serialize(views, meta).map_err(|e| Error::Checkpoint {
        path: path.into(),
        msg: e.to_string(),
    })
}

/// Saves model state, optimizer state and the training position.
pub fn save(
    path: &Path,
    model: &HostTensors,
    optimizer: &BTreeMap<String, Vec<f32>>,
    meta: &CheckpointMeta,
) -> Result<()> {
    let mut tensors = vec![];
    for (k, (shape, v)) in model {
        tensors.push((format!("model/{k}"), shape.clone(), to_bytes(v)));
    }
    for (k, v) in optimizer {
        tensors.push((format!("optim/{k}"), vec![v.len()], to_bytes(v)));
    }
    let meta_json = serde_json::to_string(meta).map_err(|e| Error::Checkpoint {
        path: path.into(),
        msg: e.to_string(),
    })?;
    let bytes = serialize(
        tensors,
        Some(HashMap::from([("tlkit".to_string(), meta_json)])),
        path,
    )?;
    write_atomic(path, &bytes)
}

/// Saves weights only, with bare parameter paths (loadable by PyTorch's `safetensors.torch`).
pub fn save_weights(path: &Path, model: &HostTensors) -> Result<()> {
    let tensors = model
        .iter()
        .map(|(k, (s, v))| (k.clone(), s.clone(), to_bytes(v)))
        .collect();
    write_atomic(path, &serialize(tensors, None, path)?)
}

/// Reads a checkpoint or a weights-only safetensors file (f32, f16, bf16 and f64 tensors are
/// read as f32).
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let bad = |msg: String| Error::Checkpoint {
        path: path.into(),
        msg,
    };
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let meta = match header.metadata().as_ref().and_then(|m| m.get("tlkit")) {
        Some(json) => Some(
            serde_json::from_str(json)
                .map_err(|e| bad(format!("unreadable training metadata: {e}")))?,
        ),
        None => None,
    };
    let mut model = BTreeMap::new();
    let mut optimizer = BTreeMap::new();
    for (name, view) in st.tensors() {
        let values = to_f32(view.dtype(), view.data()).ok_or_else(|| {
            bad(format!(
                "tensor `{name}` has unsupported dtype {:?}",
                view.dtype()
            ))
        })?;
        if let Some(k) = name.strip_prefix("optim/") {
            optimizer.insert(k.to_string(), values);
        } else {
            let k = name.strip_prefix("model/").unwrap_or(&name).to_string();
            model.insert(k, (view.shape().to_vec(), values));
        }
    }
    Ok(Checkpoint {
        model,
        optimizer,
        meta,
    })
}

fn to_f32(dtype: Dtype, data: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| half_to_f32(u16::from_le_bytes([b[0], b[1]])))
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
            .collect(),
        Dtype::I64 => data
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")) as f32)
            .collect(),
        _ => return None,
    })
}

fn half_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let mut e = 127 - 15 + 1;
            let mut f = f;
            while f & 0x400 == 0 {
                f <<= 1;
                e -= 1;
            }
            sign | (e << 23) | ((f & 0x3ff) << 13)
        }
        (0x1f, f) => sign | 0x7f80_0000 | (f << 13),
        (e, f) => sign | ((e + 127 - 15) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_tensors_and_meta() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.safetensors");
        let model = BTreeMap::from([(
            "fc.weight".to_string(),
            (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]),
        )]);
        let optim = BTreeMap::from([("fc.weight.exp_avg".to_string(), vec![0.5; 4])]);
        let meta = CheckpointMeta {
            epoch: 3,
            iteration: 30,
            optimizer_steps: 30,
            history: vec![],
            best: Some(0.9),
            bad_epochs: 1,
        };
        save(&path, &model, &optim, &meta).unwrap();
        let ck = load(&path).unwrap();
        assert_eq!(ck.model, model);
        assert_eq!(ck.optimizer, optim);
        assert_eq!(ck.meta, Some(meta));
    }

    #[test]
    fn truncated_file_is_a_clear_error_and_atomic_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck.safetensors");
        let model = BTreeMap::from([("w".to_string(), (vec![3], vec![1.0, 2.0, 3.0]))]);
        save_weights(&path, &model).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.safetensors");
        std::fs::write(&cut, &bytes[..bytes.len() - 5]).unwrap();
        let err = load(&cut).unwrap_err().to_string();
        assert!(
            err.contains("cut.safetensors") && err.contains("not a valid safetensors"),
            "{err}"
        );
        // A failed write (target is a directory) leaves nothing half-written behind.
        let target = dir.path().join("sub");
        std::fs::create_dir(&target).unwrap();
        assert!(write_atomic(&target, b"x").is_err());
        assert_eq!(load(&path).unwrap().model, model);
    }

    #[test]
    fn half_precision_decodes() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
    }
}
