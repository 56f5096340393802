//! Model surgery: edit a network's layer tree by path — truncate, delete, insert, replace,
//! append — and keep every parameter whose path and shape survive the edit.
//!
//! Shape inference runs again after every edit, so a layer that no longer fits its input is
//! reported before any training, naming both layers and both shapes.

use serde::{Deserialize, Serialize};

use super::network::Network;
use super::spec::{HEADS, HeadSpec, LayerSpec, NetworkSpec, Node, child_name};
use crate::{Error, Result};

/// One edit of the layer tree. Paths are layer paths as `tlkit inspect` prints them; the
/// layers of a head are edited by their `heads.<name>.<i>` paths.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Edit {
    /// Keep everything up to and including `path`; drop every layer after it.
    TruncateAfter { path: String },
    /// Remove the layer at `path`.
    Delete { path: String },
    /// Insert `layer` right after `path`, in the same container.
    InsertAfter { path: String, layer: Node },
    /// Insert `layer` right before `path`, in the same container.
    InsertBefore { path: String, layer: Node },
    /// Replace the layer at `path` (the new layer keeps the old name unless it has its own).
    Replace { path: String, layer: Node },
    /// Append `layer` at the end of the network.
    Append { layer: Node },
    /// Add a named head (see [`HeadSpec`]).
    AddHead { head: HeadSpec },
    /// Remove the head called `name`, with its parameters.
    RemoveHead { name: String },
}

/// What an edit did to the parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SurgeryReport {
    /// Parameters carried over unchanged.
    pub kept: Vec<String>,
    /// Parameters freshly initialised (new layers, or shapes that changed).
    pub initialised: Vec<String>,
    /// Parameters of the old network that are gone.
    pub dropped: Vec<String>,
}

/// The container list holding the node at `path`, and the node's index in it.
fn locate<'a>(
    nodes: &'a mut Vec<Node>,
    path: &str,
    full: &str,
) -> Result<(&'a mut Vec<Node>, usize)> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let i = (0..nodes.len())
        .find(|&i| child_name(&nodes[i], i) == head)
        .ok_or_else(|| not_found(full))?;
    let Some(rest) = rest else {
        return Ok((nodes, i));
    };
    match &mut nodes[i].layer {
        LayerSpec::Sequential { layers } => locate(layers, rest, full),
        LayerSpec::Residual {
            inline,
            body,
            shortcut,
            post,
        } => {
            let (part, tail) = match rest.split_once('.') {
                Some((p, t)) => (p, Some(t)),
                None => (rest, None),
            };
            let list = match (part, *inline) {
                ("shortcut", _) => shortcut,
                ("post", _) => post,
                ("body", false) => body,
                (_, true) => return locate(body, rest, full),
                _ => return Err(not_found(full)),
            };
            match tail {
                Some(t) => locate(list, t, full),
                None => Err(Error::Path(format!(
                    "`{full}` names a branch, not a layer; name a layer inside it"
                ))),
            }
        }
        _ => Err(not_found(full)),
    }
}

/// [`locate`] over the whole spec: `heads.<name>.<rest>` paths lead into head `name`.
fn locate_spec<'a>(
    spec: &'a mut NetworkSpec,
    path: &str,
    full: &str,
) -> Result<(&'a mut Vec<Node>, usize)> {
    if let Some(rest) = path.strip_prefix(HEADS).and_then(|r| r.strip_prefix('.'))
        && !spec.heads.is_empty()
    {
        let (name, tail) = match rest.split_once('.') {
            Some((n, t)) => (n, Some(t)),
            None => (rest, None),
        };
        let head = spec
            .heads
            .iter_mut()
            .find(|h| h.name == name)
            .ok_or_else(|| not_found(full))?;
        return match tail {
            Some(t) => locate(&mut head.layers, t, full),
            None => Err(Error::Path(format!(
                "`{full}` names a head, not a layer; name a layer inside it or use remove_head"
            ))),
        };
    }
    locate(&mut spec.layers, path, full)
}

fn not_found(path: &str) -> Error {
    Error::Path(format!(
        "no layer `{path}` in this network (see `tlkit inspect` for the layer paths)"
    ))
}

/// Gives every unnamed layer of a container its current index as its name, so that removing or
/// inserting a sibling does not rename the layers after it (and orphan their weights).
fn pin_names(list: &mut [Node]) {
    for (i, n) in list.iter_mut().enumerate() {
        if n.name.is_none() {
            n.name = Some(i.to_string());
        }
    }
}

