//! Helpers shared by the transferability commands' end-to-end tests (`score`, `report`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the binary in `home` with `home` as `$TLKIT_HOME`.
pub fn tlkit(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlkit"))
        .args(args)
        .current_dir(home)
        .env("TLKIT_HOME", home)
        .output()
        .expect("the tlkit binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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
