//! Naming and nesting: converted items become the spec's nodes at their PyTorch paths.

use super::importer::Item;
use crate::nn::spec::{LayerSpec, Node};
use crate::train::checkpoint::HostTensors;

/// Builds the nodes of a container at `prefix`, grouping consecutive items that share the next
/// component of their PyTorch path into a named sequential, and writes their weights.
pub(super) fn build_seq(
    items: Vec<Item>,
    prefix: &[String],
    weights: &mut HostTensors,
) -> Vec<Node> {
    // First decide every child's name, so that clashes can be settled before paths exist.
    let mut named: Vec<(Option<String>, Vec<Item>, bool)> = Vec::new();
    let mut items = items.into_iter().peekable();
    while let Some(item) = items.next() {
        let rest = item.want().and_then(|w| {
            (w.len() > prefix.len() && w[..prefix.len()] == *prefix)
                .then(|| w[prefix.len()..].to_vec())
        });
        match rest {
            Some(rest) if rest.len() == 1 => named.push((Some(rest[0].clone()), vec![item], false)),
            Some(rest) => {
                let key = rest[0].clone();
                let mut group = vec![item];
                let mut held = Vec::new();
                let mut under = prefix.to_vec();
                under.push(key.clone());
                // Unnamed layers between two members of the group belong to it.
                while let Some(next) = items.peek() {
                    match next.want() {
                        Some(w) if w.len() > under.len() && w[..under.len()] == *under => {
                            group.append(&mut held);
                            group.push(items.next().expect("peeked"));
                        }
                        None if !next.has_params() => held.push(items.next().expect("peeked")),
                        _ => break,
                    }
                }
                named.push((Some(key), group, true));
                for h in held {
                    named.push((None, vec![h], false));
                }
            }
            None => {
                let name = match &item {
                    Item::Layer {
                        want: Some(w),
                        params,
                        ..
                    } if !params.is_empty() => Some(w.join("_")),
                    Item::Layer {
                        fallback, params, ..
                    } if !params.is_empty() => Some(fallback.clone()),
                    _ => None,
                };
                named.push((name, vec![item], false));
            }
        }
    }
    // Settle clashes (an index name equal to an explicit one, or two equal names).
    let mut taken: Vec<String> = Vec::new();
    for (idx, (name, _, _)) in named.iter_mut().enumerate() {
        let base = name.clone().unwrap_or_else(|| idx.to_string());
        let mut pick = base.clone();
        let mut n = 2;
        while taken.contains(&pick) {
            pick = format!("{base}_{n}");
            n += 1;
        }
        if pick != base {
            *name = Some(pick.clone());
        }
        taken.push(pick);
    }
    let mut nodes = Vec::new();
    for (idx, (name, group, is_group)) in named.into_iter().enumerate() {
        let own = name.clone().unwrap_or_else(|| idx.to_string());
        let mut path = prefix.to_vec();
        path.push(own);
        let layer = if is_group {
            LayerSpec::Sequential {
                layers: build_seq(group, &path, weights),
            }
        } else {
            let item = group.into_iter().next().expect("one item");
            build_item(item, &path, weights)
        };
        nodes.push(Node { name, layer });
    }
    nodes
}

fn build_item(item: Item, path: &[String], weights: &mut HostTensors) -> LayerSpec {
    // A block named after the common prefix of its layers names them directly under itself.
    let inline = item.want().as_deref() == Some(path);
    match item {
        Item::Layer { layer, params, .. } => {
            let p = path.join(".");
            for (suffix, shape, v) in params {
                weights.insert(format!("{p}.{suffix}"), (shape, v));
            }
            layer
        }
        Item::Residual { body, shortcut } => residual(body, shortcut, path, inline, weights),
    }
}

fn residual(
    body: Vec<Item>,
    shortcut: Vec<Item>,
    path: &[String],
    inline: bool,
    weights: &mut HostTensors,
) -> LayerSpec {
    let mut body_prefix = path.to_vec();
    if !inline {
        body_prefix.push("body".into());
    }
    let mut short_prefix = path.to_vec();
    short_prefix.push("shortcut".into());
    LayerSpec::Residual {
        inline,
        body: build_seq(body, &body_prefix, weights),
        shortcut: build_seq(shortcut, &short_prefix, weights),
        post: Vec::new(),
    }
}
