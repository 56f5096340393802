//! Raw bytes as a config file, into the config loaders: the first byte picks the loader
//! (`train`'s experiment config, or the fine-tuning, adaptation or continual study config),
//! the rest is the file. A config that loads is written back with every default filled in,
//! as a run folder's `config.toml` is, and must load again: a resumed run reads that file.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde::Serialize;

fn scratch() -> &'static PathBuf {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        std::env::temp_dir().join(format!("tlkit-fuzz-{}.toml", std::process::id()))
    })
}

/// Loads `path` with `load`; a config that loads must load again from its resolved text.
fn round_trip<C: Serialize>(path: &Path, load: impl Fn(&Path) -> tlkit::Result<C>) {
    let Ok(cfg) = load(path) else {
        return;
    };
    let text = toml::to_string_pretty(&cfg).expect("a loaded config serializes");
    std::fs::write(path, &text).unwrap();
    if let Err(e) = load(path) {
        panic!("the resolved config does not load again: {e}\n{text}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let path = scratch();
    std::fs::write(path, text).unwrap();
    match pick % 4 {
        0 => round_trip(path, tlkit::config::ExperimentConfig::load),
        1 => round_trip(path, tlkit::finetune::FinetuneConfig::load),
        2 => round_trip(path, tlkit::adapt::AdaptConfig::load),
        _ => round_trip(path, tlkit::continual::ContinualConfig::load),
    }
});
