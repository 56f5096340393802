//! Multi-gate mixture of experts (MMoE).
//!
//! Ma, Zhao, Yi, Chen, Hong & Chi, "Modeling Task Relationships in Multi-task Learning with
//! Multi-gate Mixture-of-Experts", KDD 2018, <https://doi.org/10.1145/3219819.3220007>.
//!
//! `E` experts (the same layers, separate weights) all read the input `x`; each task `t` has
//! a gate, a softmax over the experts of a linear map of the (flattened) input, and its
//! representation is the gated sum of the experts' outputs:
//!
//! ```text
//! g_t(x) = softmax(W_t · x)            (W_t ∈ ℝ^{E×d}, d = the input's size)
//! h_t(x) = Σ_e g_t(x)_e · f_e(x)
//! ```
//!
//! The layer's output is `h_1 … h_T` side by side on the first per-sample axis; the head of
//! task `t` starts with `take { part = t, parts = T }` (the paper's tower). With one expert
//! every gate is 1 and the layer is that expert, once per task.
//!
//! Parameters: `<path>.experts.<e>.<layer>...`, `<path>.gates.<t>.weight` (`[E, d]`,
//! PyTorch's `nn.Linear` layout and initialisation) and, with `gate_bias = true`,
//! `<path>.gates.<t>.bias`. The paper's gates have no bias (the formula above); LibMTL's
//! gates are `nn.Linear` layers with one.
//!
//! ```toml
//! [[network.layers]]
//! name = "mmoe"
//! type = "mmoe"
//! experts = 4
//! tasks = 2
//! expert = [ { type = "conv2d", out_channels = 5, kernel_size = 5 }, ... ]
//! ```

use super::network::{Act, Runner, concat_parts};
use super::shape::{ParamInfo, ParamRole, Walker, parts_shape};
use super::spec::{Node, join};
use crate::backend::{Tensor, activation};
use crate::{Error, Result};

/// The path prefix of task `t`'s gate.
fn gate(path: &str, t: usize) -> String {
    join(path, &format!("gates.{t}"))
}

/// The fields of an `mmoe` layer, as shape inference reads them.
pub(super) struct Experts<'a> {
    pub experts: usize,
    pub tasks: usize,
    pub expert: &'a mut Vec<Node>,
    pub gate_bias: bool,
}

impl Walker {
    /// Shape inference of an `mmoe` layer at `path`: its output shape and its own parameters
    /// (the gates; the experts' layers are listed as its children).
    pub(super) fn mmoe(
        &mut self,
        path: &str,
        m: Experts<'_>,
        (input, from): (&[usize], &str),
        depth: usize,
    ) -> Result<(Vec<usize>, Vec<ParamInfo>)> {
        let Experts {
            experts,
            tasks,
            expert,
            gate_bias,
        } = m;
        for (field, v, what) in [("experts", experts, "expert"), ("tasks", tasks, "gate")] {
            if v == 0 {
                return Err(Error::invalid(
                    format!("{path}.{field}"),
                    v,
                    format!("an mmoe layer needs at least one {what}"),
                ));
            }
        }
        let (group, field) = (join(path, "experts"), join(path, "expert"));
        let out = self.copies((&group, &field), experts, expert, (input, from), depth)?;
        let d: usize = input.iter().product();
        let mut params = vec![];
        for t in 0..tasks {
            params.push(ParamInfo {
                path: join(&gate(path, t), "weight"),
                shape: vec![experts, d],
                role: ParamRole::Weight { fan_in: d },
            });
            if gate_bias {
                params.push(ParamInfo {
                    path: join(&gate(path, t), "bias"),
                    shape: vec![experts],
                    role: ParamRole::Bias { fan_in: d },
                });
            }
        }
        Ok((parts_shape(&out, tasks), params))
    }
}

