//! One entry point for pretrained weights: a safetensors file, a PyTorch checkpoint (zip or
//! legacy) or a Hugging Face model folder, told apart by content rather than by name (a
//! `.bin` is a zip checkpoint, a `.pth` may be either PyTorch format).

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::pth::{self, Dtypes};
use crate::train::checkpoint::{self, HostTensors};
use crate::{Error, Result};

/// The format a weights file was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WeightFormat {
    /// A safetensors file.
    Safetensors,
    /// A `torch.save` zip archive (torch >= 1.6).
    PthZip,
    /// A legacy `torch.save` pickle stream (torch < 1.6, or saved with
    /// `_use_new_zipfile_serialization=False`).
    PthLegacy,
    /// The initializers of an ONNX model, named by the imported network's paths
    /// ([`super::onnx::load_onnx`] gives the network as well).
    Onnx,
}

/// Pretrained weights read from a file or model folder.
#[derive(Debug, Clone)]
pub struct Weights {
    /// Every tensor by its PyTorch-style name, as f32 values in C order.
    pub tensors: HostTensors,
    /// The format the tensors were read from.
    pub format: WeightFormat,
    /// The model folder's `config.json`, when the weights came from a Hugging Face folder.
    pub config: Option<serde_json::Value>,
    /// Each tensor's element type as stored (`float32`, `int64`, `bfloat16`, ...) before the
    /// conversion to f32; empty for ONNX models, whose importer gives f32 parameters.
    pub dtypes: Dtypes,
}

impl Weights {
    /// Total number of values over all tensors.
    pub fn num_values(&self) -> usize {
        self.tensors.values().map(|(_, v)| v.len()).sum()
    }
}

/// Weight files looked for in a model folder, in order of preference.
pub const MODEL_FILES: [&str; 4] = [
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
];

/// Reads weights from `path`: a file (format chosen by content: an ONNX model (first byte
/// 0x08, or the `.onnx` extension), the zip magic `PK`, the legacy pickle magic, otherwise
/// safetensors) or a Hugging Face model folder (the first of
/// [`MODEL_FILES`] present, a sharded `*.index.json` read shard by shard, and `config.json`
/// into [`Weights::config`]).
///
/// # Errors
/// [`Error::Io`] when the path cannot be read, [`Error::Path`] for a folder without weights,
/// [`Error::Format`] naming the file and the position when the content is not valid.
pub fn load_weights(path: impl AsRef<Path>) -> Result<Weights> {
    let path = path.as_ref();
    let meta = std::fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    if !meta.is_dir() {
        return load_file(path);
    }
    let Some(model) = MODEL_FILES
        .iter()
        .map(|f| path.join(f))
        .find(|p| p.is_file())
    else {
        return Err(Error::Path(format!(
            "{} has no model weights: expected one of {} (a Hugging Face model folder)",
            path.display(),
            MODEL_FILES.join(", ")
        )));
    };
    let mut weights = if model.extension().is_some_and(|e| e == "json") {
        load_sharded(&model)?
    } else {
        load_file(&model)?
    };
    let config = path.join("config.json");
    if config.is_file() {
        let text = std::fs::read_to_string(&config).map_err(|e| Error::io("read", &config, e))?;
        weights.config = Some(serde_json::from_str(&text).map_err(|e| {
            Error::format(
                &config,
                Some(format!("line {}", e.line())),
                format!("not valid JSON: {e}"),
            )
        })?);
    }
    Ok(weights)
}

/// Reads one weights file, choosing the reader by its first bytes.
fn load_file(path: &Path) -> Result<Weights> {
    let mut head = [0u8; 16];
    let n = {
        let mut f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
        read_up_to(&mut f, &mut head).map_err(|e| Error::io("read", path, e))?
    };
    let head = &head[..n];
    if head.is_empty() {
        return Err(Error::format(
            path,
            None,
            "the file is empty; expected safetensors or a PyTorch checkpoint",
        ));
    }
    if super::onnx::looks_like_onnx(head) || path.extension().is_some_and(|e| e == "onnx") {
        return Ok(Weights {
            tensors: super::onnx::load_onnx(path)?.weights,
            format: WeightFormat::Onnx,
            config: None,
            dtypes: Dtypes::new(),
        });
    }
    if pth::looks_like_pth(head) {
        let format = if pth::is_zip(head) {
            WeightFormat::PthZip
        } else {
            WeightFormat::PthLegacy
        };
        let (tensors, dtypes) = pth::load_pth_typed(path)?;
        return Ok(Weights {
            tensors,
            format,
            config: None,
            dtypes,
        });
    }
    let ck = checkpoint::load(path).map_err(|e| match e {
        Error::Checkpoint { path, msg } => Error::format(path, None, msg),
        e => e,
    })?;
    Ok(Weights {
        tensors: ck.model,
        format: WeightFormat::Safetensors,
        config: None,
        dtypes: safetensors_dtypes(path)?,
    })
}

