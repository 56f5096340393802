#!/usr/bin/env python3
"""A PyTorch module built from a tlkit network spec, so that tlkit's exported weights load into
PyTorch with `load_state_dict(strict=True)` and give the same outputs.

The spec is the resolved one tlkit writes (`model.toml` in a run folder, or
`tlkit inspect MODEL --print-spec` as JSON). Parameter paths follow tlkit's naming, which is
PyTorch's: children of a container are named by `name` or by index; a residual block's body
sits under `<block>.body` (or directly under the block when `inline`), its shortcut under
`<block>.shortcut` and the layers after the sum under `<block>.post`.

Commands:
  pretrained  build EfficientNet-Lite0 from `tlkit inspect efficientnet-lite0 --print-spec`, load
              the original PyTorch checkpoint and print the top-5 ImageNet classes of a photo
              (checks the builder against the package's own weights and the published forward).
  compare     load a tlkit run folder (model.toml + weights.safetensors) and compare the
              module's outputs with the logits `tlkit eval RUN --save-logits F.npz` wrote,
              on the MNIST test images read with numpy.
  bench       training throughput of the module built from a spec (random inputs), as
              bench/pytorch_train.py prints it.
"""

import argparse
import gzip
import json
import math
import sys
import time
import tomllib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow's "SAME" padding: total pad max((ceil(H/s)-1)*s + (k-1)*d + 1 - H, 0),
    the odd pixel at the bottom/right."""

    def forward(self, x):
        pads = []
        for dim in (3, 2):  # F.pad takes the last dimension first
            size, k, s, d = x.shape[dim], self.kernel_size[dim - 2], self.stride[dim - 2], self.dilation[dim - 2]
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class BatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over channels for [N, C] and [N, C, H, W] inputs alike."""

    def _check_input_dim(self, x):
        if x.dim() not in (2, 4):
            raise ValueError(f"batch_norm expects [N, C] or [N, C, H, W], got {tuple(x.shape)}")


class Residual(nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.inline = bool(layer.get("inline", False))
        body = sequential(layer["body"])
        if self.inline:
            self.body_names = list(body._modules)
            for name, m in body._modules.items():
                self.add_module(name, m)
        else:
            self.body = body
        self.shortcut = sequential(layer.get("shortcut", []))
        self.post = sequential(layer.get("post", []))

    def forward(self, x):
        if self.inline:
            b = x
            for name in self.body_names:
                b = self._modules[name](b)
        else:
            b = self.body(x)
        return self.post(b + self.shortcut(x))


def sequential(nodes) -> nn.Sequential:
    return nn.Sequential(OrderedDict((n.get("name") or str(i), module(n)) for i, n in enumerate(nodes)))


def module(n) -> nn.Module:
    t = n["type"]
    if t == "linear":
        return nn.Linear(n["in_features"], n["out_features"], bias=n.get("bias", True))
    if t == "conv2d":
        pad = n.get("padding", 0)
        args = dict(stride=n.get("stride", 1), dilation=n.get("dilation", 1), groups=n.get("groups", 1), bias=n.get("bias", True))
        if pad == "same":
            return SameConv2d(n["in_channels"], n["out_channels"], n["kernel_size"], **args)
        return nn.Conv2d(n["in_channels"], n["out_channels"], n["kernel_size"], padding=0 if pad == "valid" else pad, **args)
    if t == "batch_norm":
        return BatchNorm(n["num_features"], eps=n.get("eps", 1e-5), momentum=n.get("momentum", 0.1))
    if t == "max_pool2d":
        return nn.MaxPool2d(n["kernel_size"], n.get("stride") or n["kernel_size"], n.get("padding", 0))
    if t == "avg_pool2d":
        return nn.AvgPool2d(n["kernel_size"], n.get("stride") or n["kernel_size"], n.get("padding", 0))
    if t == "adaptive_avg_pool2d":
        return nn.AdaptiveAvgPool2d(tuple(n["output_size"]))
    if t == "leaky_relu":
        return nn.LeakyReLU(n.get("negative_slope", 0.01))
    if t == "dropout":
        return nn.Dropout(n["p"])
    if t == "sequential":
        return sequential(n["layers"])
    if t == "residual":
        return Residual(n)
    simple = {"relu": nn.ReLU, "relu6": nn.ReLU6, "gelu": nn.GELU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
              "flatten": nn.Flatten, "identity": nn.Identity}
    if t in simple:
        return simple[t]()
    raise ValueError(f"layer type `{t}` has no PyTorch counterpart here")


def load_spec(path: Path) -> dict:
    text = path.read_text()
    return json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)