/// Applies one edit to a spec.
pub fn apply(spec: &NetworkSpec, edit: &Edit) -> Result<NetworkSpec> {
    let mut out = spec.clone();
    match edit {
        Edit::TruncateAfter { path } => {
            // Drop the later siblings at every level from the node up to the top.
            let parts: Vec<&str> = path.split('.').collect();
            for depth in (1..=parts.len()).rev() {
                let prefix = parts[..depth].join(".");
                if let Ok((list, i)) = locate_spec(&mut out, &prefix, path) {
                    list.truncate(i + 1);
                }
            }
            locate_spec(&mut out, path, path)?;
        }
        Edit::Delete { path } => {
            let (list, i) = locate_spec(&mut out, path, path)?;
            pin_names(list);
            list.remove(i);
        }
        Edit::InsertAfter { path, layer } | Edit::InsertBefore { path, layer } => {
            let after = matches!(edit, Edit::InsertAfter { .. });
            let (list, i) = locate_spec(&mut out, path, path)?;
            let Some(name) = &layer.name else {
                return Err(Error::Path(format!(
                    "give the layer inserted near `{path}` a `name`; a position is not a stable name once layers move"
                )));
            };
            pin_names(list);
            if list.iter().any(|n| n.name.as_ref() == Some(name)) {
                return Err(Error::Path(format!(
                    "a layer named `{name}` already sits next to `{path}`"
                )));
            }
            list.insert(if after { i + 1 } else { i }, layer.clone());
        }
        Edit::Replace { path, layer } => {
            let (list, i) = locate_spec(&mut out, path, path)?;
            let name = layer.name.clone().or_else(|| list[i].name.clone());
            list[i] = Node {
                name,
                layer: layer.layer.clone(),
            };
        }
        Edit::Append { layer } => out.layers.push(layer.clone()),
        Edit::AddHead { head } => {
            if out.head(&head.name).is_some() {
                return Err(Error::Path(format!(
                    "the network already has a head `{}`; remove it first or pick another name",
                    head.name
                )));
            }
            out.heads.push(head.clone());
        }
        Edit::RemoveHead { name } => {
            let before = out.heads.len();
            out.heads.retain(|h| &h.name != name);
            if out.heads.len() == before {
                return Err(Error::Path(format!("no head `{name}` to remove")));
            }
        }
    }
    Ok(out)
}