/// The element types a safetensors header names, by tensor (read after the whole file parsed,
/// so the header is known to be valid). Names as [`checkpoint::load`] gives them: a tlkit
/// checkpoint's `model/` prefix dropped, its optimizer state left out.
fn safetensors_dtypes(path: &Path) -> Result<Dtypes> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|e| Error::io("read", path, e))?;
    let mut header = vec![0u8; u64::from_le_bytes(len) as usize];
    f.read_exact(&mut header)
        .map_err(|e| Error::io("read", path, e))?;
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| Error::format(path, Some("header".into()), format!("not valid JSON: {e}")))?;
    Ok(json
        .iter()
        .filter(|(k, _)| *k != "__metadata__" && !k.starts_with("optim/"))
        .map(|(k, v)| {
            let name = k.strip_prefix("model/").unwrap_or(k).to_string();
            let dtype = match v.get("dtype").and_then(|d| d.as_str()) {
                Some("F64") => "float64",
                Some("F32") => "float32",
                Some("F16") => "float16",
                Some("BF16") => "bfloat16",
                Some("I64") => "int64",
                Some("I32") => "int32",
                Some("I16") => "int16",
                Some("I8") => "int8",
                Some("U8") => "uint8",
                Some("BOOL") => "bool",
                _ => "other",
            };
            (name, dtype)
        })
        .collect())
}

fn read_up_to(f: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A sharded checkpoint: `{"weight_map": {"tensor": "shard file"}}`, each shard read once.
fn load_sharded(index: &Path) -> Result<Weights> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::io("read", index, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::format(index, None, format!("not valid JSON: {e}")))?;
    let Some(map) = json.get("weight_map").and_then(|m| m.as_object()) else {
        return Err(Error::format(index, None, "no `weight_map` object"));
    };
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut shards: Vec<&str> = map.values().filter_map(|v| v.as_str()).collect();
    shards.sort_unstable();
    shards.dedup();
    let mut out: Option<Weights> = None;
    for shard in shards {
        if Path::new(shard)
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(Error::format(
                index,
                None,
                format!("shard `{shard}` is not a file name inside the folder"),
            ));
        }
        let w = load_file(&dir.join(shard))?;
        match &mut out {
            None => out = Some(w),
            Some(o) => {
                o.tensors.extend(w.tensors);
                o.dtypes.extend(w.dtypes);
            }
        }
    }
    out.ok_or_else(|| Error::format(index, None, "the `weight_map` names no shard"))
}

