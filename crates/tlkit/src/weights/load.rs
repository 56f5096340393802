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
    let header = check_safetensors(path)?;
    let ck = checkpoint::load(path).map_err(|e| match e {
        Error::Checkpoint { path, msg } => Error::format(path, None, msg),
        e => e,
    })?;
    Ok(Weights {
        tensors: ck.model,
        format: WeightFormat::Safetensors,
        config: None,
        dtypes: safetensors_dtypes(&header),
    })
}

/// A JSON object's entries in file order, duplicates kept (a map would keep the last silently).
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of tensors")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// Largest safetensors header read (the safetensors crate's own bound).
const MAX_SAFETENSORS_HEADER: u64 = 100_000_000;

/// Bits per value of a safetensors dtype, and its PyTorch name (`other` where the reader
/// converts none).
fn safetensors_dtype(dtype: &str) -> Option<(u64, &'static str)> {
    Some(match dtype {
        "F64" => (64, "float64"),
        "F32" => (32, "float32"),
        "F16" => (16, "float16"),
        "BF16" => (16, "bfloat16"),
        "I64" => (64, "int64"),
        "I32" => (32, "int32"),
        "I16" => (16, "int16"),
        "I8" => (8, "int8"),
        "U8" => (8, "uint8"),
        "BOOL" => (8, "bool"),
        // Types the reader does not convert; `tlkit inspect` lists them as `other`.
        "U64" => (64, "other"),
        "U32" => (32, "other"),
        "U16" => (16, "other"),
        "F8_E4M3" | "F8_E5M2" => (8, "other"),
        _ => return None,
    })
}

/// Checks a safetensors file's header against its length before the safetensors crate reads
/// it, so that each fault names its tensor: a tensor named twice, an unknown dtype, a shape
/// whose bytes do not match its `data_offsets`, tensors that overlap or leave a gap, and a file
/// shorter than its header says (truncated) or longer. Returns the tensors' (name, dtype) in
/// file order.
fn check_safetensors(path: &Path) -> Result<Vec<(String, &'static str)>> {
    let bad = |at: Option<String>, msg: String| Error::format(path, at, msg);
    let file_len = std::fs::metadata(path)
        .map_err(|e| Error::io("read", path, e))?
        .len();
    let mut f = std::fs::File::open(path).map_err(|e| Error::io("open", path, e))?;
    let mut len = [0u8; 8];
    if file_len < 8 {
        return Err(bad(
            None,
            format!(
                "truncated: {file_len} bytes, a safetensors file starts with an 8-byte header \
                 length; fetch or copy the file again"
            ),
        ));
    }
    f.read_exact(&mut len)
        .map_err(|e| Error::io("read", path, e))?;
    let n = u64::from_le_bytes(len);
    if n > MAX_SAFETENSORS_HEADER || n > file_len - 8 {
        let why = if n > MAX_SAFETENSORS_HEADER {
            "not a safetensors file (or a corrupt one)".to_string()
        } else {
            "truncated, or not a safetensors file".to_string()
        };
        return Err(bad(
            Some("byte 0".into()),
            format!(
                "{why}: the header length says {n} bytes but the file holds {} after it",
                file_len - 8
            ),
        ));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|e| Error::io("read", path, e))?;
    let Entries(entries) = serde_json::from_slice(&header).map_err(|e| {
        bad(
            Some("header".into()),
            format!("not a valid safetensors header (JSON object of tensors): {e}"),
        )
    })?;
    let mut seen = std::collections::HashSet::new();
    let mut spans = Vec::new();
    let mut dtypes = Vec::new();
    for (name, info) in &entries {
        if !seen.insert(name.as_str()) {
            return Err(bad(
                Some(format!("tensor `{name}`")),
                "the header names this tensor twice; a file must hold each tensor once \
                 (which of the two is meant cannot be told)"
                    .into(),
            ));
        }
        if name == "__metadata__" {
            continue;
        }
        let at = || Some(format!("tensor `{name}`"));
        let dtype = info.get("dtype").and_then(|d| d.as_str()).unwrap_or("");
        let Some((bits, torch_name)) = safetensors_dtype(dtype) else {
            return Err(bad(at(), format!("unknown dtype `{dtype}`")));
        };
        let shape: Option<Vec<u64>> = info
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect());
        let Some(shape) = shape else {
            return Err(bad(at(), "`shape` is not a list of sizes".into()));
        };
        let offsets: Option<Vec<u64>> = info
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|d| d.as_u64()).collect());
        let Some([begin, end]) = offsets
            .as_deref()
            .and_then(|o| <[u64; 2]>::try_from(o).ok())
        else {
            return Err(bad(at(), "`data_offsets` is not [begin, end]".into()));
        };
        let bytes = shape
            .iter()
            .try_fold(bits, |acc, &d| acc.checked_mul(d))
            .map(|b| b.div_ceil(8));
        if end < begin || bytes != Some(end - begin) {
            let needs = bytes.map_or("more than 2^64".to_string(), |b| b.to_string());
            return Err(bad(
                at(),
                format!(
                    "shape {shape:?} of {dtype} needs {needs} bytes but data_offsets \
                     [{begin}, {end}] span {}",
                    end.saturating_sub(begin)
                ),
            ));
        }
        spans.push((begin, end, name.as_str()));
        dtypes.push((name.clone(), torch_name));
    }
    spans.sort_unstable();
    let mut expected = 0u64;
    let mut previous = None;
    for &(begin, end, name) in &spans {
        if begin != expected {
            let after = previous.map_or("the start of the data".to_string(), |p| format!("`{p}`"));
            let kind = if begin < expected {
                "overlaps"
            } else {
                "leaves a gap after"
            };
            return Err(bad(
                Some(format!("tensor `{name}`")),
                format!(
                    "data_offsets [{begin}, {end}] {kind} {after} (which ends at byte {expected}); \
                     the header is corrupt"
                ),
            ));
        }
        expected = end;
        previous = Some(name);
    }
    let present = file_len - 8 - n;
    if present != expected {
        let (kind, last) = if present < expected {
            let cut = spans
                .iter()
                .find(|s| s.1 > present)
                .map_or(String::new(), |s| {
                    format!("; tensor `{}` and those after it are cut off", s.2)
                });
            ("truncated", cut)
        } else {
            ("too long", String::new())
        };
        return Err(bad(
            None,
            format!(
                "{kind}: the header describes {expected} bytes of tensor data, {present} \
                 present{last}; fetch or copy the file again"
            ),
        ));
    }
    Ok(dtypes)
}

