//! tlkit: a transfer-learning toolkit.
//!
//! The library is built in layers:
//! - [`backend`]: the thin layer over Burn (device, tensor conversions); the only place that
//!   knows Burn's version-specific API besides the network interpreter.
//! - [`data`]: datasets, loaders (IDX, CSV, NPY/NPZ, image folders), transforms, batching,
//!   the registry fetcher, domain pairs and their input normalisation.
//! - [`nn`]: named networks described by a serializable spec, with shape inference before any
//!   data runs, PyTorch-style parameter paths and glob selection.
//! - [`train`]: optimizers, schedules, the trainer loop with its extension points, metrics and
//!   atomic checkpoints.
//! - [`measure`]: measures of representations that several families report (proxy
//!   A-distance), below the families so that none imports another.
//! - [`run`]: run folders (resolved config, metrics, summary, plots).
//! - [`text`]: tokenizer and BERT encoder for sentence embeddings (MiniLM-L6).
//! - [`plot`]: learning curves, heatmaps, scatter plots and the t-SNE embedding.
//! - [`adapt`]: unsupervised domain adaptation (DANN, DAN, CORAL, JAN, CDAN) as loss terms
//!   and the `tlkit adapt` pipeline.
//! - [`continual`]: task streams, continual-learning methods (EWC, SI, LwF, replay,
//!   progressive networks, ...) and the accuracy-matrix metrics.
//! - [`transferability`]: how well features of one domain or model serve another
//!   (proxy A-distance).

pub mod adapt;
pub mod backend;
pub mod config;
pub mod continual;
pub mod data;
pub mod error;
pub mod experiment;
pub mod finetune;
pub mod fsio;
pub mod measure;
pub mod nn;
pub mod plot;
pub mod pretrained;
pub mod run;
pub mod study;
pub mod text;
pub mod train;
pub mod transferability;
pub mod weights;

pub use error::{Error, Result};

/// The layering rules, checked on the source: a method family never imports another family,
/// and nothing below the families imports one (or the study layer above it).
#[cfg(test)]
mod architecture {
    use std::path::Path;

    const FAMILIES: &[&str] = &["finetune", "adapt", "continual", "transferability"];
    /// Modules below the study layer.
    const LOWER: &[&str] = &[
        "backend",
        "config",
        "data",
        "error",
        "experiment",
        "fsio",
        "measure",
        "nn",
        "plot",
        "pretrained",
        "run",
        "text",
        "train",
        "weights",
    ];

    fn sources(module: &str) -> Vec<(String, String)> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut out = vec![];
        let mut todo = vec![src.join(module), src.join(format!("{module}.rs"))];
        while let Some(p) = todo.pop() {
            if p.is_dir() {
                todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            } else if p.is_file() && p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                out.push((p.display().to_string(), text));
            }
        }
        assert!(!out.is_empty(), "no sources for module `{module}`");
        out
    }

    fn imports(text: &str, module: &str) -> bool {
        text.contains(&format!("crate::{module}::"))
            || text.contains(&format!("crate::{module};"))
            || text.contains(&format!("crate::{module}}}"))
            || text.contains(&format!("crate::{{{module}"))
    }

    #[test]
    fn no_family_imports_another() {
        for f in FAMILIES {
            for (path, text) in sources(f) {
                for g in FAMILIES.iter().filter(|g| *g != f) {
                    assert!(
                        !imports(&text, g),
                        "{path} (family `{f}`) imports family `{g}`"
                    );
                }
            }
        }
    }

    #[test]
    fn lower_layers_import_no_family_and_no_study() {
        for m in LOWER {
            for (path, text) in sources(m) {
                for g in FAMILIES.iter().chain(&["study"]) {
                    assert!(!imports(&text, g), "{path} (layer `{m}`) imports `{g}`");
                }
            }
        }
    }
}
