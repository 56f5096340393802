//! Task relatedness from the representations the heads receive: linear CKA (Kornblith et al.
//! 2019, [`crate::measure::linear_cka`]) between two tasks' head inputs on the test set.
//!
//! Two places per head: its first layer's input (the layer the head branches from; under
//! hard parameter sharing every head reads the same trunk output, so this CKA is 1 by
//! construction and says something only for networks whose heads read different layers,
//! e.g. after a branch sweep's `input` split, cross-stitch or MMoE), and its last layer's
//! input (the features the task's classifier sees, after the head's own layers). For the
//! single-task arms the same inputs are compared across the networks trained for each task
//! alone: are the features two tasks learn on their own alike?

use std::collections::BTreeMap;
use std::path::Path;

use crate::data::Dataset;
use crate::measure::linear_cka;
use crate::nn::spec::{child_name, head_path, join};
use crate::nn::{Mode, Network};
use crate::train::Task;
use crate::{Error, Result};

/// Where a head's input is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The head's first layer's input.
    First,
    /// The head's last layer's input.
    Last,
}

impl Place {
    pub fn name(self) -> &'static str {
        match self {
            Place::First => "first",
            Place::Last => "last",
        }
    }
}

/// The layer path whose output is `task`'s head input at `place` (`input`: the samples);
/// `None` for a task on the network's own output (no head).
fn tap(net: &Network, task: &Task, place: Place) -> Result<Option<String>> {
    let Some(name) = task.head.as_deref() else {
        return Ok(None);
    };
    let h = net
        .spec()
        .head(name)
        .ok_or_else(|| Error::Spec(format!("task `{}`: no head `{name}`", task.name)))?;
    let n = h.layers.len();
    Ok(Some(match place {
        Place::Last if n >= 2 => join(&head_path(name), &child_name(&h.layers[n - 2], n - 2)),
        _ => h.from.clone(),
    }))
}

/// Each task's head input at `place` on every sample of `data` (row-major, with its width),
/// in one pass over the data; tasks without a head are left out.
pub fn head_inputs(
    net: &mut Network,
    data: &Dataset,
    tasks: &[Task],
    place: Place,
    batch_size: usize,
) -> Result<BTreeMap<String, (Vec<f32>, usize)>> {
    let paths: Vec<(String, String)> = tasks
        .iter()
        .filter_map(|t| {
            tap(net, t, place)
                .map(|p| p.map(|p| (t.name.clone(), p)))
                .transpose()
        })
        .collect::<Result<_>>()?;
    let mut taps: Vec<String> = paths
        .iter()
        .map(|(_, p)| p.clone())
        .filter(|p| p != "input")
        .collect();
    taps.dedup();
    let mut out: BTreeMap<String, (Vec<f32>, usize)> = BTreeMap::new();
    let order: Vec<usize> = (0..data.len()).collect();
    for idx in order.chunks(batch_size.max(1)) {
        let (values, _) = data.gather_batch(idx)?;
        let input = net.input(values.clone(), idx.len())?;
        let f = net.forward_taps(input, Mode::Eval, &taps)?;
        for (task, path) in &paths {
            let (rows, width) = if path == "input" {
                (values.clone(), values.len() / idx.len())
            } else {
                let t = f.taps[path].clone().flat();
                let w = t.dims()[1];
                (crate::backend::to_vec(&t), w)
            };
            let e = out.entry(task.clone()).or_default();
            e.0.extend(rows);
            e.1 = width;
        }
    }
    Ok(out)
}

/// Linear CKA of every pair of tasks (`a~b`, names in order) between `x[a]` and `y[b]`.
pub fn pairwise_cka(
    x: &BTreeMap<String, (Vec<f32>, usize)>,
    y: &BTreeMap<String, (Vec<f32>, usize)>,
) -> Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    let names: Vec<&String> = x.keys().collect();
    for (i, a) in names.iter().enumerate() {
        for b in &names[i + 1..] {
            let (Some((xa, wa)), Some((yb, wb))) = (x.get(*a), y.get(*b)) else {
                continue;
            };
            out.insert(format!("{a}~{b}"), linear_cka(xa, *wa, yb, *wb)?);
        }
    }
    Ok(out)
}

/// Writes one task's head input to `dir/head_input_<place>_<task>.f32` (little-endian f32;
/// its width is the length over the sample count), so that a resumed study can still
/// compare the single-task networks.
pub fn save(dir: &Path, place: Place, task: &str, x: &[f32]) -> Result<()> {
    let path = dir.join(format!("head_input_{}_{task}.f32", place.name()));
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&path, bytes).map_err(|e| Error::io("write", &path, e))
}

/// Reads what [`save`] wrote, with its width for `samples` samples; `None` when absent.
pub fn load(dir: &Path, place: Place, task: &str, samples: usize) -> Option<(Vec<f32>, usize)> {
    let bytes = std::fs::read(dir.join(format!("head_input_{}_{task}.f32", place.name()))).ok()?;
    let x: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let width = x.len().checked_div(samples)?;
    (width > 0 && width * samples == x.len()).then_some((x, width))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::nn::NetworkSpec;

    /// On the multi-task digits network both heads read `shared`: first-layer CKA is 1;
    /// the last layer's input of a one-layer head is the same layer. After a split at the
    /// input each head has its own trunk copy: CKA below 1.
    #[test]
    fn identical_head_inputs_have_cka_one() {
        let text = include_str!("../../configs/multitask-digits.toml");
        let cfg: toml::Table = toml::from_str(text).unwrap();
        let spec: NetworkSpec = cfg["network"].clone().try_into().unwrap();
        let tasks: Vec<Task> = cfg["tasks"].clone().try_into().unwrap();
        let data = crate::data::optdigits_embedded().unwrap().test;
        let d = Device::flex();
        let mut net = Network::new(spec.clone(), 0, &d).unwrap();
        let first = head_inputs(&mut net, &data, &tasks, Place::First, 64).unwrap();
        assert_eq!(first["digit"].1, 32);
        assert_eq!(first["digit"].0.len(), 32 * data.len());
        let cka = pairwise_cka(&first, &first).unwrap();
        assert!((cka["digit~parity"] - 1.0).abs() < 1e-9, "{cka:?}");
        let split = crate::nn::branch::branch_after(&spec, "input").unwrap();
        let mut net = Network::new(split, 0, &d).unwrap();
        let last = head_inputs(&mut net, &data, &tasks, Place::Last, 64).unwrap();
        let cka = pairwise_cka(&last, &last).unwrap()["digit~parity"];
        assert!(cka > 0.0 && cka < 0.999, "{cka}");
        // The input itself (64 pixels) when the heads read the input.
        let first = head_inputs(&mut net, &data, &tasks, Place::First, 64).unwrap();
        assert_eq!(first["parity"].1, 64);
        assert_eq!(&first["parity"].0[..64], data.sample(0));
        // Saved and read back.
        let dir = tempfile::tempdir().unwrap();
        save(dir.path(), Place::Last, "digit", &last["digit"].0).unwrap();
        let back = load(dir.path(), Place::Last, "digit", data.len()).unwrap();
        assert_eq!(back, last["digit"]);
        assert!(load(dir.path(), Place::First, "digit", data.len()).is_none());
    }
}
