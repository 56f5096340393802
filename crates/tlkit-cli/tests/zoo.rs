//! End-to-end tests of `tlkit zoo build` and `tlkit relate` on the embedded optdigits data.

use std::path::Path;

mod common;
use common::{stderr, tlkit};

/// A member builds into `$TLKIT_HOME/zoo/<member>/` as a run folder that `tlkit score`
/// takes through the zoo file, and a second call finds it up to date; another budget
/// rebuilds it.
#[test]
fn a_member_builds_once_and_is_skipped_after() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let build = [
        "zoo",
        "build",
        "--only",
        "lenet-optdigits",
        "--epochs",
        "1",
        "--quiet",
    ];
    let o = tlkit(&build, home);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("built lenet-optdigits in"),
        "{}",
        stderr(&o)
    );
    let dir = home.join("zoo/lenet-optdigits");
    for f in [
        "config.toml",
        "model.toml",
        "weights.safetensors",
        "recipe.sha256",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let weights = std::fs::read(dir.join("weights.safetensors")).unwrap();
    let zoo = std::fs::read_to_string(home.join("zoo/zoo.toml")).unwrap();
    assert!(
        zoo.contains("\nlenet-optdigits = { run = \"lenet-optdigits\" }\n"),
        "{zoo}"
    );
    assert!(zoo.contains("layer = \"_blocks.4\","), "{zoo}");
    assert!(!zoo.contains("lenet-mnist"), "only built members: {zoo}");

    let o = tlkit(&build, home);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("lenet-optdigits is up to date"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(dir.join("weights.safetensors")).unwrap(),
        weights
    );

    // The zoo file's line names the member for `tlkit score` (alone: the references need
    // EfficientNet's weights).
    let line = zoo
        .lines()
        .find(|l| l.starts_with("lenet-optdigits"))
        .unwrap();
    std::fs::write(home.join("zoo/one.toml"), format!("[models]\n{line}\n")).unwrap();
    let o = tlkit(
        &[
            "score",
            "--models",
            "zoo/one.toml",
            "--target",
            "optdigits-embedded",
            "--per-class",
            "10",
            "--scores",
            "logme",
        ],
        home,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("lenet-optdigits  bottleneck"));

    let o = tlkit(&["zoo", "build", "--list"], home);
    let list = String::from_utf8_lossy(&o.stdout);
    assert!(list.contains("lenet-optdigits          built"), "{list}");
    assert!(list.contains("lenet-mnist              missing"), "{list}");

    let o = tlkit(&["zoo", "build", "--only", "lenet-cifar"], home);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("unknown zoo member `lenet-cifar`; known: lenet-mnist"),
        "{e}"
    );
}

fn write(home: &Path, name: &str, text: &str) {
    std::fs::write(home.join(name), text).unwrap();
}

/// Two small datasets (a data config file and a name) give a symmetric A-distance matrix
/// with finite values and a PNG; two networks give a CKA matrix.
#[test]
fn relate_gives_a_symmetric_matrix_and_a_heatmap() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    write(
        home,
        "low.toml",
        "dataset = \"optdigits-embedded\"\nclasses = [0, 1, 2, 3, 4]\n",
    );
    write(
        home,
        "high.toml",
        "[data]\ndataset = \"optdigits-embedded\"\nclasses = [5, 6, 7, 8, 9]\n",
    );
    let trained = common::trained_mlp(home, 1, "runs");
    let o = tlkit(
        &[
            "relate",
            "low.toml",
            "high.toml",
            "optdigits-embedded",
            "--model",
            "mlp",
            "--model",
            trained.to_str().unwrap(),
            "--samples",
            "200",
            "--pad-epochs",
            "3",
            "--json",
            "r.json",
        ],
        home,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("proxy A-distance (mlp at `backbone`"), "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("r.json")).unwrap()).unwrap();
    let m = r["proxy_a_distance"].as_array().unwrap();
    assert_eq!(m.len(), 3);
    for (i, row) in m.iter().enumerate() {
        for (j, v) in row.as_array().unwrap().iter().enumerate() {
            let v = v.as_f64().unwrap();
            assert!(v.is_finite() && (0.0..=2.0).contains(&v), "{v}");
            assert_eq!(v, m[j][i].as_f64().unwrap());
        }
    }
    assert_eq!(r["samples"], serde_json::json!([200, 200, 200]));
    assert_eq!(r["cka"].as_array().unwrap().len(), 3);
    for f in ["relate_pad.png", "relate_cka_0.png"] {
        let png = std::fs::read(home.join("relate").join(f)).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{f}");
    }
}

#[test]
fn relate_names_what_cannot_be_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let run = |args: &[&str]| {
        let o = tlkit(args, home);
        assert!(!o.status.success(), "{args:?} succeeded");
        stderr(&o)
    };
    let e = run(&["relate", "optdigits-embedded", "cifar11", "--model", "mlp"]);
    assert!(
        e.contains("loading the dataset `cifar11`") && e.contains("unknown dataset"),
        "{e}"
    );
    // Known but not fetched into this empty TLKIT_HOME.
    let e = run(&[
        "relate",
        "optdigits-embedded",
        "fashion-mnist",
        "--model",
        "mlp",
    ]);
    assert!(
        e.contains("loading the dataset `fashion-mnist`") && e.contains("fetch"),
        "{e}"
    );
    write(
        home,
        "bad.toml",
        "dataset = \"optdigits-embedded\"\nclases = [0]\n",
    );
    let e = run(&["relate", "optdigits-embedded", "bad.toml", "--model", "mlp"]);
    assert!(e.contains("bad.toml") && e.contains("clases"), "{e}");
    let e = run(&["relate", "optdigits-embedded", "--model", "mlp"]);
    assert!(e.contains("relate two or more datasets"), "{e}");
    let e = run(&[
        "relate",
        "optdigits-embedded",
        "optdigits-embedded",
        "--model",
        "nope/",
    ]);
    assert!(e.contains("nope"), "{e}");
}
