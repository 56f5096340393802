#!/usr/bin/env python3
"""PyTorch side of the tlkit training benchmark.

Trains the same networks as tlkit's `examples/bench_train` on the CPU and prints one JSON line:
  {"framework": "pytorch", "model": "mlp", "batch": 128, "samples_per_s": ..., "steps": 200, ...}

- mlp:   784-256-256-10, ReLU, Adam lr 1e-3, cross-entropy (default batch 128).
- lenet: conv 1->20 k5, relu, maxpool 2, conv 20->50 k5, relu, maxpool 2, flatten 800,
         fc 500, relu, fc 10; SGD lr 0.01 momentum 0.9, cross-entropy (default batch 64).
- ganin: the network of examples/adapt-mnist-mnistm/ganin.toml on 3x28x28 inputs: conv 3->32 k5,
         relu, maxpool 2, conv 32->48 k5, relu, maxpool 2, flatten 768 ("features"), fc 100,
         relu, fc 100, relu, fc 10; SGD lr 0.01 momentum 0.9 (default batch 64).
- ganin-dann: the same with DANN: each step also carries `--batch` unlabeled target images
         through the network (one forward over source + target, as tlkit does), the features
         go through a gradient reversal layer into the domain classifier fc 768->100, relu,
         fc 100->1 (binary cross-entropy on all rows), task loss on the source rows.
         samples/s counts source samples, as tlkit's bench_train does.
- effnet112: EfficientNet-Lite0 (tlkit's `zoo::efficientnet_lite0`: stem conv 3x3/2 to 32, 16
         MBConv blocks without squeeze-excitation, ReLU6, BN eps 1e-3, TF "SAME" padding, head
         conv 1x1 to 1280, global average pool, dropout 0.2, fc 10) on 3x112x112 inputs, the
         size of the few-shot MNIST fine-tune; SGD lr 0.01 momentum 0.9, all layers trained
         (default batch 32). Random data only.

Timing: `--warmup` untimed steps, then `--steps` timed steps; samples/s = steps * batch / seconds.
The batches are slices of tensors built once before timing, so the loop measures forward,
backward and the optimizer step, not data loading. Peak RSS is measured outside this script
(bench/run.sh runs it under /usr/bin/time -v).

MNIST is read from the IDX .gz files with numpy (train-images-idx3-ubyte.gz and
train-labels-idx1-ubyte.gz in --mnist-dir), scaled to [0, 1].
"""

import argparse
import gzip
import json
import os
import resource
import sys
import time

import numpy as np
import torch
from torch import nn

IMPORT_RSS_MIB = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # KiB on Linux


def mlp() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, 10),
    )


def lenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 20, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(20, 50, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(800, 500),
        nn.ReLU(),
        nn.Linear(500, 10),
    )


def ganin() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 48, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(768, 100),
        nn.ReLU(),
        nn.Linear(100, 100),
        nn.ReLU(),
        nn.Linear(100, 10),
    )


class SameConv(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding (asymmetric for even totals)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(nn.functional.pad(x, pads))


class MBConv(nn.Module):
    """EfficientNet-Lite's inverted residual block (no squeeze-excitation, ReLU6)."""

    def __init__(self, cin: int, expand: int, k: int, stride: int, cout: int):
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [SameConv(cin, hidden, 1, bias=False), bn(hidden), nn.ReLU6()]
        layers += [SameConv(hidden, hidden, k, stride, groups=hidden, bias=False), bn(hidden)]
        layers += [nn.ReLU6(), SameConv(hidden, cout, 1, bias=False), bn(cout)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


def bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


def effnet_lite0(classes: int = 10, dropout: float = 0.2) -> nn.Module:
    stages = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3)]
    stages += [(6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
    layers: list[nn.Module] = [SameConv(3, 32, 3, 2, bias=False), bn(32), nn.ReLU6()]
    c = 32
    for expand, k, stride, out, repeats in stages:
        for r in range(repeats):
            layers.append(MBConv(c, expand, k, stride if r == 0 else 1, out))
            c = out
    layers += [SameConv(c, 1280, 1, bias=False), bn(1280), nn.ReLU6()]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(1280, classes)]
    return nn.Sequential(*layers)


class ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.coeff * grad, None


def optimizer(name: str, params):
    if name == "mlp":
        return torch.optim.Adam(params, lr=1e-3)
    return torch.optim.SGD(params, lr=0.01, momentum=0.9)


def read_idx_gz(path: str) -> np.ndarray:
    """Reads an IDX file (big-endian header: magic with dtype code and rank, then dims)."""
    if not os.path.isfile(path):
        sys.exit(f"{path}: not found (give the folder with the MNIST IDX .gz files as --mnist-dir)")
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        sys.exit(f"{path}: not an IDX file (bad magic)")
    if raw[2] != 0x08:
        sys.exit(f"{path}: IDX dtype code {raw[2]:#x}, expected 0x08 (unsigned byte)")
    rank = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank)]
    offset = 4 + 4 * rank
    data = np.frombuffer(raw, dtype=np.uint8, offset=offset)
    if data.size != int(np.prod(dims)):
        sys.exit(f"{path}: header says {dims} ({int(np.prod(dims))} bytes), file has {data.size}")
    return data.reshape(dims)


