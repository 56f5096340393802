//! Every method trains the two-head optdigits network (digit, parity) through the trainer.

use std::path::Path;

use super::{METHODS, method};
use crate::backend::Device;
use crate::data::{Dataset, LABEL_TARGET, Split, optdigits_embedded};
use crate::nn::{Network, NetworkSpec};
use crate::train::{EpochRecord, OptimizerConfig, Task, TrainConfig, Trainer};

/// The optdigits images with their digit and the digit's parity, on an MLP trunk with a
/// `digit` and a `parity` head.
fn digits_with_parity() -> (Network, Split, Vec<Task>) {
    let parity = |d: Dataset| {
        d.with_mapped_target("parity", LABEL_TARGET, &[0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
            .unwrap()
    };
    let data = optdigits_embedded().unwrap();
    let data = Split {
        train: parity(data.train),
        test: parity(data.test),
    };
    let spec = NetworkSpec::from_toml(
        r#"
        input_shape = [1, 8, 8]
        [[layers]]
        type = "flatten"
        [[layers]]
        name = "hidden"
        type = "linear"
        out_features = 32
        [[layers]]
        name = "act"
        type = "relu"
        [[heads]]
        name = "digit"
        from = "act"
        [[heads.layers]]
        type = "linear"
        out_features = 10
        [[heads]]
        name = "parity"
        from = "act"
        [[heads.layers]]
        type = "linear"
        out_features = 2
        "#,
        Path::new("digits-parity.toml"),
    )
    .unwrap();
    let net = Network::new(spec, 5, &Device::flex()).unwrap();
    let mut digit = Task::classify("digit");
    digit.head = Some("digit".into());
    let mut parity = Task::classify("parity");
    parity.head = Some("parity".into());
    parity.target = "parity".into();
    (net, data, vec![digit, parity])
}

fn fit(name: &str, epochs: usize, out: Option<&Path>) -> (Network, Vec<EpochRecord>) {
    let (mut net, data, tasks) = digits_with_parity();
    let cfg = TrainConfig::new(epochs, 32, OptimizerConfig::adam(3e-3));
    let mut t = Trainer::new(cfg, &net, 5)
        .unwrap()
        .with_tasks(tasks)
        .with_gradient_strategy(method(name).unwrap());
    if let Some(dir) = out {
        t = t.with_output(dir);
    }
    let h = t.fit(&mut net, &data.train, Some(&data.test)).unwrap();
    (net, h.history)
}

#[test]
fn every_method_trains_digit_and_parity() {
    for m in METHODS {
        let (_, h) = fit(m.name, 4, None);
        let last = h.last().unwrap();
        let (digit, parity) = (&last.tasks["digit"], &last.tasks["parity"]);
        assert!(digit.valid_metric.unwrap() > 0.85, "{}: {last:?}", m.name);
        assert!(parity.valid_metric.unwrap() > 0.8, "{}: {last:?}", m.name);
        assert!(
            h[0].tasks["parity"].train_loss > parity.train_loss,
            "{}: {h:?}",
            m.name
        );
        let (wd, wp) = (digit.weight.unwrap(), parity.weight.unwrap());
        assert!(wd > 0.0 && wp > 0.0, "{}: weights {wd} {wp}", m.name);
        // Methods with per-task gradients record how the gradients relate.
        if m.per_task_gradients {
            let c = digit.grad_cosine["parity"];
            assert!(
                c > -1.0 && c < 1.0 && c == parity.grad_cosine["digit"],
                "{c}"
            );
            let share = digit.grad_norm_share.unwrap() + parity.grad_norm_share.unwrap();
            assert!((share - 1.0).abs() < 1e-9, "{share}");
        } else {
            assert!(digit.grad_cosine.is_empty() && digit.grad_norm_share.is_none());
        }
        match m.name {
            "ew" | "pcgrad" => assert_eq!((wd, wp), (1.0, 1.0), "{}", m.name),
            // GradNorm renormalises its weights to sum to T.
            "gradnorm" => assert!((wd + wp - 2.0).abs() < 1e-9, "{wd} + {wp}"),
            "mgda" | "mgda_ub" => assert!((wd + wp - 1.0).abs() < 1e-9, "{wd} + {wp}"),
            _ => {}
        }
    }
}

/// Equal weighting through the strategy is the trainer without one, number for number.
#[test]
fn equal_weighting_is_the_default_sum() {
    let (_, with) = fit("ew", 2, None);
    let (mut net, data, tasks) = digits_with_parity();
    let cfg = TrainConfig::new(2, 32, OptimizerConfig::adam(3e-3));
    let mut t = Trainer::new(cfg, &net, 5).unwrap().with_tasks(tasks);
    let without = t.fit(&mut net, &data.train, Some(&data.test)).unwrap();
    for (a, b) in with.iter().zip(&without.history) {
        assert_eq!(a.train_loss, b.train_loss);
        assert_eq!(a.valid_accuracy, b.valid_accuracy);
        assert_eq!(a.tasks["parity"].valid_loss, b.tasks["parity"].valid_loss);
    }
}

/// The learned weights move: uncertainty weighting and GradNorm leave the starting point,
/// DWA leaves 1 from the third epoch.
#[test]
fn learned_weights_change_over_training() {
    let (_, uw) = fit("uw", 3, None);
    let w = |h: &[EpochRecord], e: usize, t: &str| h[e].tasks[t].weight.unwrap();
    assert!(w(&uw, 2, "digit") != w(&uw, 0, "digit"), "{uw:?}");
    assert_eq!(uw[2].tasks["digit"].weighting_state.len(), 4);
    let (_, dwa) = fit("dwa", 3, None);
    assert_eq!(w(&dwa, 1, "digit"), 1.0);
    assert!(w(&dwa, 2, "digit") != 1.0, "{dwa:?}");
    assert!((w(&dwa, 2, "digit") + w(&dwa, 2, "parity") - 2.0).abs() < 1e-9);
}

/// A killed run resumed from its checkpoint ends as the uninterrupted run: the method's
/// learned state comes back from the records.
#[test]
fn resumed_run_continues_the_method_exactly() {
    for name in ["uw", "gradnorm", "dwa"] {
        let (full_net, full) = fit(name, 3, None);
        let dir = tempfile::tempdir().unwrap();
        fit(name, 2, Some(dir.path()));
        let (mut net, data, tasks) = digits_with_parity();
        let cfg = TrainConfig::new(3, 32, OptimizerConfig::adam(3e-3));
        let mut t = Trainer::new(cfg, &net, 5)
            .unwrap()
            .with_tasks(tasks)
            .with_gradient_strategy(method(name).unwrap());
        t.resume_from(&mut net, &dir.path().join("checkpoints/last.safetensors"))
            .unwrap();
        let resumed = t.fit(&mut net, &data.train, Some(&data.test)).unwrap();
        let (a, b) = (&full[2], &resumed.history[2]);
        assert_eq!(a.train_loss, b.train_loss, "{name}");
        assert_eq!(a.tasks["digit"].weight, b.tasks["digit"].weight, "{name}");
        assert_eq!(full_net.state_dict(), net.state_dict(), "{name}");
    }
}

#[test]
fn a_gradient_method_with_one_task_is_an_error_before_training() {
    let (mut net, data, tasks) = digits_with_parity();
    let cfg = TrainConfig::new(1, 32, OptimizerConfig::adam(3e-3));
    let err = Trainer::new(cfg, &net, 5)
        .unwrap()
        .with_tasks(tasks[..1].to_vec())
        .with_gradient_strategy(method("pcgrad").unwrap())
        .fit(&mut net, &data.train, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("`pcgrad`") && err.contains("at least two tasks"),
        "{err}"
    );
    let err = method("nash").err().unwrap().to_string();
    assert!(err.contains("unknown weighting method `nash`") && err.contains("cagrad"));
}
