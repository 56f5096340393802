//! ONNX import: an `.onnx` classifier becomes a [`NetworkSpec`] plus its weights as
//! [`HostTensors`] keyed by the spec's parameter paths, so that `Network::new(spec, ..)` and
//! `load_state_dict(weights, strict = true)` give the ONNX model's outputs.
//!
//! The file is parsed by `onnx-ir` (the parser behind burn-onnx), which resolves
//! opset-dependent attributes into typed configs, lifts initializers into constants and fuses
//! Gemm and MatMul+Add into linear nodes. Its graph simplification stays off: its constant
//! folding trusts static shapes that go wrong after a Pad whose pads it cannot fold, which is how
//! PyTorch exports TF-"SAME" padding (the pads computed by Shape/Gather/Sub/Div/Concat/Slice/
//! Transpose nodes). The importer tracks shapes itself while it walks the graph and folds that
//! small integer arithmetic. The typed graph renames every node (`conv2d3`) and drops
//! initializer names, so the original names are read from the file's protobuf and matched to
//! the typed nodes by op type and order (checked by the weight's shape): a PyTorch export keeps
//! `layer1.conv1.weight` and the imported layer sits at `layer1.conv1`; layers without weights
//! take their module path from the exporter's node scopes (`/features/features.2/Relu`).

//! Supported graphs are the chains of common CNN/MLP classifiers: Conv (with a preceding
//! zero Pad folded into its padding; asymmetric pads that equal TensorFlow's SAME become
//! `"same"`), BatchNormalization, Relu, Clip(0, 6), LeakyRelu, Sigmoid, Tanh, Gelu, MaxPool,
//! AveragePool, GlobalAveragePool, Flatten, Reshape to `[batch, -1]`, Gemm / MatMul(+Add),
//! Dropout and Identity; a tensor used by two branches that meet again in an Add is a residual
//! block (the longer branch is the body, the other the shortcut). Anything else is an error
//! naming the node, its op type and what is supported.

use std::collections::HashMap;
use std::path::Path;

use onnx_ir::OnnxGraphBuilder;

use crate::nn::spec::NetworkSpec;
use crate::train::checkpoint::HostTensors;
use crate::{Error, Result};

mod build;
mod fold;
mod importer;
#[cfg(test)]
mod tests;

use importer::Importer;

/// The op types the importer turns into layers, for error messages.
pub const SUPPORTED_OPS: &str = "Conv, Pad (zero, before a Conv), BatchNormalization, Relu, \
Clip(0, 6), LeakyRelu, Sigmoid, Tanh, Gelu, MaxPool, AveragePool, GlobalAveragePool, Flatten, \
Reshape to [batch, -1], Gemm, MatMul(+Add), Dropout, Identity, and Add of two branches from one \
tensor (a residual block)";

/// An imported ONNX model.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    /// The network, with `input_shape` from the graph input (batch dimension dropped).
    pub spec: NetworkSpec,
    /// Every parameter and batch-norm buffer by its path in `spec`.
    pub weights: HostTensors,
}

/// True when the first bytes look like an ONNX `ModelProto`: field 1 (`ir_version`, tag 0x08)
/// with a small version, then the tag of another `ModelProto` field. A safetensors file starts
/// with a little-endian u64 header length, whose third byte is 0 for any real header; PyTorch
/// checkpoints start with `PK` or the pickle magic.
pub fn looks_like_onnx(head: &[u8]) -> bool {
    const NEXT_TAGS: [u8; 8] = [0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x52];
    matches!(head, [0x08, v, tag, ..] if (1..=20).contains(v) && NEXT_TAGS.contains(tag))
}

/// Imports the ONNX model at `path`.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming the file (and the node
/// and its op type, when one is at fault) for a file that is not ONNX, a graph that is not one
/// input → one output, or an operator or attribute outside [`SUPPORTED_OPS`].
pub fn load_onnx(path: impl AsRef<Path>) -> Result<OnnxModel> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    load_onnx_bytes(&bytes, path)
}

/// Imports an ONNX model held in memory; `origin` names it in errors.
pub fn load_onnx_bytes(bytes: &[u8], origin: &Path) -> Result<OnnxModel> {
    let fail = |msg: String| Error::format(origin, None, msg);
    if bytes.is_empty() {
        return Err(fail("the file is empty; expected an ONNX model".into()));
    }
    let proto = <onnx_ir::ModelProto as onnx_ir::Message>::parse_from_bytes(bytes)
        .map_err(|e| fail(format!("not an ONNX model (protobuf: {e})")))?;
    if proto.graph.node.is_empty() {
        return Err(fail("not an ONNX model: the graph has no nodes".into()));
    }
    // The parser asserts on some malformed graphs; a panic there must not take the caller down.
    let owned = bytes.to_vec();
    let parsed = std::panic::catch_unwind(move || {
        // Simplification is off: its constant folding trusts static shapes that are wrong after
        // an unfolded Pad (EfficientNet's SAME padding); the importer folds pads itself.
        OnnxGraphBuilder::new()
            .simplify(false)
            .parse_bytes(&owned)
            .map_err(|e| e.to_string())
    });
    let graph = match parsed {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => return Err(fail(format!("cannot parse the ONNX graph: {e}"))),
        Err(_) => {
            return Err(fail(
                "cannot parse the ONNX graph: the parser failed".into(),
            ));
        }
    };
    let names = ProtoNames::new(&proto);
    Importer::new(&graph, names, origin)?.run()
}

/// Original node and initializer names from the protobuf, by op type in graph order.
struct ProtoNames {
    /// op type → (node name, name of its second input) in graph order.
    by_op: HashMap<String, Vec<(String, String)>>,
    /// initializer name → dims.
    dims: HashMap<String, Vec<usize>>,
}

impl ProtoNames {
    fn new(model: &onnx_ir::ModelProto) -> Self {
        let g = &model.graph;
        let dims: HashMap<String, Vec<usize>> = g
            .initializer
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    t.dims.iter().map(|&d| d.max(0) as usize).collect(),
                )
            })
            .collect();
        let mut by_op: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for n in &g.node {
            let second = n.input.get(1).map(|s| s.to_string()).unwrap_or_default();
            let op = n.op_type.to_string();
            // Gemm and MatMul with a weight both become one linear kind in the typed graph.
            let key = if (op == "Gemm" || op == "MatMul") && dims.contains_key(&second) {
                "linear".to_string()
            } else {
                op
            };
            by_op
                .entry(key)
                .or_default()
                .push((n.name.to_string(), second));
        }
        ProtoNames { by_op, dims }
    }
}
