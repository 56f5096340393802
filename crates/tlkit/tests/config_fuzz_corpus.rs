//! The config loaders' fuzz corpus (`fuzz/corpus/config`), replayed on stable the way
//! `fuzz/fuzz_targets/config.rs` feeds it: the first byte picks the loader, the rest is the
//! file; every input loads or fails cleanly, and a config that loads loads again from its
//! resolved text (what a run folder's `config.toml` holds). The loaders span the families, so
//! this lives above them, here.

use std::path::Path;

use serde::Serialize;

fn round_trip<C: Serialize>(path: &Path, load: impl Fn(&Path) -> tlkit::Result<C>) -> bool {
    let Ok(cfg) = load(path) else {
        return false;
    };
    let text = toml::to_string_pretty(&cfg).unwrap();
    std::fs::write(path, &text).unwrap();
    if let Err(e) = load(path) {
        panic!("the resolved config does not load again: {e}\n{text}");
    }
    true
}

#[test]
fn config_fuzz_corpus_replays_and_round_trips() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let (mut replayed, mut loaded) = (0, 0);
    for entry in std::fs::read_dir(&root).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let Some((&pick, text)) = bytes.split_first() else {
            continue;
        };
        std::fs::write(&path, text).unwrap();
        let ok = match pick % 4 {
            0 => round_trip(&path, tlkit::config::ExperimentConfig::load),
            1 => round_trip(&path, tlkit::finetune::FinetuneConfig::load),
            2 => round_trip(&path, tlkit::adapt::AdaptConfig::load),
            _ => round_trip(&path, tlkit::continual::ContinualConfig::load),
        };
        replayed += 1;
        loaded += usize::from(ok);
    }
    assert!(
        replayed >= 100 && loaded >= 20,
        "{replayed} corpus inputs ({loaded} loaded) under {root:?}"
    );
}
