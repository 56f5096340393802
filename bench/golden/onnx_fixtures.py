#!/usr/bin/env python3
"""ONNX fixtures for tlkit's ONNX import (`crates/tlkit/src/weights/onnx.rs`).

Writes three small models exported by PyTorch's TorchScript exporter (`dynamo=False`) and prints
the outputs each gives for a fixed input, which the Rust tests paste as golden values:

  cnn.onnx  conv + batch norm + ReLU stem, two residual blocks (identity and 1x1-conv
            shortcuts, ReLU6 in one body), a TF-"SAME" strided conv (exported as Pad + Conv),
            LeakyReLU, max pooling, global average pooling, flatten, dropout (which the exporter
            drops in eval mode), linear head
  digits.onnx  a small conv net on [1, 8, 8] inputs with a `head` (what `tlkit finetune` with
            `pretrained = { weights = "digits.onnx" }` replaces), for the CLI test
  mlp.onnx  linear / tanh / GELU / sigmoid / leaky ReLU stack on a flat input (opset 20, so
            GELU is one node), its last linear a MatMul + Add pair

All export in `TrainingMode.PRESERVE` from eval mode, so batch norm stays a node of its own
instead of being folded into the convolution, and the initializers keep PyTorch's names.

The fixed input is x[i] = sin(0.37 * i) over the flattened [1, ...input_shape] tensor, which
the tests rebuild without a data file. The exporter needs the `onnx` package
(`bench/.venv/bin/pip install onnx`; made with torch 2.15, onnx 1.23.2).

    bench/.venv/bin/python bench/golden/onnx_fixtures.py crates/tlkit/tests/fixtures

With `--efficientnet OUT.onnx SPEC.json WEIGHTS.pth` it also exports the real ImageNet
EfficientNet-Lite0 built by bench/tlkit_torch.py from `tlkit inspect efficientnet-lite0 --print-spec`
and the original checkpoint (19.3 MB, not committed; the ignored Rust test reads it from
$TLKIT_ONNX_EFFICIENTNET or ~/.cache/tlkit/onnx/efficientnet-lite0.onnx):

    target/debug/tlkit inspect efficientnet-lite0 --print-spec > /tmp/effnet.json
    bench/.venv/bin/python bench/golden/onnx_fixtures.py /tmp/unused \
        --efficientnet ~/.cache/tlkit/onnx/efficientnet-lite0.onnx /tmp/effnet.json \
        ~/.cache/tlkit/weights/efficientnet-lite0/efficientnet-lite0-57934424.pth
"""

import argparse
import math
import sys
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding, the odd pixel at the bottom/right."""

    def forward(self, x):
        pads = []
        for dim in (3, 2):
            size, k, s = x.shape[dim], self.kernel_size[dim - 2], self.stride[dim - 2]
            total = max((math.ceil(size / s) - 1) * s + (k - 1) + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)


class Block(nn.Module):
    """A ResNet basic block; the skip is added inside forward, so the body names sit directly
    under the block (tlkit's `inline` residual) and the projection under `shortcut`."""

    def __init__(self, cin, cout, stride, act):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act = act
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(self.act(self.bn1(self.conv1(x))))) + self.shortcut(x))


def cnn():
    return nn.Sequential(OrderedDict(
        stem=nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU()),
        layer1=Block(8, 8, 1, nn.ReLU()),
        layer2=Block(8, 16, 2, nn.ReLU6()),
        same=SameConv2d(16, 16, 3, stride=2),
        act=nn.LeakyReLU(0.2),
        pool=nn.MaxPool2d(2, 1),
        gap=nn.AdaptiveAvgPool2d(1),
        flat=nn.Flatten(),
        drop=nn.Dropout(0.25),
        head=nn.Linear(16, 10),
    )), (3, 12, 12)


def digits():
    return nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(8, 16, 3, padding=1), nn.ReLU()),
        gap=nn.AdaptiveAvgPool2d(1),
        flat=nn.Flatten(),
        head=nn.Linear(16, 10),
    )), (1, 8, 8)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(20, 32)
        self.fc2 = nn.Linear(32, 24)
        self.fc3 = nn.Linear(24, 16)
        self.out = nn.Parameter(torch.randn(16, 5) * 0.3)
        self.out_bias = nn.Parameter(torch.randn(5) * 0.1)

    def forward(self, x):
        x = torch.tanh(self.fc1(x))
        x = F.gelu(self.fc2(x))
        x = F.leaky_relu(self.fc3(x), 0.1)
        return torch.sigmoid(x @ self.out + self.out_bias)


def randomise_bn(net):
    """Non-trivial running statistics, so that batch norm is checked and not the identity."""
    g = torch.Generator().manual_seed(1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def fixed_input(shape):
    n = math.prod(shape)
    return torch.sin(0.37 * torch.arange(n, dtype=torch.float32)).reshape(1, *shape)


def export(net, shape, path, opset):
    net.eval()
    x = fixed_input(shape)
    torch.onnx.export(net, (x,), str(path), input_names=["input"], output_names=["logits"],
                      opset_version=opset, dynamo=False, do_constant_folding=True,
                      training=torch.onnx.TrainingMode.PRESERVE)
    with torch.no_grad():
        y = net(x)[0]
    print(f"{path.name}: {path.stat().st_size} bytes, output for sin(0.37 i):")
    values = y.tolist()
    if len(values) > 20:
        top = y.softmax(0).topk(5)
        print("top-5 (index, probability):", [(int(i), round(float(p), 4)) for p, i in zip(top.values, top.indices)])
    else:
        print("[" + ", ".join(f"{v:.6f}" for v in values) + "]")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--efficientnet", nargs=3, metavar=("OUT", "SPEC", "PTH"))
    a = ap.parse_args()
    if a.efficientnet:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        import tlkit_torch
        out, spec, pth = map(Path, a.efficientnet)
        net = tlkit_torch.build(tlkit_torch.load_spec(spec)).eval()
        net.load_state_dict(torch.load(pth, map_location="cpu", weights_only=False), strict=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        export(net, (3, 224, 224), out, 13)
        return
    a.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net, shape = cnn()
    randomise_bn(net)
    export(net, shape, a.out / "cnn.onnx", 17)
    torch.manual_seed(0)
    net, shape = digits()
    export(net, shape, a.out / "digits.onnx", 17)
    torch.manual_seed(0)
    export(Mlp(), (20,), a.out / "mlp.onnx", 20)


if __name__ == "__main__":
    main()