def dataset(args) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns (images [N, C, H, W] float32, labels [N] int64)."""
    if args.data == "mnist":
        images = read_idx_gz(os.path.join(args.mnist_dir, "train-images-idx3-ubyte.gz"))
        labels = read_idx_gz(os.path.join(args.mnist_dir, "train-labels-idx1-ubyte.gz"))
        if len(images) != len(labels):
            sys.exit(f"{args.mnist_dir}: {len(images)} images but {len(labels)} labels")
        x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
        y = torch.from_numpy(labels.astype(np.int64))
    else:
        # Enough distinct batches that the loop does not reuse one batch in cache, few enough
        # that building them costs nothing next to training.
        n = args.batch * (4 if args.model == "effnet112" else 32)
        g = torch.Generator().manual_seed(args.seed)
        channels = 1 if args.model in ("mlp", "lenet") else 3
        size = 112 if args.model == "effnet112" else 28
        x = torch.rand(n, channels, size, size, generator=g)
        y = torch.randint(0, 10, (n,), generator=g)
    if len(x) < args.batch:
        sys.exit(f"dataset has {len(x)} samples, fewer than one batch of {args.batch}")
    return x.contiguous(), y.contiguous()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--model", choices=["mlp", "lenet", "ganin", "ganin-dann", "effnet112"], required=True
    )
    p.add_argument("--batch", type=int, default=None, help="default: 128 for mlp, 64 for lenet")
    p.add_argument("--steps", type=int, default=200, help="timed steps")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps before timing")
    p.add_argument("--data", choices=["random", "mnist"], default="random")
    p.add_argument("--mnist-dir", default="data/mnist", help="folder with the IDX .gz files")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--device",
        default="cpu",
        help="cpu (default) or cuda / cuda:N (bench/gpu.sh); the clock reads after a synchronize",
    )
    args = p.parse_args()
    if args.model.startswith(("ganin", "effnet")) and args.data != "random":
        sys.exit("--model ganin, ganin-dann and effnet112 run on random 3-channel data only")
    if args.batch is None:
        args.batch = {"mlp": 128, "effnet112": 32}.get(args.model, 64)
    if args.batch < 1 or args.steps < 1 or args.warmup < 0:
        sys.exit("--batch and --steps must be >= 1, --warmup >= 0")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit(f"--device {args.device}: PyTorch sees no CUDA GPU (torch {torch.__version__})")
    x, y = dataset(args)
    model = {"mlp": mlp, "lenet": lenet, "effnet112": effnet_lite0}.get(args.model, ganin)()
    dann = args.model == "ganin-dann"
    domain = nn.Sequential(nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 1))
    x, y, model, domain = x.to(device), y.to(device), model.to(device), domain.to(device)
    params = list(model.parameters()) + (list(domain.parameters()) if dann else [])
    opt = optimizer(args.model, params)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    target = torch.rand(x.shape, generator=torch.Generator().manual_seed(args.seed + 1)).to(device)
    features = model[:7]  # conv stack + flatten: the 768-d "features"
    head = model[7:]

    batches = len(x) // args.batch  # drop the last partial batch, as tlkit's loader does

    def step(i: int) -> torch.Tensor:
        j = (i % batches) * args.batch
        xb, yb = x[j : j + args.batch], y[j : j + args.batch]
        opt.zero_grad(set_to_none=True)
        if dann:
            both = torch.cat([xb, target[j : j + args.batch]])
            f = features(both)
            logits = head(f)
            d = domain(ReverseGradient.apply(f, 1.0)).squeeze(1)
            labels = torch.cat([torch.zeros(len(xb)), torch.ones(len(xb))]).to(device)
            loss = loss_fn(logits[: len(xb)], yb) + nn.functional.binary_cross_entropy_with_logits(
                d, labels
            )
        else:
            loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for i in range(args.warmup):
        step(i)
    sync()
    start = time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        loss = step(i)
    sync()
    seconds = time.perf_counter() - start

    print(
        json.dumps(
            {
                "framework": "pytorch",
                "model": args.model,
                "batch": args.batch,
                "samples_per_s": round(args.steps * args.batch / seconds, 1),
                "steps": args.steps,
                "warmup": args.warmup,
                "threads": torch.get_num_threads(),
                "data": args.data,
                "device": str(device),
                "seconds": round(seconds, 4),
                "final_loss": round(float(loss.item()), 4),
                "version": torch.__version__,
                # Peak RSS right after `import torch`, before any data or model: the share of
                # the whole-process peak that is the library itself.
                "import_rss_mib": IMPORT_RSS_MIB,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
