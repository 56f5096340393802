//! End-to-end tests of `tlkit selftaught` on the embedded optdigits: features learned without
//! labels on digits 5–9, a classifier on digits 0–4.

mod common;

use std::path::{Path, PathBuf};

use common::{json, only_run, stderr, tlkit};

/// A study on the embedded digits: unlabeled = digits 5–9, labeled = 0–4, 2 labels-per-class
/// values, 2 seeds, raw pixels, PCA on whole digits and sparse codes of 4×4 patches.
fn config(dir: &Path, labels: &str, unlabeled_classes: &str, extra_arm: &str) -> PathBuf {
    let text = format!(
        "name = \"tiny\"\nseeds = [0, 1]\nlabels_per_class = {labels}\n\
         [unlabeled]\ndata = {{ dataset = \"optdigits-embedded\", classes = {unlabeled_classes} }}\n\
         [data]\ndataset = \"optdigits-embedded\"\nclasses = [0, 1, 2, 3, 4]\n\
         [classifier]\nkind = \"svm\"\nl2 = 0.001\n\
         [[arms]]\nkind = \"raw\"\n\
         [[arms]]\nkind = \"pca\"\ncomponents = 10\n\
         [[arms]]\nkind = \"sparse-coding\"\natoms = 16\nalpha = 0.05\niterations = 60\n\
         batch_size = 64\npatch_count = 4000\n\
         patches = {{ size = 4, stride = 1, grid = 2, norm = \"center\" }}\n{extra_arm}"
    );
    let path = dir.join("study.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_tiny_study_fills_every_cell_with_verdicts_and_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    // A sparse autoencoder on 4×4 patches, its codes pooled as the dictionary's are.
    let ae = "[[arms]]\nkind = \"autoencoder\"\nname = \"ae\"\npatch_count = 2000\n\
              patches = { size = 4, stride = 2, grid = 2, norm = \"center\" }\n\
              [arms.autoencoder]\nkind = \"sparse\"\nhidden = 8\nepochs = 3\nbatch_size = 64\n\
              penalty = \"l1\"\nbeta = 0.01\noptimizer = { name = \"adam\", lr = 0.01 }\n";
    let cfg = config(tmp.path(), "[5, 20]", "[5, 6, 7, 8, 9]", ae);
    let o = tlkit(
        &[
            "selftaught",
            cfg.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("labels per class: sparse-16:"), "{text}");
    // Progress lines name the arm, the seed and the stage.
    assert!(
        stderr(&o).contains("sparse-16 seed 1: learned 16 atoms of [1, 4, 4]"),
        "{}",
        stderr(&o)
    );
    let run = only_run(&out);
    let s = json(&run.join("summary.json"));
    let rows = s["rows"].as_array().unwrap();
    let cells: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["arm"].as_str().unwrap().to_string(),
                r["labels_per_class"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = ["raw", "pca-10", "sparse-16", "ae"]
        .iter()
        .flat_map(|a| ["5", "20"].map(|l| (a.to_string(), l.to_string())))
        .collect();
    assert_eq!(cells, want);
    for r in rows {
        let values = r["values"].as_array().unwrap();
        assert_eq!(values.len(), 2, "{r}");
        assert!(r["mean"].as_f64().unwrap() > 0.5, "{r}");
        let raw = r["arm"] == "raw";
        assert_eq!(r["verdict"].is_null(), raw, "{r}");
        if !raw {
            let gain = r["gain_points"].as_f64().unwrap();
            assert_eq!(r["negative_transfer"].as_bool().unwrap(), gain < 0.0, "{r}");
        }
    }
    // More labels do better than fewer, for the pixels.
    assert!(rows[1]["mean"].as_f64().unwrap() > rows[0]["mean"].as_f64().unwrap());
    assert_eq!(s["verdicts"].as_array().unwrap().len(), 6);
    assert_eq!(s["test_samples"], 180);
    for f in [
        "config.toml",
        "config.started.toml",
        "plots/accuracy.png",
        "plots/basis-pca-10.png",
        "plots/basis-sparse-16.png",
        "plots/basis-ae.png",
        "ae/seed-1/basis/model.toml",
        "plots/reconstruction.png",
        "sparse-16/seed-1/basis/basis.toml",
        "raw/seed-0/result.json",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }
    // The labeled draws are the same for every arm: 5 and 20 per class of 5 classes.
    let r = json(&run.join("sparse-16/seed-0/result.json"));
    assert_eq!(r["train_samples"]["5"], 25);
    assert_eq!(r["train_samples"]["20"], 100);
    assert_eq!(r["feature_width"], 2 * 2 * 16);
    assert_eq!(r["reconstruction"].as_array().unwrap().len(), 60);
    let r = json(&run.join("ae/seed-0/result.json"));
    assert_eq!(r["feature_width"], 2 * 2 * 8);
    assert_eq!(r["reconstruction"].as_array().unwrap().len(), 3);
    // A cell's basis encodes data with `tlkit features encode`.
    let codes = tmp.path().join("codes.npz");
    let o = tlkit(
        &[
            "features",
            "encode",
            "--basis",
            run.join("sparse-16/seed-0/basis").to_str().unwrap(),
            "--data",
            "optdigits-embedded",
            "--out",
            codes.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A study killed with SIGKILL after a basis was learned, and resumed, ends with the summary
/// of the uninterrupted study; the interrupted cell reads its basis back.
#[test]
fn killed_study_resumes_to_the_same_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path(), "[5, 20]", "[5, 6, 7, 8, 9]", "");
    let args = |out: &Path| -> Vec<String> {
        [
            "selftaught",
            cfg.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec()
    };
    let full = tmp.path().join("full");
    let a = args(&full);
    let o = tlkit(
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let killed = tmp.path().join("killed");
    let a = args(&killed);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let run = common::kill_when(&a, tmp.path(), &killed, |run| {
        run.join("sparse-16/seed-0/basis/basis.toml").is_file()
    });
    assert!(
        !run.join("summary.json").exists(),
        "the study finished before it could be killed"
    );
    assert!(!run.join("sparse-16/seed-1/result.json").exists());
    let o = tlkit(
        &["selftaught", "--resume", run.to_str().unwrap()],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let done = only_run(&full);
    assert_eq!(
        json(&done.join("summary.json"))["rows"],
        json(&run.join("summary.json"))["rows"]
    );
    // An edited config is refused on resume, and accepted with --force.
    let text = std::fs::read_to_string(run.join("config.toml")).unwrap();
    std::fs::write(
        run.join("config.toml"),
        text.replace("l2 = 0.001", "l2 = 0.01"),
    )
    .unwrap();
    let o = tlkit(
        &["selftaught", "--resume", run.to_str().unwrap(), "--quiet"],
        tmp.path(),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("edited since the run started"),
        "{}",
        stderr(&o)
    );
    let o = tlkit(
        &[
            "selftaught",
            "--resume",
            run.to_str().unwrap(),
            "--force",
            "--quiet",
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn bad_input_is_named_before_a_study_folder_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let run = |cfg: &Path, more: &[&str]| {
        let mut args = vec!["selftaught", cfg.to_str().unwrap(), "--quiet", "--out"];
        args.push(out.to_str().unwrap());
        args.extend_from_slice(more);
        tlkit(&args, tmp.path())
    };
    // More labels per class than a class has.
    let o = run(&config(tmp.path(), "[5, 1000]", "[5, 6, 7, 8, 9]", ""), &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("labels_per_class = 1000") && err.contains("labeled training samples"),
        "{err}"
    );
    // An unknown kind of arm.
    let o = run(
        &config(tmp.path(), "[5]", "[5, 6]", "[[arms]]\nkind = \"ica\"\n"),
        &[],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("study.toml") && err.contains("ica"), "{err}");
    // An arm the flag names that the config lacks.
    let o = run(
        &config(tmp.path(), "[5]", "[5, 6]", ""),
        &["--arms", "raw,ica-3"],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("ica-3") && err.contains("sparse-16"), "{err}");
    // An empty unlabeled set.
    let o = run(&config(tmp.path(), "[5]", "[]", ""), &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("unlabeled set is empty"), "{err}");
    // Nothing was run, so no study folder was made.
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
}
