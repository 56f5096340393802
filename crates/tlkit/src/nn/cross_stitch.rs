//! Cross-stitch units: soft parameter sharing between task columns.
//!
//! Misra, Shrivastava, Gupta & Hebert, "Cross-stitch Networks for Multi-task Learning", CVPR
//! 2016, <https://arxiv.org/abs/1604.03539>.
//!
//! One column per task runs the same layers with its own weights on the same input. After
//! each chosen layer `l`, the columns' activations `x_1 … x_T` are replaced by
//!
//! ```text
//! x̃_i = Σ_j α_ij · x_j          (α ∈ ℝ^{T×T}, one matrix per stitch point, learned)
//! ```
//!
//! and the next layer of column `i` reads `x̃_i`. With `α = I` the columns are separate
//! networks; with every `α_ij = 1/T` they compute one shared representation. The layer's
//! output is the columns' last activations side by side on the first per-sample axis (a head
//! takes its column with `take { part = i, parts = T }`), so heads, trainer, weighting
//! methods, checkpoints and `tlkit inspect` see an ordinary layer.
//!
//! In a spec (parameters `stitch.columns.<t>.<layer>.weight`, `stitch.alpha.<layer>`):
//! ```toml
//! [[network.layers]]
//! name = "stitch"
//! type = "cross_stitch"
//! tasks = 2
//! stitch_after = ["pool1", "fc"]
//! layers = [ { name = "conv1", type = "conv2d", out_channels = 10, kernel_size = 5 }, ... ]
//! ```
//!
//! ## Choices, and how they compare with the paper and LibMTL
//! - **One α per pair of tasks**, shared by every channel and location of the stitched
//!   layer. The paper writes the unit for the two activations at one location; the same
//!   matrix can be learned per channel (T² values per channel; Vandenhende et al.'s
//!   re-implementation does so). We take the per-pair form, as LibMTL does: it works alike on
//!   feature maps and flat features, it keeps the unit T² numbers that read as "how much task
//!   i takes from task j", and our benchmark's stitched layers have 10–50 channels, where
//!   per-channel mixing would add parameters without evidence that it helps.
//! - **Initialisation near identity**: α_ii = `alpha_same` = 0.9 and α_ij = `alpha_other`
//!   (default `(1 − alpha_same)/(T − 1)`, 0.1 for two tasks): the paper's (α_S, α_D) =
//!   (0.9, 0.1), the best setting of its ablation of initialisations in [0, 1]. Each row then
//!   sums to one, so a stitched activation keeps its scale, the paper's reason for
//!   initialising in [0, 1]. LibMTL initialises every α to 1 (rows summing to T).
//! - **Learning rate of α**: the paper found the units learn too slowly at the network's
//!   rate and scales theirs up (its ablation compares factors up to 10³). Here the unit has
//!   no rate of its own; the optimizer's per-group multiplier does it
//!   (`[[train.optimizer.groups]] params = ["stitch.alpha.*"], lr_mult = 100`), so the
//!   factor is visible in the config and its resolved copy. LibMTL uses no factor, and nor
//!   does our MultiMNIST benchmark since a factor of 10 diverged at its full budget.

use super::network::{Act, Runner, concat_parts};
use super::shape::{ParamInfo, ParamRole, Walker, parts_shape};
use super::spec::{Node, child_name, join};
use crate::backend::Tensor;
use crate::{Error, Result};

/// The fields of a `cross_stitch` layer, as shape inference reads them.
pub(super) struct Stitch<'a> {
    pub tasks: usize,
    pub layers: &'a mut Vec<Node>,
    pub stitch_after: &'a [String],
    pub alpha_same: f64,
    pub alpha_other: Option<f64>,
}

/// The path of the α matrix applied after column layer `layer`.
pub fn alpha_path(path: &str, layer: &str) -> String {
    join(path, &format!("alpha.{layer}"))
}

/// The path prefix of column `t`.
fn column(path: &str, t: usize) -> String {
    join(path, &format!("columns.{t}"))
}