impl Network {
    /// Applies `edits` in order and returns the new network: parameters whose path and shape
    /// are unchanged keep their values and frozen state; new ones are initialised from `seed`.
    pub fn surgery(&self, edits: &[Edit], seed: u64) -> Result<(Network, SurgeryReport)> {
        let mut spec = self.spec().clone();
        for e in edits {
            spec = apply(&spec, e)?;
            // Check the shapes after every edit so the error points at the edit that broke them.
            super::shape::infer(&mut spec.clone())?;
        }
        let mut net = Network::new(spec, seed, self.device())?;
        let mut report = SurgeryReport::default();
        let old = self.state_dict();
        let mut keep = std::collections::BTreeMap::new();
        for path in net.paths().to_vec() {
            match (old.get(&path), net.slot(&path)) {
                (Some((shape, v)), Some(slot)) if *shape == slot.shape => {
                    keep.insert(path.clone(), (shape.clone(), v.clone()));
                    report.kept.push(path);
                }
                _ => report.initialised.push(path),
            }
        }
        net.load_state_dict(&keep, false)?;
        let frozen: Vec<String> = report
            .kept
            .iter()
            .filter(|p| self.slot(p).is_some_and(|s| s.frozen))
            .cloned()
            .collect();
        if !frozen.is_empty() {
            net.freeze(&super::Selector::new(
                &frozen
                    .iter()
                    .map(|p| globset::escape(p))
                    .collect::<Vec<_>>(),
            )?)?;
        }
        report.dropped = old
            .keys()
            .filter(|p| net.slot(p).is_none())
            .cloned()
            .collect();
        Ok((net, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{self, Device};
    use crate::nn::{Selector, zoo};

    fn linear(out: usize) -> LayerSpec {
        LayerSpec::Linear {
            in_features: None,
            out_features: out,
            bias: true,
        }
    }

    #[test]
    fn new_head_keeps_backbone_weights_and_frozen_state() {
        let d = Device::flex();
        let mut net = Network::new(zoo::lenet(1, 28, 10, 0.5), 3, &d).unwrap();
        net.freeze(&Selector::new(&["backbone.*"]).unwrap())
            .unwrap();
        let (new, report) = net
            .surgery(
                &[Edit::Replace {
                    path: "head".into(),
                    layer: Node::anon(linear(4)),
                }],
                9,
            )
            .unwrap();
        assert_eq!(new.output_shape(), vec![4]);
        assert_eq!(report.initialised, ["head.weight", "head.bias"]);
        assert!(report.dropped.is_empty());
        assert_eq!(
            backend::to_vec(&new.slot("backbone.0.weight").unwrap().value),
            backend::to_vec(&net.slot("backbone.0.weight").unwrap().value)
        );
        assert!(new.slot("backbone.3.weight").unwrap().frozen);
        assert!(!new.slot("head.weight").unwrap().frozen);
    }

    #[test]
    fn truncate_then_append_a_head() {
        let d = Device::flex();
        let net = Network::new(zoo::lenet(1, 28, 10, 0.5), 3, &d).unwrap();
        let (new, report) = net
            .surgery(
                &[
                    Edit::TruncateAfter {
                        path: "backbone".into(),
                    },
                    Edit::Append {
                        layer: Node::named("fc", linear(3)),
                    },
                ],
                0,
            )
            .unwrap();
        assert_eq!(new.layers().iter().filter(|l| l.depth == 0).count(), 2);
        assert_eq!(
            report.dropped,
            [
                "bottleneck.0.bias",
                "bottleneck.0.weight",
                "head.bias",
                "head.weight"
            ]
        );
        assert_eq!(
            new.layers().iter().find(|l| l.path == "fc").unwrap().input,
            [800]
        );
    }

    #[test]
    fn truncate_inside_a_container_drops_later_siblings_and_later_layers() {
        let spec = zoo::efficientnet_lite0(64, 10, 0.2);
        let out = apply(
            &spec,
            &Edit::TruncateAfter {
                path: "_blocks.11".into(),
            },
        )
        .unwrap();
        assert_eq!(out.layers.len(), 4);
        let LayerSpec::Sequential { layers } = &out.layers[3].layer else {
            panic!()
        };
        assert_eq!(layers.len(), 12);
    }

    #[test]
    fn head_that_does_not_fit_is_reported_before_training() {
        let d = Device::flex();
        let net = Network::new(zoo::lenet(1, 28, 10, 0.5), 3, &d).unwrap();
        let wrong = Node::anon(LayerSpec::Linear {
            in_features: Some(25088),
            out_features: 10,
            bias: true,
        });
        let err = net
            .surgery(
                &[Edit::Replace {
                    path: "bottleneck.0".into(),
                    layer: wrong,
                }],
                0,
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "`bottleneck.0` (linear) expects 25088 inputs but `backbone.7` produces 800"
            ),
            "{err}"
        );
    }

    #[test]
    fn unknown_path_and_unnamed_insert_are_errors() {
        let spec = zoo::lenet(1, 28, 10, 0.5);
        let err = apply(
            &spec,
            &Edit::Delete {
                path: "backbone.42".into(),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no layer `backbone.42`"), "{err}");
        let err = apply(
            &spec,
            &Edit::InsertAfter {
                path: "backbone.0".into(),
                layer: Node::anon(LayerSpec::Relu),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("a `name`"), "{err}");
    }

    #[test]
    fn heads_are_added_edited_and_removed_by_path() {
        let d = Device::flex();
        let net = Network::new(zoo::mlp(&[6], &[5, 4], 3, 0.0), 1, &d).unwrap();
        let head = HeadSpec {
            name: "aux".into(),
            from: "backbone.1".into(),
            layers: vec![Node::anon(linear(2))],
        };
        let (net, report) = net
            .surgery(&[Edit::AddHead { head: head.clone() }], 0)
            .unwrap();
        assert_eq!(
            report.initialised,
            ["heads.aux.0.weight", "heads.aux.0.bias"]
        );
        assert_eq!(net.head_output_shape(Some("aux")).unwrap(), [2]);
        assert_eq!(net.output_shape(), [3]);
        let (net, report) = net
            .surgery(
                &[Edit::InsertAfter {
                    path: "heads.aux.0".into(),
                    layer: Node::named("out", linear(7)),
                }],
                0,
            )
            .unwrap();
        assert_eq!(report.kept.len(), net.paths().len() - 2, "{report:?}");
        assert_eq!(net.head_output_shape(Some("aux")).unwrap(), [7]);
        let rows: Vec<String> = net.summary().into_iter().map(|r| r.path).collect();
        assert!(rows.ends_with(&[
            "heads.aux".into(),
            "heads.aux.0".into(),
            "heads.aux.out".into()
        ]));
        let err = apply(
            net.spec(),
            &Edit::Delete {
                path: "heads.aux".into(),
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("names a head"), "{err}");
        let (net, report) = net
            .surgery(&[Edit::RemoveHead { name: "aux".into() }], 0)
            .unwrap();
        assert!(net.spec().heads.is_empty());
        assert_eq!(report.dropped.len(), 4);
    }

    #[test]
    fn deleting_a_layer_keeps_the_names_and_weights_after_it() {
        let d = Device::flex();
        let net = Network::new(zoo::lenet(1, 28, 10, 0.5), 3, &d).unwrap();
        let (new, report) = net
            .surgery(
                &[Edit::Delete {
                    path: "backbone.4".into(),
                }],
                0,
            )
            .unwrap();
        assert!(
            report.initialised.is_empty() && report.dropped.is_empty(),
            "{report:?}"
        );
        assert!(new.layers().iter().all(|l| l.path != "backbone.4"));
        assert!(new.slot("backbone.3.weight").is_some());
        let (new, _) = new
            .surgery(
                &[Edit::InsertAfter {
                    path: "backbone.3".into(),
                    layer: Node::named(
                        "bn",
                        LayerSpec::BatchNorm {
                            num_features: None,
                            eps: 1e-5,
                            momentum: 0.1,
                        },
                    ),
                }],
                0,
            )
            .unwrap();
        assert_eq!(new.slot("backbone.bn.weight").unwrap().shape, [50]);
    }
}
