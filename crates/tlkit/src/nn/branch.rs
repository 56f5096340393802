//! Where a multi-task network branches: move the trunk's layers after a chosen layer into
//! every head, so that the tasks share the trunk only up to that layer (hard parameter sharing
//! with the branch point anywhere; the "split architectures" Misra et al. 2016 compare before
//! proposing cross-stitch units, "Cross-stitch Networks for Multi-task Learning", CVPR 2016,
//! <https://arxiv.org/abs/1604.03539>, Figs. 2–3).
//!
//! The branch points of a trunk are its top-level layers and, for a top-level `sequential`,
//! each of its children (`shared.2`): a trunk written as one `sequential` block is flattened
//! into its children for this. A branch at `shared.2` keeps `shared` with children 0–2 as the
//! trunk (their parameter paths unchanged: `shared.0.weight`), and puts children 3… and every
//! later top-level layer, in order, in front of each head's own layers; the heads then read
//! `shared`. `input` shares nothing (each head gets the whole trunk).

use super::spec::{LayerSpec, NetworkSpec, Node, child_name, join};
use crate::{Error, Result};

/// The network input as a branch point: nothing is shared.
pub const INPUT: &str = "input";

/// Every branch point of `spec`'s trunk, in execution order, starting with [`INPUT`].
pub fn branch_points(spec: &NetworkSpec) -> Vec<String> {
    let mut out = vec![INPUT.to_string()];
    for (i, node) in spec.layers.iter().enumerate() {
        let name = child_name(node, i);
        if let LayerSpec::Sequential { layers } = &node.layer {
            out.extend(
                layers
                    .iter()
                    .enumerate()
                    .map(|(j, c)| join(&name, &child_name(c, j))),
            );
        } else {
            out.push(name);
        }
    }
    out
}

/// The branch points that share parameters and are followed by a layer with parameters,
/// and the last one: moving a parameter-free layer between the trunk and the heads changes
/// no shared parameter, so these are the distinct splits besides [`INPUT`].
pub fn distinct_branch_points(spec: &NetworkSpec) -> Vec<String> {
    let points = branch_points(spec);
    let layers: Vec<&LayerSpec> = flat(spec).into_iter().map(|(_, n)| &n.layer).collect();
    let mut out = vec![];
    let mut shares = false;
    for (k, p) in points.iter().enumerate().skip(1) {
        shares |= has_parameters(layers[k - 1]);
        let last = k == points.len() - 1;
        if shares && (last || has_parameters(layers[k])) {
            out.push(p.clone());
        }
    }
    out
}

/// The trunk's layers as the branch points name them (without [`INPUT`]).
fn flat(spec: &NetworkSpec) -> Vec<(String, &Node)> {
    let mut out = vec![];
    for (i, node) in spec.layers.iter().enumerate() {
        let name = child_name(node, i);
        match &node.layer {
            LayerSpec::Sequential { layers } => {
                for (j, c) in layers.iter().enumerate() {
                    out.push((join(&name, &child_name(c, j)), c));
                }
            }
            _ => out.push((name, node)),
        }
    }
    out
}

fn has_parameters(layer: &LayerSpec) -> bool {
    match layer {
        LayerSpec::Linear { .. } | LayerSpec::Conv2d { .. } | LayerSpec::BatchNorm { .. } => true,
        LayerSpec::Sequential { layers } => layers.iter().any(|n| has_parameters(&n.layer)),
        LayerSpec::Residual {
            body,
            shortcut,
            post,
            ..
        } => body
            .iter()
            .chain(shortcut)
            .chain(post)
            .any(|n| has_parameters(&n.layer)),
        _ => false,
    }
}

