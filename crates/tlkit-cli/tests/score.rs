//! End-to-end tests of `tlkit score` on the embedded optdigits data.

use std::path::{Path, PathBuf};

mod common;
use common::{stderr, tlkit};

fn trained_mlp(home: &Path, epochs: i64) -> PathBuf {
    common::trained_mlp(home, epochs, "runs")
}

fn rows(json: &Path) -> Vec<serde_json::Value> {
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

fn score_of(rows: &[serde_json::Value], model: &str, score: &str) -> f64 {
    let r = rows
        .iter()
        .find(|r| r["model"] == model)
        .unwrap_or_else(|| panic!("no row for {model}: {rows:?}"));
    r["scores"][score]
        .as_f64()
        .unwrap_or_else(|| panic!("{score} of {model}: {r}"))
}

#[test]
fn a_trained_network_outscores_a_random_one_and_features_are_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let run = trained_mlp(home, 2);
    let run = run.file_name().unwrap().to_str().unwrap();
    let zoo = home.join("zoo.toml");
    std::fs::write(
        &zoo,
        format!("[models]\ntrained = \"runs/{run}\"\nrandom = \"mlp\"\n"),
    )
    .unwrap();
    let json = home.join("scores.json");
    let args = [
        "score",
        "--models",
        "zoo.toml",
        "--target",
        "optdigits-embedded",
        "--per-class",
        "30",
        "--scores",
        "logme,leep,nce,hscore,hscore-shrunk,transrate",
        "--json",
        "scores.json",
    ];
    let o = tlkit(&args, home);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    let first = rows(&json);
    assert_eq!(first.len(), 2, "{first:?}");
    for r in &first {
        assert_eq!(r["samples"], 300);
        assert_eq!(r["layer"], "backbone", "the layer feeding the classifier");
        assert_eq!(r["cached"], false);
    }
    let (trained, random) = (
        score_of(&first, "trained", "logme"),
        score_of(&first, "random", "logme"),
    );
    assert!(
        trained > random,
        "LogME: trained {trained} <= random {random}"
    );
    // Sorted by the first score: the trained network's row comes first.
    assert_eq!(first[0]["model"], "trained", "{table}");
    assert!(
        table.lines().nth(2).unwrap().starts_with("trained"),
        "{table}"
    );
    // H-score is not asserted: on these digits random ReLU features of the pixels keep
    // nearly all of their class information, and its value is the same to about 2%.
    for s in ["leep", "nce", "transrate"] {
        let (t, r) = (
            score_of(&first, "trained", s),
            score_of(&first, "random", s),
        );
        assert!(t > r, "{s}: trained {t} <= random {r}");
    }

    // The second call reads every feature back from the cache and gives the same numbers.
    let o = tlkit(&args, home);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("cached features"), "{}", stderr(&o));
    let second = rows(&json);
    for (a, b) in first.iter().zip(&second) {
        assert_eq!(b["cached"], true);
        assert_eq!(a["scores"], b["scores"]);
    }
}

#[test]
fn layers_of_one_model_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let base = [
        "score",
        "--models",
        "resnet",
        "--target",
        "optdigits-embedded",
        "--per-class",
        "10",
        "--scores",
        "logme,hscore",
        "--json",
        "s.json",
    ];
    // Every layer inside the backbone, the outermost of nested matches; [C, H, W] pooled.
    let mut args = base.to_vec();
    args.extend(["--layers", "backbone.*"]);
    let o = tlkit(&args, home);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = rows(&home.join("s.json"));
    let mut layers: Vec<&str> = r.iter().map(|x| x["layer"].as_str().unwrap()).collect();
    layers.sort();
    assert_eq!(
        layers,
        [
            "backbone.flatten",
            "backbone.layer1",
            "backbone.layer2",
            "backbone.layer3",
            "backbone.pool",
            "backbone.stem"
        ]
    );
    let stem = r.iter().find(|x| x["layer"] == "backbone.stem").unwrap();
    assert_eq!(stem["width"], 16, "16×8×8 pooled over space: {stem}");

    let mut args = base.to_vec();
    args.extend(["--layers", "nothing.*"]);
    let e = stderr(&tlkit(&args, home));
    assert!(
        e.contains("layer glob `nothing.*` matches no layer of `resnet`"),
        "{e}"
    );

    let mut args = base.to_vec();
    args[8] = "logme,leap";
    let e = stderr(&tlkit(&args, home));
    assert!(e.contains("unknown score `leap`"), "{e}");

    std::fs::write(home.join("zoo.toml"), "[modles]\na = \"mlp\"\n").unwrap();
    let mut args = base.to_vec();
    args[2] = "zoo.toml";
    let e = stderr(&tlkit(&args, home));
    assert!(
        e.contains("zoo file zoo.toml") && e.contains("modles"),
        "{e}"
    );
}
