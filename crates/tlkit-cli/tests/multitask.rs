//! End-to-end tests of `tlkit multitask` on the embedded optdigits (digit and parity).

mod common;

use std::path::{Path, PathBuf};

use common::{history, json, only_run, stderr, tlkit};

#[test]
fn benchmark_trains_single_task_and_method_arms_with_gains_weights_and_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let o = tlkit(
        &[
            "multitask",
            "--benchmark",
            "digits-parity",
            "--method",
            "ew,uw,pcgrad",
            "--seeds",
            "0,1",
            "--epochs",
            "3",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("task digit (test accuracy):"), "{text}");
    assert!(text.contains("vs single-task"), "{text}");
    let run = only_run(&out);
    let s = json(&run.join("summary.json"));
    let tasks = s["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    for t in tasks {
        let rows = t["rows"].as_array().unwrap();
        let arms: Vec<&str> = rows.iter().map(|r| r["arm"].as_str().unwrap()).collect();
        let single = format!("single-{}", t["task"].as_str().unwrap());
        assert_eq!(arms, [single.as_str(), "ew", "uw", "pcgrad"]);
        for r in rows {
            assert_eq!(r["values"].as_array().unwrap().len(), 2);
            assert!(r["mean"].as_f64().unwrap() > 0.7, "{r}");
        }
        assert!(rows[0]["verdict"].is_null());
        assert!(
            rows[1]["verdict"]
                .as_str()
                .unwrap()
                .contains("vs single-task")
        );
    }
    assert_eq!(s["verdicts"].as_array().unwrap().len(), 6);
    let ratio = s["epoch_time_vs_ew"]["pcgrad"].as_f64().unwrap();
    assert!(ratio > 0.0, "{s}");
    for f in [
        "plots/loss_weights.png",
        "plots/gradient_cosine.png",
        "plots/digit_test_accuracy.png",
        "plots/parity_test_accuracy.png",
        "uw/seed-1/result.json",
        "single-parity/seed-0/result.json",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }
    // Each epoch records the weight uncertainty weighting gave each task.
    let h = history(&run.join("uw/seed-0"));
    assert_eq!(h.len(), 3);
    let w = |e: usize| h[e]["tasks"]["digit"]["weight"].as_f64().unwrap();
    assert!(w(0) > 0.0 && w(2) != w(0), "{h:?}");
    // PCGrad computes each task's gradient: their cosine is recorded per epoch.
    let r = json(&run.join("pcgrad/seed-0/result.json"));
    assert_eq!(r["grad_cosine"].as_array().unwrap().len(), 3, "{r}");
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        cfg.contains("methods = [") && cfg.contains("epochs = 3"),
        "{cfg}"
    );
}

/// A study config with the given methods and tasks on the embedded digits.
fn config(dir: &Path, methods: &str, tasks: &str) -> PathBuf {
    let text = format!(
        "methods = [{methods}]\n\
         [data]\ndataset = \"optdigits-embedded\"\n\
         [[data.targets]]\nname = \"parity\"\nmap = [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]\n\
         {tasks}\n\
         [train]\nepochs = 1\nbatch_size = 32\n[train.optimizer]\nname = \"adam\"\nlr = 0.003\n\
         [network]\ninput_shape = [1, 8, 8]\n\
         [[network.layers]]\nname = \"shared\"\ntype = \"flatten\"\n\
         [[network.heads]]\nname = \"digit\"\nfrom = \"shared\"\n\
         [[network.heads.layers]]\ntype = \"linear\"\nout_features = 10\n\
         [[network.heads]]\nname = \"parity\"\nfrom = \"shared\"\n\
         [[network.heads.layers]]\ntype = \"linear\"\nout_features = 2\n"
    );
    let path = dir.join("tasks.toml");
    std::fs::write(&path, text).unwrap();
    path
}

const DIGIT: &str = "[[tasks]]\nname = \"digit\"\nhead = \"digit\"\n";
const PARITY: &str = "[[tasks]]\nname = \"parity\"\nhead = \"parity\"\ntarget = \"parity\"\n";