/// The element types of a checked safetensors header ([`check_safetensors`]), by tensor.
/// Names as [`checkpoint::load`] gives them: a tlkit checkpoint's `model/` prefix dropped, its
/// optimizer state left out.
fn safetensors_dtypes(header: &[(String, &'static str)]) -> Dtypes {
    header
        .iter()
        .filter(|(k, _)| !k.starts_with("optim/"))
        .map(|(k, dtype)| (k.strip_prefix("model/").unwrap_or(k).to_string(), *dtype))
        .collect()
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

    /// A safetensors file of `header` (JSON) and `data`.
    fn safetensors_bytes(header: &str, data: &[u8]) -> Vec<u8> {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header.as_bytes());
        bytes.extend(data);
        bytes
    }

    #[test]
    fn safetensors_faults_name_the_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("w.safetensors");
        let msg = |header: &str, data: &[u8]| {
            std::fs::write(&p, safetensors_bytes(header, data)).unwrap();
            load_weights(&p).unwrap_err().to_string()
        };
        let twice = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                        "a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
        let m = msg(twice, &[0; 4]);
        assert!(m.contains("tensor `a`") && m.contains("twice"), "{m}");
        let shape = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                        "conv.weight":{"dtype":"F32","shape":[2,3],"data_offsets":[4,20]}}"#;
        let m = msg(shape, &[0; 20]);
        assert!(
            m.contains("tensor `conv.weight`")
                && m.contains("needs 24 bytes")
                && m.contains("span 16"),
            "{m}"
        );
        let gap = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                      "b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
        let m = msg(gap, &[0; 12]);
        assert!(
            m.contains("tensor `b`") && m.contains("gap after `a`"),
            "{m}"
        );
        let m = msg(
            r#"{"a":{"dtype":"Q4","shape":[1],"data_offsets":[0,4]}}"#,
            &[0; 4],
        );
        assert!(
            m.contains("tensor `a`") && m.contains("unknown dtype `Q4`"),
            "{m}"
        );
    }

    #[test]
    fn half_a_safetensors_file_is_called_truncated() {
        let bytes = std::fs::read(fixture("tiny.safetensors")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("half.safetensors");
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
        let m = load_weights(&p).unwrap_err().to_string();
        assert!(
            m.contains("half.safetensors") && m.contains("truncated"),
            "{m}"
        );
        let mut long = bytes.clone();
        long.extend([0; 3]);
        std::fs::write(&p, &long).unwrap();
        let m = load_weights(&p).unwrap_err().to_string();
        assert!(m.contains("too long"), "{m}");
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

    #[test]
    fn deep_nesting_names_the_container_kind() {
        // Protocol 2: 40 empty lists, each appended to the one below: [[[...]]] 40 deep.
        let mut pickle = b"\x80\x02".to_vec();
        pickle.extend([b']'; 40]);
        pickle.extend([b'a'; 39]);
        pickle.push(b'.');
        let e = crate::weights::load_pth_bytes(&fuzz_zip_harness(&pickle), Path::new("deep.pth"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is a list nested more than 32 levels deep") && e.contains("deep.pth"),
            "{e}"
        );
    }

    // The minimized cargo-fuzz corpus (fuzz/corpus/, 200–500 s per target on nightly), replayed
    // on stable: every input that once found new coverage still reads or fails cleanly.
    #[test]
    fn fuzz_corpus_replays_without_panic() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        let dir = tempfile::tempdir().unwrap();
        let scratch = dir.path().join("input.safetensors");
        let mut replayed = 0;
        for target in [
            "pth_legacy",
            "pth_zip",
            "pth_zip_pickle",
            "safetensors",
            "onnx",
        ] {
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
                    "onnx" => {
                        let _ = crate::weights::onnx::load_onnx_bytes(&bytes, Path::new("f.onnx"));
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