def build(spec: dict) -> nn.Module:
    return sequential(spec["layers"])


def load_safetensors(path: Path) -> dict:
    from safetensors.torch import load_file
    return load_file(str(path))


def idx_images(path: Path) -> np.ndarray:
    data = gzip.open(path).read()
    n, h, w = np.frombuffer(data, ">i4", 3, 4)
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, h, w).astype(np.float32) / 255.0


def cmd_pretrained(a):
    from PIL import Image
    net = build(load_spec(a.spec)).eval()
    state = torch.load(a.weights, map_location="cpu", weights_only=False)
    net.load_state_dict(state, strict=True)
    img = Image.open(a.image).convert("RGB")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((224, 224), Image.BICUBIC)
    x = (torch.tensor(np.asarray(img), dtype=torch.float32).permute(2, 0, 1)[None] - 127.0) / 128.0
    with torch.no_grad():
        p = net(x).softmax(1)[0]
    top = p.topk(5)
    print(json.dumps({"strict_load": True, "params": sum(t.numel() for t in net.parameters()),
                      "top5": [[int(i), round(float(v), 4)] for v, i in zip(top.values, top.indices)]}))


def cmd_compare(a):
    run = Path(a.run)
    net = build(load_spec(run / "model.toml")).eval()
    state = load_safetensors(run / "weights.safetensors")
    missing, unexpected = net.load_state_dict(state, strict=True)
    ref = np.load(a.logits)
    x = torch.from_numpy(idx_images(Path(a.images)))
    with torch.no_grad():
        out = torch.cat([net(x[i:i + 500]) for i in range(0, len(x), 500)]).numpy()
    tl, labels = ref["logits"], ref["labels"]
    if out.shape != tl.shape:
        sys.exit(f"shape mismatch: PyTorch {out.shape}, tlkit {tl.shape}")
    print(json.dumps({
        "samples": int(len(out)),
        "max_abs_logit_diff": float(np.abs(out - tl).max()),
        "same_argmax": int((out.argmax(1) == tl.argmax(1)).sum()),
        "pytorch_accuracy": float((out.argmax(1) == labels).mean()),
        "tlkit_accuracy": float((tl.argmax(1) == labels).mean()),
    }))


def cmd_bench(a):
    torch.manual_seed(0)
    spec = load_spec(a.spec)
    net = build(spec).train()
    if a.input_size:
        spec["input_shape"][1:] = [a.input_size, a.input_size]
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9)
    x = torch.rand(a.batch, *spec["input_shape"])
    y = torch.randint(0, 10, (a.batch,))
    for i in range(a.warmup + a.steps):
        if i == a.warmup:
            start = time.perf_counter()
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    secs = time.perf_counter() - start
    print(json.dumps({"framework": "pytorch", "model": a.name, "batch": a.batch, "steps": a.steps,
                      "threads": torch.get_num_threads(), "samples_per_s": round(a.steps * a.batch / secs, 1),
                      "seconds": round(secs, 3), "final_loss": round(float(loss), 4)}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("pretrained")
    q.add_argument("--spec", type=Path, required=True)
    q.add_argument("--weights", type=Path, required=True)
    q.add_argument("--image", type=Path, required=True)
    q = sub.add_parser("compare")
    q.add_argument("--run", required=True)
    q.add_argument("--logits", required=True)
    q.add_argument("--images", required=True, help="MNIST t10k-images-idx3-ubyte.gz")
    q = sub.add_parser("bench")
    q.add_argument("--spec", type=Path, required=True)
    q.add_argument("--name", default="spec")
    q.add_argument("--input-size", type=int)
    q.add_argument("--batch", type=int, default=32)
    q.add_argument("--steps", type=int, default=20)
    q.add_argument("--warmup", type=int, default=3)
    q.add_argument("--lr", type=float, default=0.01)
    q.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    if getattr(a, "threads", None):
        torch.set_num_threads(a.threads)
    {"pretrained": cmd_pretrained, "compare": cmd_compare, "bench": cmd_bench}[a.cmd](a)


if __name__ == "__main__":
    main()