#[test]
fn bad_tasks_are_errors_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let run = |cfg: &Path| {
        tlkit(
            &[
                "multitask",
                cfg.to_str().unwrap(),
                "--quiet",
                "--out",
                out.to_str().unwrap(),
            ],
            tmp.path(),
        )
    };
    // A method that compares task gradients, with one task.
    let o = run(&config(tmp.path(), "\"mgda\"", DIGIT));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("tasks.toml") && err.contains("`mgda`") && err.contains("at least two tasks"),
        "{err}"
    );
    // A regression loss on a head of class logits, against class labels.
    let mse = format!(
        "{DIGIT}[[tasks]]\nname = \"parity\"\nhead = \"parity\"\ntarget = \"parity\"\nloss = \"mse\"\n"
    );
    let o = run(&config(tmp.path(), "\"ew\"", &mse));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("task `parity`") && err.contains("holds class labels"),
        "{err}"
    );
    // A target the data does not have.
    let colour =
        format!("{DIGIT}[[tasks]]\nname = \"c\"\nhead = \"parity\"\ntarget = \"colour\"\n");
    let o = run(&config(tmp.path(), "\"ew\"", &colour));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("colour"), "{}", stderr(&o));
    // An unknown method names the known ones.
    let o = run(&config(tmp.path(), "\"nash\"", &format!("{DIGIT}{PARITY}")));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("cagrad"), "{}", stderr(&o));
    // Nothing was trained, so no study folder was made.
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
}

/// A study killed with SIGKILL and resumed ends as the uninterrupted one: the interrupted
/// cell continues from its checkpoint with the method's learned weights restored.
#[test]
fn killed_study_resumes_to_the_same_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let args = |out: &Path| -> Vec<String> {
        [
            "multitask",
            "--benchmark",
            "digits-parity",
            "--method",
            "uw",
            "--no-single-task",
            "--epochs",
            "30",
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
    let run = common::kill_after(&a, tmp.path(), &killed, "uw/seed-0/metrics.jsonl", 2);
    let before = history(&run.join("uw/seed-0")).len();
    let o = tlkit(
        &["multitask", "--resume", run.to_str().unwrap(), "--quiet"],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(before < 30, "the study finished before it could be killed");
    let done = only_run(&full);
    assert_eq!(
        history(&done.join("uw/seed-0")),
        history(&run.join("uw/seed-0"))
    );
    assert_eq!(
        json(&done.join("summary.json"))["tasks"],
        json(&run.join("summary.json"))["tasks"]
    );
}

/// `--sweep-branch` on the embedded optdigits: one arm per branch point, the sweep's table
/// and CKA in the printed summary and summary.json, the sweep plot; a branch point that is
/// not a layer of the trunk is refused before any folder is made.
#[test]
fn sweep_branch_trains_one_arm_per_point_with_a_table_and_a_plot() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let o = tlkit(
        &[
            "multitask",
            "--benchmark",
            "digits-parity",
            "--method",
            "ew",
            "--sweep-branch",
            "--epochs",
            "2",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("branch sweep"), "{text}");
    assert!(
        text.contains("ew@input") && text.contains("ew@shared.2"),
        "{text}"
    );
    assert!(text.contains("linear CKA"), "{text}");
    let run = only_run(&out);
    let s = json(&run.join("summary.json"));
    let points: Vec<&str> = s["branch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["point"].as_str().unwrap())
        .collect();
    assert_eq!(points, ["input", "shared.2"]);
    assert!(run.join("plots/branch_sweep.png").is_file());
    assert!(run.join("ew@input/seed-0/result.json").is_file());

    let bad = tmp.path().join("bad");
    let o = tlkit(
        &[
            "multitask",
            "--benchmark",
            "digits-parity",
            "--method",
            "ew",
            "--branch-points",
            "shared.1,trunk.3",
            "--epochs",
            "1",
            "--quiet",
            "--out",
            bad.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("branch_points") && err.contains("`trunk.3` is not a layer of the trunk"),
        "{err}"
    );
    assert!(!bad.exists() || std::fs::read_dir(&bad).unwrap().count() == 0);
}