/// The column layers (by index) after which the columns are mixed, in column order.
fn stitch_points(path: &str, layers: &[Node], stitch_after: &[String]) -> Result<Vec<usize>> {
    let names: Vec<String> = layers
        .iter()
        .enumerate()
        .map(|(i, n)| child_name(n, i))
        .collect();
    let mut points = vec![];
    for s in stitch_after {
        let i = names.iter().position(|n| n == s).ok_or_else(|| {
            Error::invalid(
                format!("{path}.stitch_after"),
                format!("`{s}`"),
                format!(
                    "not a layer of the column; name one of its top-level layers: {}",
                    names.join(", ")
                ),
            )
        })?;
        if points.contains(&i) {
            return Err(Error::invalid(
                format!("{path}.stitch_after"),
                format!("`{s}`"),
                "listed twice; stitch after each layer at most once",
            ));
        }
        points.push(i);
    }
    points.sort_unstable();
    Ok(points)
}

impl Walker {
    /// Shape inference of a `cross_stitch` layer at `path`: its output shape and its own
    /// parameters (the α matrices; the columns' layers are listed as its children).
    pub(super) fn cross_stitch(
        &mut self,
        path: &str,
        st: Stitch<'_>,
        at: (&[usize], &str),
        depth: usize,
    ) -> Result<(Vec<usize>, Vec<ParamInfo>)> {
        let t = st.tasks;
        if t == 0 {
            return Err(Error::invalid(
                format!("{path}.tasks"),
                t,
                "a cross_stitch layer needs one column per task, so at least 1",
            ));
        }
        let other = st.alpha_other.unwrap_or(if t > 1 {
            (1.0 - st.alpha_same) / (t - 1) as f64
        } else {
            0.0
        });
        for (field, v) in [("alpha_same", st.alpha_same), ("alpha_other", other)] {
            if !v.is_finite() {
                return Err(Error::invalid(
                    format!("{path}.{field}"),
                    v,
                    "must be a finite number (the paper's lie in [0, 1])",
                ));
            }
        }
        let points = stitch_points(path, st.layers, st.stitch_after)?;
        let (group, field) = (join(path, "columns"), join(path, "layers"));
        let out = self.copies((&group, &field), t, st.layers, at, depth)?;
        let params = points
            .iter()
            .map(|&i| ParamInfo {
                path: alpha_path(path, &child_name(&st.layers[i], i)),
                shape: vec![t, t],
                role: ParamRole::Mix {
                    same: st.alpha_same,
                    other,
                },
            })
            .collect();
        Ok((parts_shape(&out, t), params))
    }
}

impl Runner<'_, '_> {
    /// The forward pass of a `cross_stitch` layer at `path` (see the module docs).
    ///
    /// # Shapes
    /// - input: `[batch, ...in]`, given to every column
    /// - output: `[batch, tasks · out_0, ...out_rest]`, column `t` at `t · out_0 ..`
    pub(super) fn cross_stitch(
        &mut self,
        path: &str,
        tasks: usize,
        layers: &[Node],
        stitch_after: &[String],
        x: Act,
    ) -> Result<Act> {
        let points = stitch_points(path, layers, stitch_after)?;
        let mut xs = vec![x; tasks];
        let mut start = 0;
        for end in points.iter().map(|&i| i + 1).chain([layers.len()]) {
            for (t, xt) in xs.iter_mut().enumerate() {
                *xt = self.seq_at(&column(path, t), &layers[start..end], start, xt.clone())?;
            }
            if end > start && points.contains(&(end - 1)) {
                let name = child_name(&layers[end - 1], end - 1);
                xs = self.stitch(&alpha_path(path, &name), xs);
            }
            start = end;
        }
        Ok(concat_parts(xs))
    }

