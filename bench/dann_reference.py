#!/usr/bin/env python3
"""A PyTorch reference for `tlkit adapt examples/adapt-mnist-mnistm/ganin.toml`: source-only,
DANN and CDAN with the same protocol, on exactly the same images, to tell whether a result comes from
tlkit's implementation or from the data.

    tlkit adapt examples/adapt-mnist-mnistm/ganin.toml --export-data /tmp/ganin-data
    bench/.venv/bin/python bench/dann_reference.py --data /tmp/ganin-data --method dann --seed 0

Protocol (as ganin.toml): each domain minus its own per-channel training mean; the network
conv 3->32 k5, relu, maxpool 2, conv 32->48 k5, relu, maxpool 2, flatten (768-d features),
fc 100, relu, fc 100, relu, fc 10 (PyTorch's default initialisation); SGD momentum 0.9, no
weight decay, lr 0.01 * (1 + 10p)^-0.75 with p = iteration / total iterations; batches of 64
source images (reshuffled each epoch, last partial batch dropped) and, for DANN, 64 target
images (a reshuffled pass over the target set after another) through one forward pass; DANN's
domain classifier fc 768->100, relu, fc 100->1 behind a gradient reversal layer with
coefficient 2 / (1 + exp(-10p)) - 1, binary cross-entropy over all rows, added to the source
cross-entropy. `--method cdan` feeds the discriminator of ganin.toml's `[cdan]` instead (fc
7680->500, relu, dropout 0.5, fc 500->500, relu, dropout 0.5, fc 500->1) with the multilinear
map of the features and the detached softmax of every row's prediction (row i: f_i outer g_i,
flattened), behind the same reversal layer (`--condition labels`, a diagnostic: the one-hot
true labels of both domains instead of the softmax). `--method oracle` trains the same network on the target's labelled training
images instead of the source's (the ceiling). `--input-norm instance` standardises every
image on its own instead (each channel minus its mean, over its standard deviation + 1e-5; tlkit's
`normalize = "instance"`); `--target-entropy W` adds W times the mean entropy of the target
predictions to DANN's or CDAN's loss (entropy minimisation, a screen). Prints one JSON line: target and source test
accuracy after each epoch and at the end, and the training seconds; `--predictions FILE` also
saves the target test predictions (`pred`, `y`) for `bench/mnistm_breakdown.py`.
"""

import argparse
import json
import math
import time

import numpy as np
import torch
from pytorch_train import ReverseGradient, ganin  # the same network and layer as the speed bench
from torch import nn


