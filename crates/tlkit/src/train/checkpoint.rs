//! Checkpoints: weights, buffers and optimizer state in one safetensors file, written
//! atomically (temporary file in the same folder, then rename) so that a crash never leaves a
//! half-written checkpoint in place of a good one.
//!
//! A trainer keeps two epoch checkpoints in `<run>/checkpoints/`: [`LAST`] and the one it
//! replaced, [`PREVIOUS`]. A last checkpoint that is damaged anyway (a disk that filled up, a
//! copy cut short) or missing (a kill between the two renames) falls back to the previous
//! one, with a warning naming both ([`resume_point`], [`load_for_resume`]); the run then
//! repeats one epoch and ends with the same numbers.
//!
//! Keys: `model/<path>` for parameters and buffers, `optim/<path>.<state>` for optimizer
//! state; the training position and history are JSON in the safetensors metadata under
//! `tlkit`. [`save_weights`] writes a weights-only file with bare PyTorch-style names.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use serde::{Deserialize, Serialize};

use super::record::EpochRecord;
pub use crate::fsio::write_atomic;
use crate::{Error, Result};

/// The newest epoch checkpoint, in a run's `checkpoints/` folder.
pub const LAST: &str = "last.safetensors";
/// The epoch checkpoint [`LAST`] replaced: what a resume falls back to.
pub const PREVIOUS: &str = "previous.safetensors";
/// The checkpoint of the best validation score.
pub const BEST: &str = "best.safetensors";

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
    write_atomic(path, &encode(path, model, optimizer, meta)?)
}

