//! `tlkit features learn|encode` through the binary, on the embedded optdigits data: a basis
//! learned on digits 5–9 without labels encodes digits 0–4.

mod common;

use common::{fails_with, ok, tlkit};

const DIGITS: &str = "optdigits-embedded";

#[test]
fn sparse_coding_learns_on_5_to_9_and_encodes_0_to_4() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, basis) = (tmp.path().join("home"), tmp.path().join("basis"));
    let b = basis.to_str().unwrap();
    let out = ok(&tlkit(
        &[
            "features",
            "learn",
            "--method",
            "sparse-coding",
            "--data",
            DIGITS,
            "--classes",
            "5,6,7,8,9",
            "--atoms",
            "16",
            "--alpha",
            "0.1",
            "--iterations",
            "30",
            "--batch-size",
            "64",
            "--out",
            b,
        ],
        &home,
    ));
    assert!(out.contains("iteration 30"), "{out}");
    for f in [
        "basis.toml",
        "basis.safetensors",
        "basis.png",
        "history.csv",
        "reconstruction.png",
    ] {
        assert!(basis.join(f).is_file(), "{f} missing");
    }
    let meta: toml::Value =
        toml::from_str(&std::fs::read_to_string(basis.join("basis.toml")).unwrap()).unwrap();
    assert_eq!(meta["method"].as_str(), Some("sparse-coding"));
    assert_eq!(meta["alpha"].as_float(), Some(0.1));
    assert!(
        meta["alpha_convention"]
            .as_str()
            .unwrap()
            .contains("sparse_encode")
    );
    assert_eq!(meta["atom_shape"].as_array().unwrap().len(), 3);
    assert_eq!(meta["samples"].as_integer(), Some(717)); // digits 5–9 of the train split
    let csv = std::fs::read_to_string(basis.join("history.csv")).unwrap();
    let mse: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(mse.len(), 30);
    assert!(
        mse[25..].iter().sum::<f64>() < mse[..5].iter().sum::<f64>(),
        "{mse:?}"
    );

    let codes = tmp.path().join("codes.npz");
    let out = ok(&tlkit(
        &[
            "features",
            "encode",
            "--basis",
            b,
            "--data",
            DIGITS,
            "--classes",
            "0,1,2,3,4",
            "--split",
            "test",
            "--out",
            codes.to_str().unwrap(),
        ],
        &home,
    ));
    assert!(out.contains("16 features each"), "{out}");
    let ds = tlkit::data::load_npz(&codes, "x", "y", "codes").unwrap();
    assert_eq!(ds.sample_shape, vec![16]);
    assert_eq!(ds.len(), 180); // digits 0–4 of the test split
    assert_eq!(*ds.y.iter().max().unwrap(), 4);
    // Sparse: many codes are exactly zero (a quarter at this α and 16 atoms), but every
    // sample has some that are not.
    let zeros = ds.x.iter().filter(|&&v| v == 0.0).count();
    assert!(zeros > ds.x.len() / 10, "{zeros} of {}", ds.x.len());
    assert!(ds.x.chunks(16).all(|c| c.iter().any(|&v| v != 0.0)));
}

#[test]
fn pca_on_patches_encodes_whole_images_by_pooled_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, basis) = (tmp.path().join("home"), tmp.path().join("pca"));
    let b = basis.to_str().unwrap();
    let out = ok(&tlkit(
        &[
            "features",
            "learn",
            "--method",
            "pca",
            "--data",
            DIGITS,
            "--patch",
            "4",
            "--patches",
            "2000",
            "--atoms",
            "6",
            "--grid",
            "2",
            "--pool",
            "max",
            "--out",
            b,
        ],
        &home,
    ));
    assert!(out.contains("6 components"), "{out}");
    assert!(basis.join("basis.png").is_file() && !basis.join("history.csv").exists());
    let codes = tmp.path().join("codes.npz");
    ok(&tlkit(
        &[
            "features",
            "encode",
            "--basis",
            b,
            "--data",
            DIGITS,
            "--limit",
            "50",
            "--out",
            codes.to_str().unwrap(),
        ],
        &home,
    ));
    let ds = tlkit::data::load_npz(&codes, "x", "y", "codes").unwrap();
    assert_eq!((ds.len(), ds.sample_shape.clone()), (50, vec![2 * 2 * 6]));
    assert!(ds.x.iter().all(|&v| v >= 0.0)); // max |c| pooling
}