def load(folder: str, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    d = np.load(f"{folder}/{name}.npz")
    return torch.from_numpy(d["x"]).float(), torch.from_numpy(d["y"].astype(np.int64))


def instance_norm(x: torch.Tensor) -> torch.Tensor:
    """Each image minus its own per-channel mean, over its own per-channel std."""
    mean, std = x.mean((2, 3), keepdim=True), x.std((2, 3), unbiased=False, keepdim=True)
    return (x - mean) / (std + 1e-5)


def network() -> tuple[nn.Module, nn.Module]:
    """(feature extractor up to the 768-d flattened features, classifier head)."""
    net = ganin()
    return net[:7], net[7:]


@torch.no_grad()
def accuracy(features: nn.Module, head: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    correct = 0
    for i in range(0, len(x), 512):
        correct += (head(features(x[i : i + 512])).argmax(1) == y[i : i + 512]).sum().item()
    return correct / len(x)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", required=True, help="folder written by `tlkit adapt --export-data`")
    p.add_argument("--method", choices=["source_only", "dann", "cdan", "oracle"], required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--predictions", help="save the target test predictions here (.npz)")
    p.add_argument(
        "--condition",
        choices=["predictions", "labels"],
        default="predictions",
        help="cdan: condition on the softmax (CDAN) or, as a diagnostic, on the one-hot true labels "
        "of both domains (uses the target's training labels: not an adaptation method)",
    )
    p.add_argument(
        "--input-norm",
        choices=["domain_mean", "instance"],
        default="domain_mean",
        help="domain_mean: each domain minus its per-channel training mean (ganin.toml); "
        "instance: every image minus its own per-channel mean, over its own per-channel std",
    )
    p.add_argument(
        "--target-entropy",
        type=float,
        default=0.0,
        help="dann/cdan: add this weight times the mean entropy of the target predictions",
    )
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)

    xs, ys = load(args.data, "source_train")
    xst, yst = load(args.data, "source_test")
    xt, yt = load(args.data, "target_train")  # its labels are used by the oracle only
    xtt, ytt = load(args.data, "target_test")
    if args.input_norm == "instance":
        xs, xst, xt, xtt = (instance_norm(x) for x in (xs, xst, xt, xtt))
    else:  # each domain minus its own per-channel training mean
        ms, mt = xs.mean((0, 2, 3), keepdim=True), xt.mean((0, 2, 3), keepdim=True)
        xs, xst, xt, xtt = xs - ms, xst - ms, xt - mt, xtt - mt
    if args.method == "oracle":
        xs, ys = xt, yt

    features, head = network()
    if args.method == "cdan":
        domain = nn.Sequential(
            nn.Linear(768 * 10, 500), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(500, 500), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(500, 1),
        )  # fmt: skip
    else:
        domain = nn.Sequential(nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 1))
    dann = args.method in ("dann", "cdan")
    params = list(features.parameters()) + list(head.parameters())
    if dann:
        params += list(domain.parameters())
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    per_epoch = len(xs) // args.batch
    total = per_epoch * args.epochs
    target_order, target_pos = torch.randperm(len(xt), generator=g), 0

    curve, source_curve, it, seconds = [], [], 0, 0.0
    for _ in range(args.epochs):
        start = time.perf_counter()
        features.train(), head.train(), domain.train()
        order = torch.randperm(len(xs), generator=g)
        for b in range(per_epoch):
            progress = it / total
            for group in opt.param_groups:
                group["lr"] = 0.01 * (1 + 10 * progress) ** -0.75
            idx = order[b * args.batch : (b + 1) * args.batch]
            xb, yb = xs[idx], ys[idx]
            if dann:
                if target_pos + args.batch > len(xt):
                    target_order, target_pos = torch.randperm(len(xt), generator=g), 0
                tidx = target_order[target_pos : target_pos + args.batch]
                tb = xt[tidx]
                target_pos += args.batch
                f = features(torch.cat([xb, tb]))
                logits = head(f)
                loss = nn.functional.cross_entropy(logits[: len(xb)], yb)
                coeff = 2 / (1 + math.exp(-10 * progress)) - 1
                if args.method == "cdan":
                    if args.condition == "labels":
                        g_ = nn.functional.one_hot(torch.cat([yb, yt[tidx]]), 10).float()
                    else:
                        g_ = torch.softmax(logits, 1).detach()
                    f = torch.einsum("nd,nc->ndc", f, g_).reshape(len(f), -1)
                d = domain(ReverseGradient.apply(f, coeff)).squeeze(1)
                labels = torch.cat([torch.zeros(len(xb)), torch.ones(len(tb))])
                loss = loss + nn.functional.binary_cross_entropy_with_logits(d, labels)
                if args.target_entropy > 0:
                    pt = torch.softmax(logits[len(xb) :], 1)
                    entropy = -(pt * torch.log(pt + 1e-8)).sum(1).mean()
                    loss = loss + args.target_entropy * entropy
            else:
                loss = nn.functional.cross_entropy(head(features(xb)), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            it += 1
        seconds += time.perf_counter() - start
        features.eval(), head.eval()
        curve.append(accuracy(features, head, xtt, ytt))
        source_curve.append(accuracy(features, head, xst, yst))

    name = args.method
    if args.input_norm == "instance":
        name += "+instance-norm"
    if args.target_entropy > 0:
        name += f"+target-entropy-{args.target_entropy:g}"
    if args.method == "cdan" and args.condition == "labels":
        name = "cdan-conditioned-on-labels"
    if args.predictions:
        with torch.no_grad():
            pred = [head(features(xtt[i : i + 512])).argmax(1) for i in range(0, len(xtt), 512)]
        np.savez(args.predictions, pred=torch.cat(pred).numpy(), y=ytt.numpy())
    print(
        json.dumps(
            {
                "framework": "pytorch",
                "method": name,
                "seed": args.seed,
                "iterations": total,
                "target_accuracy": curve[-1],
                "source_accuracy": source_curve[-1],
                "target_curve": [round(a, 4) for a in curve],
                "training_seconds": round(seconds, 1),
                "threads": torch.get_num_threads(),
                "version": torch.__version__,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