/// The path of the fixture `name` in `crates/tlkit/tests/fixtures/weights/`.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/weights")
        .join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_is_chosen_by_content() {
        let dir = tempfile::tempdir().unwrap();
        for (fixture_name, format) in [
            ("tiny_zip.pth", WeightFormat::PthZip),
            ("tiny_legacy.pth", WeightFormat::PthLegacy),
            ("tiny.safetensors", WeightFormat::Safetensors),
        ] {
            // Misleading names do not matter.
            let p = dir.path().join("weights.bin");
            std::fs::copy(fixture(fixture_name), &p).unwrap();
            let w = load_weights(&p).unwrap();
            assert_eq!(w.format, format, "{fixture_name}");
            assert_eq!(
                w.tensors["transposed"].1,
                vec![0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]
            );
            assert!(w.config.is_none());
        }
    }

    #[test]
    fn hugging_face_folder_reads_model_and_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture("tiny.safetensors"),
            dir.path().join("model.safetensors"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"hidden_size": 384, "model_type": "bert"}"#,
        )
        .unwrap();
        let w = load_weights(dir.path()).unwrap();
        assert_eq!(w.format, WeightFormat::Safetensors);
        assert_eq!(w.tensors.len(), 8);
        assert_eq!(w.config.unwrap()["hidden_size"], 384);

        // pytorch_model.bin is a zip checkpoint.
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture("tiny_zip.pth"),
            dir.path().join("pytorch_model.bin"),
        )
        .unwrap();
        let w = load_weights(dir.path()).unwrap();
        assert_eq!(w.format, WeightFormat::PthZip);
        assert_eq!(w.tensors.len(), 9);
        assert!(w.config.is_none());
    }

    #[test]
    fn sharded_folder_merges_shards() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture("tiny.safetensors"),
            dir.path().join("a.safetensors"),
        )
        .unwrap();
        std::fs::copy(fixture("wrapped.pth"), dir.path().join("b.bin")).unwrap();
        std::fs::write(
            dir.path().join("model.safetensors.index.json"),
            r#"{"weight_map": {"base": "a.safetensors", "enc.w": "b.bin"}}"#,
        )
        .unwrap();
        let w = load_weights(dir.path()).unwrap();
        assert_eq!(w.tensors.len(), 8 + 2);
        assert_eq!(w.tensors["head.b"], (vec![1], vec![0.5]));

        std::fs::write(
            dir.path().join("model.safetensors.index.json"),
            r#"{"weight_map": {"x": "../escape.safetensors"}}"#,
        )
        .unwrap();
        let e = load_weights(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a file name inside the folder"), "{e}");
    }

    #[test]
    fn empty_file_and_folder_without_weights_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pth");
        std::fs::write(&empty, b"").unwrap();
        let e = load_weights(&empty).unwrap_err().to_string();
        assert!(
            e.contains("empty.pth") && e.contains("the file is empty"),
            "{e}"
        );

        std::fs::write(dir.path().join("config.json"), "{}").unwrap();
        let e = load_weights(dir.path()).unwrap_err();
        assert!(matches!(e, Error::Path(_)), "{e:?}");
        let e = e.to_string();
        assert!(
            e.contains("has no model weights") && e.contains("model.safetensors"),
            "{e}"
        );

        let e = load_weights(dir.path().join("missing.pth")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }), "{e:?}");

        // A safetensors error is a format error that names the file.
        let bad = dir.path().join("bad.safetensors");
        std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{}").unwrap();
        let e = load_weights(&bad).unwrap_err();
        assert!(
            matches!(&e, Error::Format { path, .. } if path == &bad),
            "{e:?}"
        );
    }

    #[test]
    fn bad_config_json_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            fixture("tiny.safetensors"),
            dir.path().join("model.safetensors"),
        )
        .unwrap();
        std::fs::write(dir.path().join("config.json"), "{\n  \"a\": 1,\n}").unwrap();
        let e = load_weights(dir.path()).unwrap_err().to_string();
        assert!(e.contains("config.json (line 3)"), "{e}");
    }

    #[test]
    fn safetensors_fixture_matches_pytorch() {
        // tiny.safetensors holds the tiny state dict minus int32 (no I32 in the reader),
        // contiguous.
        let w = load_weights(fixture("tiny.safetensors")).unwrap();
        let expected: Vec<_> = crate::weights::pth::tests::tiny_expected()
            .into_iter()
            .filter(|(k, _, _)| *k != "int32")
            .collect();
        assert_eq!(w.tensors.len(), expected.len());
        for (k, shape, values) in expected {
            assert_eq!(w.tensors[k], (shape, values), "{k}");
        }
    }

    #[test]
    fn every_truncated_safetensors_is_a_clear_error() {
        let bytes = std::fs::read(fixture("tiny.safetensors")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cut.safetensors");
        for n in 0..bytes.len() {
            std::fs::write(&p, &bytes[..n]).unwrap();
            match load_weights(&p) {
                Ok(w) => panic!("cut at {n} read as {:?}", w.tensors.keys()),
                Err(e) => assert!(e.to_string().contains("cut.safetensors"), "{n}: {e}"),
            }
        }
    }

    // Regression: a safetensors header of 0x80 + 256k bytes starts with 0x80, pickle's PROTO.
    #[test]
    fn safetensors_whose_header_length_starts_with_0x80_is_not_a_pickle() {
        let mut header = br#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#.to_vec();
        header.resize(0x180, b' ');
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header);
        bytes.extend(2.5f32.to_le_bytes());
        assert_eq!(bytes[0], 0x80);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        std::fs::write(&p, &bytes).unwrap();
        let w = load_weights(&p).unwrap();
        assert_eq!(w.format, WeightFormat::Safetensors);
        assert_eq!(w.tensors["w"], (vec![1], vec![2.5]));
    }

    /// The archive fuzz/fuzz_targets/pth_zip_pickle.rs builds around its input: `data.pkl`
    /// plus storages `0`..`9` of 256 bytes.
    fn fuzz_zip_harness(pickle: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let mut add = |name: &str, bytes: &[u8]| {
            z.start_file(name, opts).unwrap();
            z.write_all(bytes).unwrap();
        };
        add("archive/data.pkl", pickle);
        add("archive/byteorder", b"little");
        for key in 0..10u8 {
            let data: Vec<u8> = (0..=255u8)
                .map(|i| i.wrapping_mul(37).wrapping_add(key))
                .collect();
            add(&format!("archive/data/{key}"), &data);
        }
        z.finish().unwrap().into_inner()
    }

    // The minimized cargo-fuzz corpus (fuzz/corpus/, 200–500 s per target on nightly), replayed
    // on stable: every input that once found new coverage still reads or fails cleanly.
    #[test]
    fn fuzz_corpus_replays_without_panic() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("input.safetensors");
        let mut replayed = 0;
        for target in ["pth_legacy", "pth_zip", "pth_zip_pickle", "safetensors"] {
            let Ok(entries) = std::fs::read_dir(root.join(target)) else {
                continue;
            };
            for entry in entries {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                match target {
                    "pth_zip_pickle" => {
                        let zip = fuzz_zip_harness(&bytes);
                        let _ = crate::weights::load_pth_bytes(&zip, Path::new("fuzz.pth"));
                    }
                    "safetensors" => {
                        std::fs::write(&scratch, &bytes).unwrap();
                        let _ = load_weights(&scratch);
                    }
                    _ => {
                        let _ = crate::weights::load_pth_bytes(&bytes, Path::new("fuzz.pth"));
                    }
                }
                replayed += 1;
            }
        }
        assert!(
            replayed > 100,
            "only {replayed} corpus inputs found under {root:?}"
        );
    }
}
