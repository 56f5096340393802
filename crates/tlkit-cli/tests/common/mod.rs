//! Helpers shared by the end-to-end tests of the binary: running it, reading what it wrote,
//! killing a run mid-way. Each test file uses a subset of them.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary in `home` (made if missing) with `home` as `$TLKIT_HOME`.
pub fn tlkit(args: &[&str], home: &Path) -> Output {
    std::fs::create_dir_all(home).expect("the test's home folder can be made");
    Command::new(env!("CARGO_BIN_EXE_tlkit"))
        .args(args)
        .current_dir(home)
        .env("TLKIT_HOME", home)
        .output()
        .expect("the tlkit binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts that the command succeeded; its stdout.
pub fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", stderr(o));
    stdout(o)
}

/// Asserts that the command failed with `want` in its stderr.
pub fn fails_with(o: &Output, want: &str) {
    let err = stderr(o);
    assert!(!o.status.success(), "succeeded: {}", stdout(o));
    assert!(err.contains(want), "expected `{want}` in: {err}");
}

/// The one entry of folder `root` (a run or study folder under `--out`).
pub fn only_run(root: &Path) -> PathBuf {
    let runs: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A run's (or a study cell's) metrics.jsonl without the wall times.
pub fn history(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v
        })
        .collect()
}

/// Starts `tlkit ARGS` (which writes one folder under `out`) and kills it with SIGKILL as soon
/// as `done(<that folder>)` holds (or after two minutes); that folder.
pub fn kill_when(args: &[&str], home: &Path, out: &Path, done: impl Fn(&Path) -> bool) -> PathBuf {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlkit"))
        .args(args)
        .current_dir(home)
        .env("TLKIT_HOME", home)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let reached = std::fs::read_dir(out)
            .ok()
            .and_then(|mut d| d.next())
            .is_some_and(|r| done(&r.unwrap().path()));
        if reached || start.elapsed().as_secs() > 120 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    only_run(out)
}

/// [`kill_when`] `<folder>/<metrics>` holds `lines` lines.
pub fn kill_after(args: &[&str], home: &Path, out: &Path, metrics: &str, lines: usize) -> PathBuf {
    kill_when(args, home, out, |run| {
        std::fs::read_to_string(run.join(metrics)).is_ok_and(|t| t.lines().count() >= lines)
    })
}

/// An MLP trained `epochs` epochs on all ten digits of the embedded optdigits data (the
/// demo's source network without its class subset), as wide as the built-in `mlp` (two
/// hidden layers of 256), so that the two differ only in their weights; its run folder,
/// under `home/<out>`.
pub fn trained_mlp(home: &Path, epochs: i64, out: &str) -> PathBuf {
    let o = tlkit(&["demo", "--print-config"], home);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut v: toml::Table = toml::from_str(&String::from_utf8_lossy(&o.stdout)).unwrap();
    v["name"] = "digits-mlp".into();
    v["data"].as_table_mut().unwrap().remove("classes");
    v["train"]["epochs"] = toml::Value::Integer(epochs);
    v["model"]["hidden"] = toml::Value::Array(vec![256.into(), 256.into()]);
    let cfg = home.join("digits-mlp.toml");
    std::fs::write(&cfg, toml::to_string(&v).unwrap()).unwrap();
    let out = home.join(out);
    let o = tlkit(
        &[
            "train",
            cfg.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        home,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let runs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}
