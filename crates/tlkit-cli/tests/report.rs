//! End-to-end tests of `tlkit transfer-report` on the embedded optdigits data.

use std::path::{Path, PathBuf};

mod common;
use common::{stderr, tlkit};

fn trained_mlp(home: &Path) -> PathBuf {
    common::trained_mlp(home, 2, "sources")
}

const BUDGET: [&str; 14] = [
    "--target",
    "optdigits-embedded",
    "--per-class",
    "10",
    "--seeds",
    "0,1",
    "--epochs",
    "1",
    "--test-limit",
    "300",
    "--scores",
    "logme,leep,hscore",
    "--batch-size",
    "10",
];

#[test]
fn report_scores_finetunes_and_ranks_the_candidates_against_scratch() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let run = trained_mlp(home);
    let run = run
        .strip_prefix(home)
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    std::fs::write(
        home.join("zoo.toml"),
        format!("[models]\ntrained = \"{run}\"\nrandom = \"mlp\"\n"),
    )
    .unwrap();
    let mut args = vec!["transfer-report", "--models", "zoo.toml", "--out", "runs"];
    args.extend(BUDGET);
    let o = tlkit(&args, home);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(table.contains("scratch (mlp): "), "{table}");
    for s in ["logme", "leep", "hscore"] {
        assert!(
            table.lines().any(|l| l.starts_with(s) && l.contains("2")),
            "no rank line for {s}:\n{table}"
        );
    }

    let dir = common::only_run(&home.join("runs"));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["train_samples"], 100);
    assert_eq!(s["test_samples"], 300);
    assert_eq!(s["scratch"]["values"].as_array().unwrap().len(), 2);
    let cands = s["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 2);
    let mean = |name: &str| {
        cands.iter().find(|c| c["name"] == name).unwrap()["finetuned"]["mean"]
            .as_f64()
            .unwrap()
    };
    let scratch = s["scratch"]["mean"].as_f64().unwrap();
    // A network trained on the digits starts far ahead of random weights after one epoch on
    // ten labels per class.
    assert!(
        mean("trained") > scratch + 0.05,
        "trained {} vs scratch {scratch}:\n{table}",
        mean("trained")
    );
    for c in cands {
        assert_eq!(c["layer"], "backbone", "the layer feeding the classifier");
        assert_eq!(c["finetuned"]["values"].as_array().unwrap().len(), 2);
        let v = &c["verdict"];
        let gain = 100.0 * (c["finetuned"]["mean"].as_f64().unwrap() - scratch);
        assert!(
            (v["gain_points"].as_f64().unwrap() - gain).abs() < 1e-9,
            "{v}"
        );
        assert_eq!(v["baseline"], "scratch");
        // The table's verdict is the summary's: NEGATIVE TRANSFER exactly where the gain is
        // below zero.
        let name = c["name"].as_str().unwrap();
        let line = table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{table}"));
        let word = if gain < 0.0 {
            "NEGATIVE TRANSFER"
        } else {
            "positive transfer"
        };
        assert!(line.contains(word), "{line}");
        assert!(line.contains(&format!("{gain:+.2} ±")), "{line}");
    }
    // Two candidates: each defined τ is ±1, and +1 where the score puts them in the order of
    // their accuracies.
    let logme = |name: &str| {
        cands.iter().find(|c| c["name"] == name).unwrap()["scores"]["logme"]
            .as_f64()
            .unwrap()
    };
    let agree = s["rank_agreement"].as_array().unwrap();
    assert_eq!(agree.len(), 3);
    let l = agree.iter().find(|a| a["score"] == "logme").unwrap();
    assert_eq!(l["candidates"], 2);
    let same_order = (logme("trained") > logme("random")) == (mean("trained") > mean("random"));
    let want = if same_order { 1.0 } else { -1.0 };
    assert_eq!(l["kendall_tau"].as_f64(), Some(want), "{l}");
    assert_eq!(l["weighted_tau"].as_f64(), Some(want), "{l}");
    for sc in ["logme", "leep", "hscore"] {
        assert!(
            dir.join(format!("plots/score_vs_accuracy_{sc}.png"))
                .is_file(),
            "{sc}"
        );
    }
    // Resuming the finished report reads every run back and prints the same report.
    let o = tlkit(
        &[
            "transfer-report",
            "--resume",
            dir.strip_prefix(home).unwrap().to_str().unwrap(),
        ],
        home,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), table);
    for arm in ["trained", "random", "scratch"] {
        for seed in [0, 1] {
            assert!(dir.join(format!("{arm}/seed-{seed}/result.json")).is_file());
        }
    }
}

#[test]
fn bad_candidates_are_refused_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    std::fs::write(home.join("zoo.toml"), "[models]\nscratch = \"mlp\"\n").unwrap();
    let mut args = vec!["transfer-report", "--models", "zoo.toml", "--out", "runs"];
    args.extend(BUDGET);
    let o = tlkit(&args, home);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("models = scratch: `scratch` is the baseline arm's name"),
        "{}",
        stderr(&o)
    );
    let mut args = vec![
        "transfer-report",
        "--models",
        "mlp",
        "--layers",
        "backbone.*",
        "--out",
        "runs",
    ];
    args.extend(BUDGET);
    let o = tlkit(&args, home);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("a report fine-tunes on one layer per model"),
        "{}",
        stderr(&o)
    );
    assert!(!home.join("runs").exists(), "nothing trained, no folder");
}
