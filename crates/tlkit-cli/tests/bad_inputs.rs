//! The bad-input corpus (`tests/bad_inputs/`, listed in `cases.toml`): every case runs through
//! the `tlkit` binary under a 4 GB address-space limit and must end with its expected exit
//! code, never a panic (101) or an abort (134, an allocation the limit refused), and with an
//! error that names the file, row, field or tensor.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Deserialize;

/// The address-space limit every case runs under, in KiB (`ulimit -v`): 4 GiB.
const ADDRESS_SPACE_KIB: u64 = 4 << 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    args: Vec<String>,
    #[serde(default = "one")]
    exit: i32,
    message: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    stdout_closed: bool,
}

fn one() -> i32 {
    1
}

#[test]
fn every_bad_input_is_a_clear_error_without_panic_or_abort() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_inputs");
    let text = std::fs::read_to_string(dir.join("cases.toml")).unwrap();
    let cases: Cases = toml::from_str(&text).unwrap();
    assert!(cases.case.len() >= 20, "{} cases", cases.case.len());
    let work = tempfile::tempdir().unwrap();
    let home = work.path().join("home");
    let mut failures = Vec::new();
    for case in &cases.case {
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| a.replace("{dir}", dir.to_str().unwrap()))
            .collect();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\""
            ))
            .arg(env!("CARGO_BIN_EXE_tlkit"))
            .args(&args)
            .current_dir(work.path())
            .env("TLKIT_HOME", &home)
            .envs(&case.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("sh runs");
        let stdout = child.stdout.take().unwrap();
        if case.stdout_closed {
            drop(stdout);
        } else {
            std::thread::spawn(move || std::io::copy(&mut { stdout }, &mut std::io::sink()));
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        let missing: Vec<&String> = case
            .message
            .iter()
            .filter(|m| !stderr.contains(m.as_str()))
            .collect();
        if code != Some(case.exit) || !missing.is_empty() {
            failures.push(format!(
                "{}: `tlkit {}` exited {code:?} (expected {}), missing {missing:?} in:\n{stderr}",
                case.name,
                case.args.join(" "),
                case.exit
            ));
        }
        assert!(
            !matches!(code, Some(101 | 134)) && code.is_some(),
            "{}: panic or abort ({code:?}):\n{stderr}",
            case.name
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        !work.path().join("pwned.txt").exists(),
        "a pickle ran a command"
    );
}