    /// `x̃_i = Σ_j α_ij x_j`, as one `[T, T] × [T, batch · features]` product.
    fn stitch(&self, alpha: &str, xs: Vec<Act>) -> Vec<Act> {
        let t = xs.len();
        let dims = xs[0].dims();
        let n: usize = dims.iter().product();
        let stacked = Tensor::cat(
            xs.into_iter().map(|a| a.flat().reshape([1, n])).collect(),
            0,
        );
        let mixed = self.param(alpha, [t, t]).matmul(stacked);
        (0..t)
            .map(|i| {
                let row = mixed.clone().narrow(0, i, 1);
                match dims[..] {
                    [b, c, h, w] => Act::Map(row.reshape([b, c, h, w])),
                    _ => Act::Flat(row.reshape([dims[0], n / dims[0].max(1)])),
                }
            })
            .collect()
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

    /// Two columns of a small LeNet on 8×8 maps, stitched after the pooling and the fc layer,
    /// one head per task taking its column.
    const SPEC: &str = r#"
        input_shape = [1, 8, 8]
        [[layers]]
        name = "stitch"
        type = "cross_stitch"
        tasks = 2
        stitch_after = ["fc", "pool"]
        layers = [
            { name = "conv", type = "conv2d", out_channels = 3, kernel_size = 3 },
            { type = "relu" },
            { name = "pool", type = "max_pool2d", kernel_size = 2 },
            { type = "flatten" },
            { name = "fc", type = "linear", out_features = 4 },
        ]
        [[heads]]
        name = "a"
        from = "stitch"
        layers = [{ type = "take", part = 0, parts = 2 }, { type = "linear", out_features = 3 }]
        [[heads]]
        name = "b"
        from = "stitch"
        layers = [{ type = "take", part = 1, parts = 2 }, { type = "linear", out_features = 2 }]
    "#;

    fn spec(text: &str) -> NetworkSpec {
        NetworkSpec::from_toml(text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn shapes_and_parameter_paths() {
        let mut net = Network::new(spec(SPEC), 0, &Device::flex()).unwrap();
        assert_eq!(net.output_shape(), [8]);
        assert_eq!(net.head_output_shape(Some("a")).unwrap(), [3]);
        assert_eq!(net.head_output_shape(Some("b")).unwrap(), [2]);
        let paths: Vec<&str> = net.paths().iter().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "stitch.alpha.pool",
                "stitch.alpha.fc",
                "stitch.columns.0.conv.weight",
                "stitch.columns.0.conv.bias",
                "stitch.columns.0.fc.weight",
                "stitch.columns.0.fc.bias",
                "stitch.columns.1.conv.weight",
                "stitch.columns.1.conv.bias",
                "stitch.columns.1.fc.weight",
                "stitch.columns.1.fc.bias",
                "heads.a.1.weight",
                "heads.a.1.bias",
                "heads.b.1.weight",
                "heads.b.1.bias",
            ]
        );
        assert_eq!(
            net.slot("stitch.columns.1.fc.weight").unwrap().shape,
            [4, 27]
        );
        // The columns start from different weights: the seed draws each one.
        assert_ne!(
            values(&net, "stitch.columns.0.conv.weight"),
            values(&net, "stitch.columns.1.conv.weight")
        );
        // The layer table lists every column's layers under the stitch layer.
        let pool = net
            .layers()
            .iter()
            .find(|l| l.path == "stitch.columns.1.pool")
            .unwrap();
        assert_eq!((pool.depth, pool.output.clone()), (1, vec![3, 3, 3]));
        let x = input(&net, 5, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let fwd = net
            .forward_taps(x, Mode::Train(&mut rng), &["stitch.columns.0.pool".into()])
            .unwrap();
        assert_eq!(fwd.output.dims(), [5, 8]);
        assert_eq!(fwd.heads["a"].dims(), [5, 3]);
        assert_eq!(fwd.taps["stitch.columns.0.pool"].dims(), [5, 3, 3, 3]);
    }

    /// Column 0 computes x[0] and column 1 computes x[1] (hand-set weights); at the paper's
    /// initialisation (α_S, α_D) = (0.9, 0.1) the input (3, 5) gives
    /// (0.9·3 + 0.1·5, 0.1·3 + 0.9·5) = (3.2, 4.8). Three tasks default to α_D = 0.05.
    #[test]
    fn the_mix_at_initialisation_is_the_papers() {
        let text = r#"
            input_shape = [2]
            [[layers]]
            name = "s"
            type = "cross_stitch"
            tasks = 2
            stitch_after = ["fc"]
            layers = [{ name = "fc", type = "linear", out_features = 1, bias = false }]
        "#;
        let d = Device::flex();
        let mut net = Network::new(spec(text), 0, &d).unwrap();
        assert_eq!(values(&net, "s.alpha.fc"), [0.9, 0.1, 0.1, 0.9]);
        set(&mut net, "s.columns.0.fc.weight", vec![1.0, 0.0]);
        set(&mut net, "s.columns.1.fc.weight", vec![0.0, 1.0]);
        let x = net.input(vec![3.0, 5.0], 1).unwrap();
        let y = backend::to_vec(&net.forward(x, Mode::Eval).unwrap().flat());
        assert!(
            (y[0] - 3.2).abs() < 1e-6 && (y[1] - 4.8).abs() < 1e-6,
            "{y:?}"
        );
        let three = Network::new(spec(&text.replace("tasks = 2", "tasks = 3")), 0, &d).unwrap();
        let a = values(&three, "s.alpha.fc");
        let want = [0.9, 0.05, 0.05, 0.05, 0.9, 0.05, 0.05, 0.05, 0.9];
        assert!(
            a.iter().zip(want).all(|(a, w)| (a - w).abs() < 1e-7),
            "{a:?}"
        );
    }

    /// With α = I the stitched network is its columns side by side: each column's output
    /// equals, bit for bit, a plain network of the column's layers holding its weights.
    #[test]
    fn identity_alpha_gives_the_separate_columns() {
        let d = Device::flex();
        let mut net = Network::new(spec(SPEC), 3, &d).unwrap();
        for a in ["stitch.alpha.pool", "stitch.alpha.fc"] {
            set(&mut net, a, vec![1.0, 0.0, 0.0, 1.0]);
        }
        let column = r#"
            input_shape = [1, 8, 8]
            layers = [
                { name = "conv", type = "conv2d", out_channels = 3, kernel_size = 3 },
                { type = "relu" },
                { name = "pool", type = "max_pool2d", kernel_size = 2 },
                { type = "flatten" },
                { name = "fc", type = "linear", out_features = 4 },
            ]
        "#;
        let y = net.forward(input(&net, 4, 7), Mode::Eval).unwrap().flat();
        let y = backend::to_vec(&y);
        for t in 0..2 {
            let mut alone = Network::new(spec(column), 9, &d).unwrap();
            for p in ["conv.weight", "conv.bias", "fc.weight", "fc.bias"] {
                let v = values(&net, &format!("stitch.columns.{t}.{p}"));
                set(&mut alone, p, v);
            }
            let z = backend::to_vec(&alone.forward(input(&net, 4, 7), Mode::Eval).unwrap().flat());
            let part: Vec<f32> = (0..4)
                .flat_map(|b| y[b * 8 + t * 4..b * 8 + t * 4 + 4].to_vec())
                .collect();
            assert_eq!(part, z, "column {t}");
        }
    }

    /// Autodiff's gradient of a loss on α (and on a column weight before the first stitch)
    /// matches central finite differences of the same loss.
    #[test]
    fn gradients_reach_alpha_and_match_finite_differences() {
        let d = Device::flex();
        let mut net = Network::new(spec(SPEC), 1, &d).unwrap();
        let x = input(&net, 3, 2);
        // A loss that weighs every output differently, so that no gradient is symmetric.
        let loss = |net: &mut Network, mode: Mode<'_>| {
            let f = net.forward_taps(x.clone(), mode, &[]).unwrap();
            let a = f.heads["a"].clone().flat();
            let b = f.heads["b"].clone().flat();
            let wa = backend::tensor((1..=9).map(|v| v as f32 / 9.0).collect(), [3, 3], &d);
            let wb = backend::tensor((1..=6).map(|v| -(v as f32) / 6.0).collect(), [3, 2], &d);
            (a * wa).sum() + (b.tanh() * wb).sum()
        };
        check_gradients(
            &mut net,
            &[
                ("stitch.alpha.pool", 1),
                ("stitch.alpha.fc", 2),
                ("stitch.alpha.fc", 0),
                ("stitch.columns.1.conv.weight", 5),
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
        let e = err(SPEC.replace("part = 1, parts = 2", "part = 2, parts = 2"));
        assert!(
            e.contains("heads.b.0.part = 2") && e.contains("below parts = 2"),
            "{e}"
        );
        let e = err(SPEC.replace(r#"["fc", "pool"]"#, r#"["fc", "pool2"]"#));
        assert!(
            e.contains("stitch.stitch_after = `pool2`") && e.contains("conv, 1, pool, 3, fc"),
            "{e}"
        );
        let e = err(SPEC.replace(r#"["fc", "pool"]"#, r#"["fc", "fc"]"#));
        assert!(e.contains("listed twice"), "{e}");
        let e = err(SPEC.replace("tasks = 2", "tasks = 0"));
        assert!(e.contains("stitch.tasks = 0"), "{e}");
        let e = err(SPEC.replace("part = 1, parts = 2", "part = 1, parts = 3"));
        assert!(
            e.contains("`heads.b.0` (take)") && e.contains("divisible by parts = 3"),
            "{e}"
        );
    }
}
