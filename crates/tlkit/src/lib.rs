//! tlkit: a transfer-learning toolkit.
//!
//! The library is built in layers, listed here from the bottom up. A test (`architecture`,
//! below) checks on the source that no method family imports another and that nothing below
//! the families imports one (or the study layer).
//! - [`backend`]: the thin layer over Burn (device, tensor conversions); the only place that
//!   knows Burn's version-specific API besides the network interpreter.
//! - [`data`]: datasets (with named targets: class labels or real values), loaders (IDX, CSV,
//!   NPY/NPZ, image folders), transforms, batching, the registry fetcher, domain pairs and
//!   their input normalisation.
//! - [`nn`]: named networks described by a serializable spec (a trunk and optional named heads
//!   branching from any layer), shape inference before any data runs, PyTorch-style parameter
//!   paths, glob selection, surgery, and features of any layer as a cached service.
//! - [`weights`]: weights readers (safetensors, PyTorch zip and legacy pickles, ONNX) and the
//!   one model reference every command takes ([`weights::ModelRef`]).
//! - [`train`]: the one training loop, with tasks (head, target, loss, metric), a gradient
//!   stage for per-task gradients, loss terms, hooks, optimizers, schedules, metrics, atomic
//!   checkpoints and linear probes; [`experiment`] runs a training config end to end.
//! - [`linalg`]: dense linear algebra on `faer` (PCA, PCA and ZCA whitening).
//! - [`measure`]: measures of representations that several families report (proxy
//!   A-distance).
//! - [`study`]: arms × seeds in one folder, per-(arm, seed) results, resume of a killed study,
//!   mean ± std, mean curves and the one verdict rule against a baseline arm.
//! - [`plot`], [`run`], [`text`]: pictures (curves, heat maps, t-SNE), run folders, the
//!   sentence encoder.
//! - The method families, one method per file: [`finetune`] (pretrained against scratch,
//!   L2-SP, gradual unfreezing), [`adapt`] (DANN, DAN, CORAL, JAN, CDAN), [`continual`] (EWC,
//!   SI, LwF, replay, progressive networks), [`multitask`] (loss weighting: EW, UW, DWA,
//!   GradNorm, PCGrad, MGDA, CAGrad), [`transferability`] and [`selftaught`] (sparse coding,
//!   PCA features).

pub mod adapt;
pub mod backend;
pub mod config;
pub mod continual;
pub mod data;
pub mod error;
pub mod experiment;
pub mod finetune;
pub mod fsio;
pub mod linalg;
pub mod measure;
pub mod multitask;
pub mod nn;
pub mod plot;
pub mod pretrained;
pub mod run;
pub mod selftaught;
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

    const FAMILIES: &[&str] = &[
        "finetune",
        "adapt",
        "continual",
        "multitask",
        "transferability",
        "selftaught",
    ];
    /// Modules below the study layer.
    const LOWER: &[&str] = &[
        "backend",
        "config",
        "data",
        "error",
        "experiment",
        "fsio",
        "linalg",
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