#[test]
fn bad_values_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let out = tmp.path().join("b");
    let o = out.to_str().unwrap();
    let learn = |extra: &[&str]| {
        let mut args = vec!["features", "learn", "--data", DIGITS, "--out", o];
        args.extend(extra);
        tlkit(&args, &home)
    };
    fails_with(
        &learn(&["--method", "sparse-coding", "--atoms", "8", "--alpha", "0"]),
        "alpha = 0",
    );
    fails_with(
        &learn(&[
            "--method",
            "sparse-coding",
            "--atoms",
            "8",
            "--alpha",
            "-0.5",
        ]),
        "alpha = -0.5",
    );
    fails_with(
        &learn(&["--method", "sparse-coding", "--atoms", "8"]),
        "needs --alpha",
    );
    fails_with(
        &learn(&["--method", "pca", "--atoms", "65"]),
        "components = 65",
    );
    fails_with(
        &learn(&["--method", "pca", "--atoms", "4", "--patch", "9"]),
        "patch size = 9",
    );
    fails_with(
        &learn(&[
            "--method",
            "sparse-coding",
            "--atoms",
            "4",
            "--alpha",
            "0.1",
            "--limit",
            "0",
        ]),
        "unlabeled set is empty",
    );
    fails_with(
        &learn(&[
            "--method",
            "sparse-coding",
            "--atoms",
            "40",
            "--alpha",
            "0.1",
            "--limit",
            "30",
        ]),
        "atoms = 40",
    );
    // A basis of whole 8×8 digits cannot encode 4×4 patches' worth of another shape.
    let basis = tmp.path().join("whole");
    ok(&tlkit(
        &[
            "features",
            "learn",
            "--method",
            "pca",
            "--data",
            DIGITS,
            "--atoms",
            "4",
            "--out",
            basis.to_str().unwrap(),
        ],
        &home,
    ));
    let cfg = tmp.path().join("flat.toml");
    let npz = tmp.path().join("flat.npz");
    tlkit::data::save_npz(&npz, &[0.5; 10 * 32], &[10, 32], &[0; 10], ("x", "y")).unwrap();
    std::fs::write(
        &cfg,
        format!(
            "[data.train]\nformat = \"npz\"\npath = {npz:?}\nx_key = \"x\"\ny_key = \"y\"\n\
             [data.test]\nformat = \"npz\"\npath = {npz:?}\nx_key = \"x\"\ny_key = \"y\"\n"
        ),
    )
    .unwrap();
    let codes = tmp.path().join("c.npz");
    fails_with(
        &tlkit(
            &[
                "features",
                "encode",
                "--basis",
                basis.to_str().unwrap(),
                "--data",
                cfg.to_str().unwrap(),
                "--out",
                codes.to_str().unwrap(),
            ],
            &home,
        ),
        "dictionary atom size = [1, 8, 8]",
    );
}

#[test]
fn a_sparse_autoencoder_learns_on_5_to_9_and_its_encoder_is_a_model_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let (home, dir) = (tmp.path().join("home"), tmp.path().join("sae"));
    let d = dir.to_str().unwrap();
    let learn = |extra: &[&str]| {
        let mut args = vec![
            "features",
            "learn",
            "--method",
            "sparse-autoencoder",
            "--data",
            DIGITS,
            "--classes",
            "5,6,7,8,9",
            "--atoms",
            "12",
            "--epochs",
            "2",
            "--batch-size",
            "64",
            "--out",
            d,
        ];
        args.extend_from_slice(extra);
        tlkit(&args, &home)
    };
    let out = ok(&learn(&[]));
    assert!(
        out.contains("2 epochs") && out.contains("reconstruction mse"),
        "{out}"
    );
    for f in [
        "autoencoder.toml",
        "model.toml",
        "weights.safetensors",
        "summary.json",
        "filters.png",
        "reconstruction.png",
        "training/metrics.jsonl",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    // Encoded by its hidden layer: the first half of digits 0-4, 12 codes each in (0, 1).
    let codes = tmp.path().join("codes.npz");
    let enc = ok(&tlkit(
        &[
            "features",
            "encode",
            "--basis",
            d,
            "--data",
            DIGITS,
            "--classes",
            "0,1,2,3,4",
            "--part",
            "1/2",
            "--out",
            codes.to_str().unwrap(),
        ],
        &home,
    ));
    assert!(enc.contains("→ 12 features each"), "{enc}");
    // A model reference: `inspect` reads the folder as it reads any run.
    let inspect = ok(&tlkit(&["inspect", d], &home));
    assert!(
        inspect.contains("hidden") && inspect.contains("sigmoid"),
        "{inspect}"
    );
    // `tlkit finetune` puts a classifier on the codes (`head = "head"`) and trains it all.
    let cfg = tmp.path().join("finetune.toml");
    std::fs::write(
        &cfg,
        format!(
            "name = \"sae-finetune\"\nseeds = [0]\npretrained = {{ run = {d:?} }}\n\
             [data]\ndataset = \"{DIGITS}\"\nclasses = [0, 1, 2, 3, 4]\ntrain_per_class = 10\n\
             [finetune]\nhead = \"head\"\n[train]\nepochs = 2\nbatch_size = 10\n\
             [train.optimizer]\nname = \"adam\"\nlr = 0.01\n"
        ),
    )
    .unwrap();
    let runs = tmp.path().join("runs");
    let ft = ok(&tlkit(
        &[
            "finetune",
            cfg.to_str().unwrap(),
            "--out",
            runs.to_str().unwrap(),
        ],
        &home,
    ));
    assert!(ft.contains("pretrained"), "{ft}");
    fails_with(&learn(&["--rho", "1.5"]), "autoencoder.rho = 1.5");
    fails_with(&learn(&["--part", "3/2"]), "--part 3/2");
}