/// Saves an epoch checkpoint as `dir/last.safetensors`, keeping the one it replaces as
/// `dir/previous.safetensors`. The new file is written and synced under a temporary name
/// first; then the old last becomes the previous and the new one the last (two renames), so
/// that at every moment a complete checkpoint is in place: a kill between the renames leaves
/// only the previous one, which [`resume_point`] takes.
pub fn save_last(
    dir: &Path,
    model: &HostTensors,
    optimizer: &BTreeMap<String, Vec<f32>>,
    meta: &CheckpointMeta,
) -> Result<()> {
    let last = dir.join(LAST);
    let bytes = encode(&last, model, optimizer, meta)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let mut tmp = crate::fsio::temp_file_in(dir)?;
    tmp.write_all(&bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
    if last.is_file() {
        let previous = dir.join(PREVIOUS);
        std::fs::rename(&last, &previous).map_err(|e| Error::io("rename", &last, e))?;
    }
    tmp.persist(&last)
        .map_err(|e| Error::io("rename into place", &last, e.error))?;
    Ok(())
}

/// The checkpoint a run whose output folder is `run_dir` continues from:
/// `checkpoints/last.safetensors`, or `previous.safetensors` when the last one is missing
/// (with a warning). `None` when the run wrote no checkpoint because it stopped before its
/// first epoch ended; an error when it did finish epochs (its `metrics.jsonl` lists them)
/// but its checkpoints are gone, with `remedy` (what to do instead) in the message.
pub fn resume_point(run_dir: &Path, remedy: &str) -> Result<Option<PathBuf>> {
    let dir = run_dir.join("checkpoints");
    let (last, previous) = (dir.join(LAST), dir.join(PREVIOUS));
    if last.is_file() {
        return Ok(Some(last));
    }
    if previous.is_file() {
        tracing::warn!(
            "{} is missing (the run was killed while replacing it); continuing from {}, one epoch earlier",
            last.display(),
            previous.display()
        );
        return Ok(Some(previous));
    }
    let metrics = run_dir.join("metrics.jsonl");
    let epochs = std::fs::read_to_string(&metrics)
        .map(|t| t.lines().filter(|l| !l.trim().is_empty()).count())
        .unwrap_or(0);
    if epochs == 0 {
        return Ok(None);
    }
    let state = if dir.is_dir() {
        "holds no checkpoint"
    } else {
        "is missing"
    };
    Err(Error::Checkpoint {
        path: dir,
        msg: format!(
            "{state}, though {} records {epochs} completed epoch{} (were the checkpoints deleted?); the run cannot continue where it stopped: {remedy}",
            metrics.display(),
            if epochs == 1 { "" } else { "s" }
        ),
    })
}

/// Reads a checkpoint to resume from. When `path` is a `last.safetensors` that cannot be read
/// (truncated, corrupt) and a `previous.safetensors` beside it can, that one is used, with a
/// warning naming both files; the path actually read comes back with the checkpoint.
pub fn load_for_resume(path: &Path) -> Result<(PathBuf, Checkpoint)> {
    let err = match load(path) {
        Ok(ck) => return Ok((path.to_path_buf(), ck)),
        Err(e) => e,
    };
    let previous = path.with_file_name(PREVIOUS);
    if path.file_name() != Some(LAST.as_ref()) || !previous.is_file() {
        return Err(err);
    }
    match load(&previous) {
        Ok(ck) => {
            tracing::warn!(
                "{err}; continuing from the previous checkpoint {}, one epoch earlier",
                previous.display()
            );
            Ok((previous, ck))
        }
        Err(e2) => Err(Error::Checkpoint {
            path: path.to_path_buf(),
            msg: format!(
                "cannot be read ({err}), nor can the previous checkpoint ({e2}); the run cannot continue where it stopped"
            ),
        }),
    }
}

/// The bytes of a checkpoint file (`path` names it in errors).
fn encode(
    path: &Path,
    model: &HostTensors,
    optimizer: &BTreeMap<String, Vec<f32>>,
    meta: &CheckpointMeta,
) -> Result<Vec<u8>> {
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
    serialize(
        tensors,
        Some(HashMap::from([("tlkit".to_string(), meta_json)])),
        path,
    )
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
    let st = SafeTensors::deserialize(&bytes).map_err(|e| {
        bad(match truncation(&bytes) {
            Some(t) => t,
            None => format!("not a valid safetensors file: {e}"),
        })
    })?;
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

/// "truncated: …" when `bytes` are shorter than their header says (a copy cut short, a full
/// disk), so that such a file is not called merely invalid.
fn truncation(bytes: &[u8]) -> Option<String> {
    let short = |needed: u64| {
        format!(
            "truncated: {} bytes, its header says {needed} (not a valid safetensors file)",
            bytes.len()
        )
    };
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let header_end = n.checked_add(8)?;
    if (bytes.len() as u64) < header_end {
        return Some(short(header_end));
    }
    let header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..header_end as usize]).ok()?;
    let data_end = header
        .values()
        .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
        .max()?;
    let needed = header_end.checked_add(data_end)?;
    ((bytes.len() as u64) < needed).then(|| short(needed))
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

    fn meta(epoch: usize) -> CheckpointMeta {
        CheckpointMeta {
            epoch,
            iteration: 10 * epoch,
            optimizer_steps: 10 * epoch as u64,
            history: vec![],
            best: None,
            bad_epochs: 0,
        }
    }

    #[test]
    fn a_damaged_last_checkpoint_falls_back_to_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let ck = dir.path().join("checkpoints");
        let model = |v: f32| BTreeMap::from([("w".to_string(), (vec![2], vec![v, v]))]);
        save_last(&ck, &model(1.0), &BTreeMap::new(), &meta(1)).unwrap();
        assert!(!ck.join(PREVIOUS).exists());
        save_last(&ck, &model(2.0), &BTreeMap::new(), &meta(2)).unwrap();
        assert_eq!(load(&ck.join(PREVIOUS)).unwrap().meta, Some(meta(1)));
        let (used, last) = load_for_resume(&ck.join(LAST)).unwrap();
        assert_eq!((used, last.model), (ck.join(LAST), model(2.0)));
        // Cut short: named truncated, and the previous epoch's checkpoint is taken instead.
        let bytes = std::fs::read(ck.join(LAST)).unwrap();
        std::fs::write(ck.join(LAST), &bytes[..bytes.len() / 2]).unwrap();
        let err = load(&ck.join(LAST)).unwrap_err().to_string();
        assert!(
            err.contains("last.safetensors") && err.contains("truncated"),
            "{err}"
        );
        let (used, ck1) = load_for_resume(&ck.join(LAST)).unwrap();
        assert_eq!((used, ck1.meta), (ck.join(PREVIOUS), Some(meta(1))));
        // Both damaged: an error naming both faults.
        std::fs::write(ck.join(PREVIOUS), b"junk").unwrap();
        let err = load_for_resume(&ck.join(LAST)).unwrap_err().to_string();
        assert!(
            err.contains("last.safetensors")
                && err.contains("previous.safetensors")
                && err.contains("nor can the previous checkpoint"),
            "{err}"
        );
        // Another file than a last checkpoint never falls back.
        std::fs::write(ck.join(BEST), b"junk").unwrap();
        let err = load_for_resume(&ck.join(BEST)).unwrap_err().to_string();
        assert!(!err.contains("previous"), "{err}");
    }

    #[test]
    fn resume_point_tells_a_missing_last_a_deleted_folder_and_a_first_epoch_apart() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path();
        // Stopped before its first epoch ended: nothing to resume, no error.
        assert_eq!(resume_point(run, "x").unwrap(), None);
        std::fs::write(run.join("metrics.jsonl"), "").unwrap();
        assert_eq!(resume_point(run, "x").unwrap(), None);
        // Killed between the two renames of `save_last`: the previous checkpoint.
        let ck = run.join("checkpoints");
        save_last(&ck, &HostTensors::new(), &BTreeMap::new(), &meta(1)).unwrap();
        save_last(&ck, &HostTensors::new(), &BTreeMap::new(), &meta(2)).unwrap();
        assert_eq!(resume_point(run, "x").unwrap(), Some(ck.join(LAST)));
        std::fs::remove_file(ck.join(LAST)).unwrap();
        assert_eq!(resume_point(run, "x").unwrap(), Some(ck.join(PREVIOUS)));
        // Epochs were recorded but the checkpoints are gone: not "before its first epoch".
        std::fs::write(run.join("metrics.jsonl"), "{}\n{}\n").unwrap();
        std::fs::remove_dir_all(&ck).unwrap();
        let err = resume_point(run, "train it again").unwrap_err().to_string();
        assert!(
            err.contains("checkpoints: is missing")
                && err.contains("records 2 completed epochs")
                && err.contains("train it again"),
            "{err}"
        );
        std::fs::create_dir(&ck).unwrap();
        let err = resume_point(run, "x").unwrap_err().to_string();
        assert!(err.contains("holds no checkpoint"), "{err}");
    }

    #[test]
    fn half_precision_decodes() {
        assert_eq!(half_to_f32(0x3c00), 1.0);
        assert_eq!(half_to_f32(0xc000), -2.0);
        assert_eq!(half_to_f32(0x0001), 2f32.powi(-24));
    }
}
