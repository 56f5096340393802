//! `tlkit study general-features` end to end on the embedded digits: the printed tables and
//! summary.json, a study killed with SIGKILL and resumed, bad configs.

mod common;

use std::path::Path;

use common::{fails_with, json, only_run, stderr, tlkit};

fn args(out: &Path) -> Vec<String> {
    [
        "study",
        "general-features",
        "--benchmark",
        "digits",
        "--seeds",
        "0",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

fn strs(a: &[String]) -> Vec<&str> {
    a.iter().map(String::as_str).collect()
}

/// Killed inside a fine-tune (its probe done, its cell not) and resumed: the same rows, scores
/// and CKA as a study that ran through; the printed report has every section.
#[test]
fn killed_study_resumes_to_the_same_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let full = tmp.path().join("full");
    let o = tlkit(&strs(&args(&full)), tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = common::stdout(&o);
    for want in [
        "big, 10 per class, probe",
        "mod3, 10 per class, finetune",
        "ew: ",
        "vs single-",
        "Kendall",
        "linear CKA between the trunks' `shared`",
    ] {
        assert!(printed.contains(want), "`{want}` in: {printed}");
    }
    let killed = tmp.path().join("killed");
    let part = "single-digit/big-50/seed-0/finetune/metrics.jsonl";
    let run = common::kill_after(&strs(&args(&killed)), tmp.path(), &killed, part, 3);
    assert!(
        !run.join("summary.json").exists(),
        "the study finished before it could be killed"
    );
    let lines = std::fs::read_to_string(run.join(part))
        .unwrap()
        .lines()
        .count();
    assert!(lines < 30, "{lines}");
    let o = tlkit(
        &[
            "study",
            "general-features",
            "--resume",
            run.to_str().unwrap(),
            "--json",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let done = json(&only_run(&full).join("summary.json"));
    let resumed = json(&run.join("summary.json"));
    assert_eq!(printed["rows"], resumed["rows"]);
    for key in ["rows", "scores", "cka", "verdicts", "trunk_metrics"] {
        assert_eq!(done[key], resumed[key], "{key}");
    }
    let rows = done["rows"].as_array().unwrap();
    // 5 trunks × (big: 2 label counts + mod3: 1) × 2 modes.
    assert_eq!(rows.len(), 30);
    assert!(
        rows.iter()
            .all(|r| r["values"][0].as_f64().is_some_and(f64::is_finite))
    );
}

#[test]
fn bad_configs_are_named_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let o = tlkit(
        &[
            "study",
            "general-features",
            "--benchmark",
            "digits",
            "--print-config",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = common::stdout(&o);
    let write = |name: &str, edit: &dyn Fn(&str) -> String| {
        let p = tmp.path().join(name);
        std::fs::write(&p, edit(&text)).unwrap();
        p
    };
    let out = tmp.path().join("out");
    let run = |cfg: &Path| {
        tlkit(
            &[
                "study",
                "general-features",
                cfg.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            tmp.path(),
        )
    };
    let p = write("unknown.toml", &|t| format!("trunkz = [\"ew\"]\n{t}"));
    fails_with(&run(&p), "unknown field `trunkz`");
    let p = write("trunk.toml", &|t| {
        t.replace("\"single:parity\"", "\"single:colour\"")
    });
    fails_with(&run(&p), "`single:colour` names no task");
    let p = write("layer.toml", &|t| {
        t.replace(
            "representation = \"shared\"",
            "representation = \"trunk.9\"",
        )
    });
    fails_with(
        &run(&p),
        "representation: `trunk.9` is not a layer of the trunk",
    );
    let p = write("target.toml", &|t| {
        t.replacen("target = \"big\"", "target = \"huge\"", 1)
    });
    fails_with(&run(&p), "new_tasks `big`: ");
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
    let o = tlkit(
        &["study", "general-features", "--benchmark", "cifar"],
        tmp.path(),
    );
    fails_with(&o, "multi-mnist");
}
