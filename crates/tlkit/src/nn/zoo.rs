//! Built-in architectures, written as specs so that they print, edit and serialize like any
//! user-written network.
//!
//! Every built-in splits into `backbone` (features), an optional `bottleneck`, and `head`
//! (the classifier), the layout Transfer-Learning-Library uses, so that surgery and
//! adaptation methods find the same names on every built-in.

use super::spec::{LayerSpec, NetworkSpec, Node, Padding};

fn linear(out: usize) -> LayerSpec {
    LayerSpec::Linear {
        in_features: None,
        out_features: out,
        bias: true,
    }
}

fn conv(out: usize, k: usize, stride: usize, padding: usize, bias: bool) -> LayerSpec {
    LayerSpec::Conv2d {
        in_channels: None,
        out_channels: out,
        kernel_size: k,
        stride,
        padding: Padding::Size(padding),
        dilation: 1,
        groups: 1,
        bias,
    }
}

fn bn() -> LayerSpec {
    LayerSpec::BatchNorm {
        num_features: None,
        eps: 1e-5,
        momentum: 0.1,
    }
}

fn seq(layers: Vec<LayerSpec>) -> LayerSpec {
    LayerSpec::Sequential {
        layers: layers.into_iter().map(Node::anon).collect(),
    }
}

/// A multi-layer perceptron: `backbone` = flatten + (linear, relu[, dropout]) per hidden width,
/// `head` = linear to `classes`.
pub fn mlp(input_shape: &[usize], hidden: &[usize], classes: usize, dropout: f64) -> NetworkSpec {
    let mut backbone = vec![];
    if input_shape.len() != 1 {
        backbone.push(LayerSpec::Flatten);
    }
    for &h in hidden {
        backbone.push(linear(h));
        backbone.push(LayerSpec::Relu);
        if dropout > 0.0 {
            backbone.push(LayerSpec::Dropout { p: dropout });
        }
    }
    NetworkSpec {
        input_shape: input_shape.to_vec(),
        layers: vec![
            Node::named("backbone", seq(backbone)),
            Node::named("head", linear(classes)),
        ],
    }
}

/// LeNet as in Transfer-Learning-Library's digits experiments:
/// conv 20@5 → pool → relu → conv 50@5 → dropout → pool → relu → flatten (`backbone`),
/// fc 500 → relu → dropout (`bottleneck`), fc `classes` (`head`).
///
/// TLlib uses `Dropout2d` (whole channels) after the second convolution; this uses element-wise
/// dropout there.
pub fn lenet(channels: usize, size: usize, classes: usize, dropout: f64) -> NetworkSpec {
    let pool = || LayerSpec::MaxPool2d {
        kernel_size: 2,
        stride: None,
        padding: 0,
    };
    NetworkSpec {
        input_shape: vec![channels, size, size],
        layers: vec![
            Node::named(
                "backbone",
                seq(vec![
                    conv(20, 5, 1, 0, true),
                    pool(),
                    LayerSpec::Relu,
                    conv(50, 5, 1, 0, true),
                    LayerSpec::Dropout { p: dropout },
                    pool(),
                    LayerSpec::Relu,
                    LayerSpec::Flatten,
                ]),
            ),
            Node::named(
                "bottleneck",
                seq(vec![
                    linear(500),
                    LayerSpec::Relu,
                    LayerSpec::Dropout { p: dropout },
                ]),
            ),
            Node::named("head", linear(classes)),
        ],
    }
}

/// A small ResNet (He et al. 2016, basic blocks): 3×3 stem, one stage per width with `blocks`
/// residual blocks each (stride 2 at the start of every stage but the first), global average
/// pooling, linear head.
pub fn resnet(
    input_shape: &[usize],
    widths: &[usize],
    blocks: usize,
    classes: usize,
) -> NetworkSpec {
    let stem = seq(vec![conv(widths[0], 3, 1, 1, false), bn(), LayerSpec::Relu]);
    let mut backbone = vec![Node::named("stem", stem)];
    let mut channels = widths[0];
    for (s, &w) in widths.iter().enumerate() {
        let mut stage = vec![];
        for b in 0..blocks.max(1) {
            let stride = if s > 0 && b == 0 { 2 } else { 1 };
            let shortcut = if stride != 1 || channels != w {
                vec![Node::anon(conv(w, 1, stride, 0, false)), Node::anon(bn())]
            } else {
                vec![]
            };
            stage.push(Node::anon(LayerSpec::Residual {
                body: vec![
                    Node::anon(conv(w, 3, stride, 1, false)),
                    Node::anon(bn()),
                    Node::anon(LayerSpec::Relu),
                    Node::anon(conv(w, 3, 1, 1, false)),
                    Node::anon(bn()),
                ],
                shortcut,
                post: vec![Node::anon(LayerSpec::Relu)],
            }));
            channels = w;
        }
        backbone.push(Node::named(
            format!("layer{}", s + 1),
            LayerSpec::Sequential { layers: stage },
        ));
    }
    backbone.push(Node::named(
        "pool",
        LayerSpec::AdaptiveAvgPool2d {
            output_size: [1, 1],
        },
    ));
    backbone.push(Node::named("flatten", LayerSpec::Flatten));
    NetworkSpec {
        input_shape: input_shape.to_vec(),
        layers: vec![
            Node::named("backbone", LayerSpec::Sequential { layers: backbone }),
            Node::named("head", linear(classes)),
        ],
    }
}