/// `spec` with the tasks sharing the trunk up to and including layer `at` (a name from
/// [`branch_points`]) and each head getting its own copy of the layers after it.
///
/// Every head must read the trunk's output (its last top-level layer), as hard parameter
/// sharing has it. Moved layers keep their names; unnamed ones are numbered by their place
/// in the head (`heads.left.0` is the first moved layer).
///
/// # Errors
/// [`Error::Path`] when `at` is not a branch point (listing them), or when a head reads
/// another layer than the trunk's output (naming the head and the layer).
pub fn branch_after(spec: &NetworkSpec, at: &str) -> Result<NetworkSpec> {
    let points = branch_points(spec);
    let k = points.iter().position(|p| p == at).ok_or_else(|| {
        Error::Path(format!(
            "branch point `{at}` is not a layer of the trunk; the branch points are {}",
            points.join(", ")
        ))
    })?;
    let last = spec.layers.len().checked_sub(1).map(|i| {
        let n = &spec.layers[i];
        child_name(n, i)
    });
    for h in &spec.heads {
        if Some(&h.from) != last.as_ref() {
            return Err(Error::Path(format!(
                "head `{}` reads `{}`, not the trunk's output `{}`; a branch sweep moves the trunk's last layers into heads that read its output",
                h.name,
                h.from,
                last.as_deref().unwrap_or(INPUT)
            )));
        }
    }
    // Split the flattened trunk at k: the first k layers stay (k = 0 is the input).
    let mut trunk: Vec<Node> = vec![];
    let mut moved: Vec<Node> = vec![];
    let mut seen = 0;
    for (i, node) in spec.layers.iter().enumerate() {
        match &node.layer {
            LayerSpec::Sequential { layers } => {
                let keep = k.saturating_sub(seen).min(layers.len());
                if keep > 0 {
                    let mut kept = node.clone();
                    kept.name = Some(child_name(node, i));
                    kept.layer = LayerSpec::Sequential {
                        layers: layers[..keep].to_vec(),
                    };
                    trunk.push(kept);
                }
                moved.extend(layers[keep..].iter().cloned());
                seen += layers.len();
            }
            _ => {
                if seen < k {
                    let mut kept = node.clone();
                    kept.name = Some(child_name(node, i));
                    trunk.push(kept);
                } else {
                    moved.push(node.clone());
                }
                seen += 1;
            }
        }
    }
    let from = trunk
        .last()
        .and_then(|n| n.name.clone())
        .unwrap_or_else(|| INPUT.to_string());
    let mut out = spec.clone();
    out.layers = trunk;
    for h in &mut out.heads {
        h.from = from.clone();
        let mut layers = moved.clone();
        layers.extend(h.layers.iter().cloned());
        h.layers = layers;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::nn::Network;

    /// The multi-task digits network: `shared` = flatten, linear 64→32, relu; heads `digit`
    /// (linear 32→10) and `parity` (linear 32→2).
    fn digits() -> NetworkSpec {
        let text = include_str!("../../configs/multitask-digits.toml");
        let cfg: toml::Table = toml::from_str(text).unwrap();
        cfg["network"].clone().try_into().unwrap()
    }

    fn params(net: &Network) -> Vec<(String, Vec<usize>)> {
        net.slots()
            .map(|(p, s)| (p.clone(), s.shape.clone()))
            .collect()
    }

    #[test]
    fn branch_after_moves_the_later_layers_into_each_head() {
        let spec = digits();
        assert_eq!(
            branch_points(&spec),
            ["input", "shared.0", "shared.1", "shared.2"]
        );
        // After the flatten nothing is shared yet (the same split as `input`); after the
        // linear comes a relu: the only distinct point is the last.
        assert_eq!(distinct_branch_points(&spec), ["shared.2"]);
        let d = Device::flex();
        // The last point is the network as written.
        let same = branch_after(&spec, "shared.2").unwrap();
        assert_eq!(same, spec);
        let full = Network::new(spec.clone(), 0, &d).unwrap();
        // Shared 64·32 + 32, heads 32·10 + 10 and 32·2 + 2.
        assert_eq!(full.num_params(), 2080 + 330 + 66);

        let split = branch_after(&spec, "shared.0").unwrap();
        let net = Network::new(split.clone(), 0, &d).unwrap();
        // The trunk keeps the flatten under its old path; the heads read it.
        assert_eq!(split.heads[0].from, "shared");
        assert_eq!(net.output_shape(), [64]);
        assert_eq!(
            params(&net),
            [
                ("heads.digit.0.weight".to_string(), vec![32, 64]),
                ("heads.digit.0.bias".to_string(), vec![32]),
                ("heads.digit.2.weight".to_string(), vec![10, 32]),
                ("heads.digit.2.bias".to_string(), vec![10]),
                ("heads.parity.0.weight".to_string(), vec![32, 64]),
                ("heads.parity.0.bias".to_string(), vec![32]),
                ("heads.parity.2.weight".to_string(), vec![2, 32]),
                ("heads.parity.2.bias".to_string(), vec![2]),
            ]
        );
        // The 64→32 layer is now in both heads: 2080 more parameters.
        assert_eq!(net.num_params(), 2 * 2080 + 330 + 66);
        assert_eq!(net.head_output_shape(Some("parity")).unwrap(), [2]);

        // Nothing shared: the heads read the input.
        let none = branch_after(&spec, "input").unwrap();
        assert!(none.layers.is_empty());
        assert_eq!(none.heads[1].from, "input");
        assert_eq!(none.heads[1].layers.len(), 4);
        let net = Network::new(none, 0, &d).unwrap();
        assert_eq!(net.num_params(), 2 * 2080 + 330 + 66);
        assert_eq!(net.head_output_shape(Some("digit")).unwrap(), [10]);
    }

    /// Sener & Koltun's MultiMNIST trunk: conv, pool, relu | conv, dropout, pool, relu,
    /// flatten | linear, relu: three distinct points.
    #[test]
    fn multi_mnist_has_three_distinct_points() {
        let text = include_str!("../../configs/multitask-multi-mnist.toml");
        let cfg: toml::Table = toml::from_str(text).unwrap();
        let spec: NetworkSpec = cfg["network"].clone().try_into().unwrap();
        assert_eq!(branch_points(&spec).len(), 11);
        assert_eq!(
            distinct_branch_points(&spec),
            ["shared.2", "shared.7", "shared.9"]
        );
        let d = Device::flex();
        let full = Network::new(spec.clone(), 0, &d).unwrap().num_params();
        // After the first conv block: conv2 (10·20·25 + 20) and fc (320·50 + 50) move into
        // both heads.
        let split = branch_after(&spec, "shared.2").unwrap();
        let net = Network::new(split, 0, &d).unwrap();
        assert_eq!(net.num_params(), full + 5020 + 16050);
        assert_eq!(
            net.slot("heads.left.0.weight").unwrap().shape,
            [20, 10, 5, 5]
        );
        assert_eq!(net.slot("heads.left.5.weight").unwrap().shape, [50, 320]);
        assert_eq!(net.slot("shared.0.weight").unwrap().shape, [10, 1, 5, 5]);
    }

    #[test]
    fn a_branch_point_outside_the_trunk_is_refused_naming_the_points() {
        let spec = digits();
        let err = branch_after(&spec, "shared.7").unwrap_err().to_string();
        assert!(
            err.contains("`shared.7` is not a layer of the trunk")
                && err.contains("input, shared.0, shared.1, shared.2"),
            "{err}"
        );
        let err = branch_after(&spec, "heads.digit.0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`heads.digit.0`"), "{err}");
        let mut odd = spec.clone();
        odd.heads[1].from = "input".into();
        let err = branch_after(&odd, "shared.0").unwrap_err().to_string();
        assert!(
            err.contains("head `parity` reads `input`") && err.contains("`shared`"),
            "{err}"
        );
    }
}
