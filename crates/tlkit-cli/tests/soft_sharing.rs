//! `tlkit multitask` with the soft-sharing layers (`cross_stitch`, `mmoe`) on the embedded
//! optdigits (digit and parity): the heads, the trainer, the weighting methods, checkpoints
//! and the study runner take them as they take any layer.

mod common;

use std::path::{Path, PathBuf};

use common::tlkit;

/// A digits study config whose network is `layer` (a TOML table) with one head per task
/// taking its part of the layer's output.
fn config(dir: &Path, name: &str, layer: &str) -> PathBuf {
    let text = format!(
        r#"
name = "{name}"
seeds = [0]
methods = ["ew", "mgda_ub"]
single_task = false

[data]
dataset = "optdigits-embedded"

[[data.targets]]
name = "parity"
map = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]

[[tasks]]
name = "digit"
head = "digit"

[[tasks]]
name = "parity"
head = "parity"
target = "parity"

[train]
epochs = 1
batch_size = 32

[train.optimizer]
name = "adam"
lr = 0.003

[network]
input_shape = [1, 8, 8]

[[network.layers]]
{layer}

[[network.heads]]
name = "digit"
from = "shared"
layers = [{{ type = "take", part = 0, parts = 2 }}, {{ type = "linear", out_features = 10 }}]

[[network.heads]]
name = "parity"
from = "shared"
layers = [{{ type = "take", part = 1, parts = 2 }}, {{ type = "linear", out_features = 2 }}]
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

const CROSS_STITCH: &str = r#"
name = "shared"
type = "cross_stitch"
tasks = 2
stitch_after = ["act1", "act2"]
layers = [
    { type = "flatten" },
    { name = "fc1", type = "linear", out_features = 32 },
    { name = "act1", type = "relu" },
    { name = "fc2", type = "linear", out_features = 32 },
    { name = "act2", type = "relu" },
]
"#;

const MMOE: &str = r#"
name = "shared"
type = "mmoe"
experts = 3
tasks = 2
expert = [
    { type = "flatten" },
    { name = "fc", type = "linear", out_features = 32 },
    { name = "act", type = "relu" },
]
"#;

/// Runs one epoch of `ew` and `mgda_ub` (which reads the gradients on the layer the heads
/// branch from) and returns the study folder and its summary.
fn one_epoch(name: &str, layer: &str) -> (tempfile::TempDir, PathBuf, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), name, layer);
    let out = tmp.path().join("runs");
    let o = tlkit(
        &[
            "multitask",
            cfg.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let run = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    (tmp, run, serde_json::from_str(&summary).unwrap())
}

/// Each arm's mean test accuracy per task, from the summary.
fn accuracies(s: &serde_json::Value) -> Vec<(String, String, f64)> {
    let mut out = vec![];
    for t in s["tasks"].as_array().unwrap() {
        for r in t["rows"].as_array().unwrap() {
            out.push((
                t["task"].as_str().unwrap().to_string(),
                r["arm"].as_str().unwrap().to_string(),
                r["mean"].as_f64().unwrap(),
            ));
        }
    }
    out
}

fn assert_learned(s: &serde_json::Value) {
    let acc = accuracies(s);
    assert_eq!(acc.len(), 4, "{acc:?}");
    for (task, arm, a) in acc {
        // One epoch on the 3 823 training digits: chance is 0.1 and 0.5.
        let floor = if task == "digit" { 0.6 } else { 0.7 };
        assert!(a > floor, "{arm} {task}: {a}");
    }
}

#[test]
fn cross_stitch_network_trains_in_a_multitask_study() {
    let (_tmp, run, s) = one_epoch("stitch", CROSS_STITCH);
    assert_learned(&s);
    // The α were trained: the resolved config keeps the layer, the checkpoint its α.
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(cfg.contains("cross_stitch"), "{cfg}");
    let found: Vec<PathBuf> = walk(&run.join("ew"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    assert!(!found.is_empty(), "no checkpoint under {run:?}");
    // α moved from its initialisation (0.9 on the diagonal, 0.1 off it) in training.
    let w = tlkit::weights::load_weights(&found[0]).unwrap();
    let (shape, alpha) = &w.tensors["shared.alpha.act2"];
    assert_eq!(shape, &[2, 2]);
    let init = [0.9f32, 0.1, 0.1, 0.9];
    assert!(
        alpha.iter().zip(init).all(|(a, i)| (a - i).abs() > 1e-5),
        "{alpha:?}"
    );
}

#[test]
fn mmoe_network_trains_in_a_multitask_study() {
    let (_tmp, _run, s) = one_epoch("moe", MMOE);
    assert_learned(&s);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The built-in MultiMNIST benchmarks: Sener & Koltun's network split into two columns or
/// four half-width experts, both about twice the hard-sharing trunk (21 330 weights).
#[test]
fn multi_mnist_benchmarks_have_the_documented_sizes() {
    use tlkit::multitask::MultitaskConfig;
    use tlkit::nn::Network;
    let device = tlkit::backend::Device::flex();
    let count = |net: &Network, prefix: &str| -> usize {
        net.slots()
            .filter(|(p, _)| p.starts_with(prefix))
            .map(|(_, s)| s.shape.iter().product::<usize>())
            .sum()
    };
    let trunk = {
        let cfg = MultitaskConfig::benchmark("multi-mnist").unwrap();
        count(
            &Network::new(cfg.network.unwrap(), 0, &device).unwrap(),
            "shared.",
        )
    };
    assert_eq!(trunk, 21_330);
    let cfg = MultitaskConfig::benchmark("multi-mnist-cross-stitch").unwrap();
    assert_eq!(cfg.train.optimizer.groups[0].params, ["stitch.alpha.*"]);
    let net = Network::new(cfg.network.unwrap(), 0, &device).unwrap();
    assert_eq!(count(&net, "stitch.columns."), 2 * trunk);
    assert_eq!(count(&net, "stitch.alpha."), 3 * 4);
    assert_eq!(net.head_output_shape(Some("right")).unwrap(), [10]);
    let cfg = MultitaskConfig::benchmark("multi-mnist-mmoe").unwrap();
    let net = Network::new(cfg.network.unwrap(), 0, &device).unwrap();
    assert_eq!(count(&net, "mmoe.experts."), 4 * 9_440);
    assert_eq!(count(&net, "mmoe.gates."), 2 * 4 * 784);
    assert_eq!(net.head_output_shape(Some("left")).unwrap(), [10]);
}