impl Runner<'_, '_> {
    /// The forward pass of an `mmoe` layer at `path` (see the module docs).
    ///
    /// # Shapes
    /// - input: `[batch, ...in]` (`d` values per sample), given to every expert and gate
    /// - output: `[batch, tasks · out_0, ...out_rest]`, task `t`'s part at `t · out_0 ..`
    pub(super) fn mmoe(
        &mut self,
        path: &str,
        experts: usize,
        tasks: usize,
        expert: &[Node],
        gate_bias: bool,
        x: Act,
    ) -> Result<Act> {
        let outs = (0..experts)
            .map(|e| self.seq(&join(path, &format!("experts.{e}")), expert, x.clone()))
            .collect::<Result<Vec<Act>>>()?;
        let dims = outs[0].dims();
        let (b, n) = (dims[0], dims[1..].iter().product::<usize>());
        // [batch, experts, features]: one batched product per task mixes them.
        let stacked: Tensor<3> = Tensor::stack(outs.into_iter().map(Act::flat).collect(), 1);
        let x = x.flat();
        let d = x.dims()[1];
        let mut parts = vec![];
        for t in 0..tasks {
            let g = gate(path, t);
            let mut logits = x
                .clone()
                .matmul(self.param(&join(&g, "weight"), [experts, d]).transpose());
            if gate_bias {
                logits = logits + self.param(&join(&g, "bias"), [1, experts]);
            }
            let weights = activation::softmax(logits, 1).reshape([b, 1, experts]);
            let h = weights.matmul(stacked.clone()).reshape([b, n]);
            parts.push(match dims[..] {
                [_, c, hh, w] => Act::Map(h.reshape([b, c, hh, w])),
                _ => Act::Flat(h),
            });
        }
        Ok(concat_parts(parts))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use crate::backend::{self, Device};
    use crate::nn::testing::{check_gradients, input, set, values};
    use crate::nn::{Mode, Network, NetworkSpec};

    /// Three conv experts on 8×8 maps, two gates, a head per task taking its part.
    const SPEC: &str = r#"
        input_shape = [1, 8, 8]
        [[layers]]
        name = "moe"
        type = "mmoe"
        experts = 3
        tasks = 2
        expert = [
            { name = "conv", type = "conv2d", out_channels = 2, kernel_size = 3 },
            { type = "relu" },
            { type = "max_pool2d", kernel_size = 2 },
        ]
        [[heads]]
        name = "a"
        from = "moe"
        layers = [{ type = "take", part = 0, parts = 2 }, { type = "flatten" }, { type = "linear", out_features = 3 }]
        [[heads]]
        name = "b"
        from = "moe"
        layers = [{ type = "take", part = 1, parts = 2 }, { type = "flatten" }, { type = "linear", out_features = 2 }]
    "#;

    fn spec(text: &str) -> NetworkSpec {
        NetworkSpec::from_toml(text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn shapes_and_parameter_paths() {
        let mut net = Network::new(spec(SPEC), 0, &Device::flex()).unwrap();
        assert_eq!(net.output_shape(), [4, 3, 3]);
        assert_eq!(net.head_output_shape(Some("b")).unwrap(), [2]);
        let paths: Vec<&str> = net.paths().iter().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "moe.gates.0.weight",
                "moe.gates.1.weight",
                "moe.experts.0.conv.weight",
                "moe.experts.0.conv.bias",
                "moe.experts.1.conv.weight",
                "moe.experts.1.conv.bias",
                "moe.experts.2.conv.weight",
                "moe.experts.2.conv.bias",
                "heads.a.2.weight",
                "heads.a.2.bias",
                "heads.b.2.weight",
                "heads.b.2.bias",
            ]
        );
        assert_eq!(net.slot("moe.gates.1.weight").unwrap().shape, [3, 64]);
        let with_bias = Network::new(
            spec(&SPEC.replace("tasks = 2", "tasks = 2\ngate_bias = true")),
            0,
            &Device::flex(),
        )
        .unwrap();
        assert_eq!(with_bias.slot("moe.gates.0.bias").unwrap().shape, [3]);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let fwd = net
            .forward_taps(input(&net, 5, 1), Mode::Train(&mut rng), &[])
            .unwrap();
        assert_eq!(fwd.output.dims(), [5, 4, 3, 3]);
        assert_eq!(fwd.heads["a"].dims(), [5, 3]);
    }

    /// Experts computing x[0] and x[1] of x = (1, 2); gate 0 is all zeros, so it weighs them
    /// ½, ½: 1.5; gate 1 has logits (1, 0): (e·1 + 1·2)/(e + 1) = 1.2689414.
    #[test]
    fn the_gated_sum_is_hand_computed() {
        let text = r#"
            input_shape = [2]
            [[layers]]
            name = "m"
            type = "mmoe"
            experts = 2
            tasks = 2
            expert = [{ name = "fc", type = "linear", out_features = 1, bias = false }]
        "#;
        let mut net = Network::new(spec(text), 0, &Device::flex()).unwrap();
        set(&mut net, "m.experts.0.fc.weight", vec![1.0, 0.0]);
        set(&mut net, "m.experts.1.fc.weight", vec![0.0, 1.0]);
        set(&mut net, "m.gates.0.weight", vec![0.0; 4]);
        set(&mut net, "m.gates.1.weight", vec![1.0, 0.0, 0.0, 0.0]);
        let x = net.input(vec![1.0, 2.0], 1).unwrap();
        let y = backend::to_vec(&net.forward(x, Mode::Eval).unwrap().flat());
        let e = std::f32::consts::E;
        let want = [1.5, (e + 2.0) / (e + 1.0)];
        assert!(
            (y[0] - want[0]).abs() < 1e-6 && (y[1] - want[1]).abs() < 1e-6,
            "{y:?}"
        );
    }

    /// With one expert every gate is exactly 1: each task's part is the expert's output, bit
    /// for bit that of a plain network of the expert's layers holding its weights.
    #[test]
    fn one_expert_is_that_expert() {
        let d = Device::flex();
        let mut net =
            Network::new(spec(&SPEC.replace("experts = 3", "experts = 1")), 2, &d).unwrap();
        let alone_spec = r#"
            input_shape = [1, 8, 8]
            layers = [
                { name = "conv", type = "conv2d", out_channels = 2, kernel_size = 3 },
                { type = "relu" },
                { type = "max_pool2d", kernel_size = 2 },
            ]
        "#;
        let mut alone = Network::new(spec(alone_spec), 5, &d).unwrap();
        for p in ["conv.weight", "conv.bias"] {
            set(&mut alone, p, values(&net, &format!("moe.experts.0.{p}")));
        }
        let y = backend::to_vec(&net.forward(input(&net, 3, 4), Mode::Eval).unwrap().flat());
        let z = backend::to_vec(&alone.forward(input(&net, 3, 4), Mode::Eval).unwrap().flat());
        for b in 0..3 {
            for t in 0..2 {
                assert_eq!(
                    y[b * 36 + t * 18..b * 36 + t * 18 + 18],
                    z[b * 18..b * 18 + 18]
                );
            }
        }
    }

    /// Autodiff's gradient of a loss on the gates and an expert matches central finite
    /// differences of the same loss.
    #[test]
    fn gradients_reach_the_gates_and_match_finite_differences() {
        let d = Device::flex();
        let mut net = Network::new(spec(SPEC), 1, &d).unwrap();
        let x = input(&net, 3, 2);
        let loss = |net: &mut Network, mode: Mode<'_>| {
            let f = net.forward_taps(x.clone(), mode, &[]).unwrap();
            let a = f.heads["a"].clone().flat();
            let b = f.heads["b"].clone().flat();
            let wa = backend::tensor((1..=9).map(|v| v as f32 / 3.0).collect(), [3, 3], &d);
            let wb = backend::tensor((1..=6).map(|v| -(v as f32) / 2.0).collect(), [3, 2], &d);
            (a * wa).sum() + (b.tanh() * wb).sum()
        };
        check_gradients(
            &mut net,
            &[
                ("moe.gates.0.weight", 7),
                ("moe.gates.1.weight", 100),
                ("moe.experts.2.conv.weight", 4),
            ],
            loss,
        );
    }

    #[test]
    fn bad_specs_name_the_layer_and_field() {
        let err = |text: String| {
            Network::new(spec(&text), 0, &Device::flex())
                .unwrap_err()
                .to_string()
        };
        let e = err(SPEC.replace("tasks = 2", "tasks = 0"));
        assert!(
            e.contains("moe.tasks = 0") && e.contains("at least one gate"),
            "{e}"
        );
        let e = err(SPEC.replace("experts = 3", "experts = 0"));
        assert!(e.contains("moe.experts = 0"), "{e}");
        let e = err(SPEC.replace("part = 0, parts = 2", "part = 5, parts = 2"));
        assert!(e.contains("heads.a.0.part = 5"), "{e}");
        let e = err(SPEC.replace("out_channels = 2", "out_channels = 0"));
        assert!(e.contains("moe.experts.0.conv"), "{e}");
    }
}
