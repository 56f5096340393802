//! `tlkit multitask --benchmark gradnorm-toy` end to end on a small part of the generated
//! toy (GradNorm's two regression tasks, σ = 1 and 100): the config loads, every arm trains,
//! the summary gives each task's test MSE per arm, and GradNorm moves the weight to the small
//! task.

use std::path::Path;
use std::process::Command;

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn gradnorm_toy_benchmark_trains_and_reports_each_tasks_mse() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let o = Command::new(env!("CARGO_BIN_EXE_tlkit"))
        .args([
            "multitask",
            "--benchmark",
            "gradnorm-toy",
            "--method",
            "ew,uw,gradnorm",
            "--seeds",
            "0",
            "--epochs",
            "2",
            "--train-limit",
            "500",
            "--test-limit",
            "200",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .env("TLKIT_HOME", tmp.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("task t1 (test mse):"), "{text}");
    let run = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let s = json(&run.join("summary.json"));
    assert_eq!(
        (s["train_samples"].as_u64(), s["test_samples"].as_u64()),
        (Some(500), Some(200))
    );
    let tasks = s["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    for (t, sigma) in tasks.iter().zip([1.0, 100.0]) {
        assert_eq!(t["metric"], "mse");
        let rows = t["rows"].as_array().unwrap();
        let arms: Vec<&str> = rows.iter().map(|r| r["arm"].as_str().unwrap()).collect();
        let single = format!("single-{}", t["task"].as_str().unwrap());
        assert_eq!(arms, [single.as_str(), "ew", "uw", "gradnorm"]);
        // Each output is close to ±σ: predicting zero costs about σ², and two short epochs
        // do not get far below it.
        for r in rows {
            let mse = r["mean"].as_f64().unwrap();
            assert!(
                mse > 0.2 * sigma * sigma && mse < 2.0 * sigma * sigma,
                "{r}"
            );
        }
    }
    for f in [
        "plots/loss_ratios.png",
        "plots/loss_weights.png",
        "plots/t1_test_mse.png",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }
    // GradNorm balances the gradient norms on the last shared layer: the task with σ = 1 has
    // the far smaller gradient, so its weight grows from 1 (10 steps here; on the whole set
    // it reaches about 1.97 within 3 epochs); the weights sum to T = 2.
    let r = json(&run.join("gradnorm/seed-0/result.json"));
    let w = |t: &str| -> Vec<f64> {
        r["weights"][t]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    let (w0, w1) = (w("t0"), w("t1"));
    assert!((w0[1] + w1[1] - 2.0).abs() < 1e-6, "{r}");
    assert!(w0[0] > 1.0 && w0[1] > w0[0], "{r}");
    let ratios = r["train_loss"]["t1"].as_array().unwrap();
    assert_eq!(ratios.len(), 2);
}
