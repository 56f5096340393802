"""The UFLDL self-taught exercise's sparse autoencoder as the original trains it: the same
objective as tlkit's sparse autoencoder,

    J = 1/(2m) sum_i ||sigmoid(W2 sigmoid(W1 x_i + b1) + b2) - x_i||^2
        + lambda/2 (||W1||^2 + ||W2||^2) + beta sum_j KL(rho || rho_hat_j),

on all MNIST training digits 5-9 (full batch), 784 -> 200, rho = 0.1, lambda = 3e-3, beta = 3,
UFLDL's initialisation, minimised by 400 iterations of L-BFGS (PyTorch's, standing in for
minFunc: at most 1000 evaluations, history 100, a strong-Wolfe line search). Then softmax
regression (lambda = 1e-4 on the weights: scikit-learn's L-BFGS with C = 1/(lambda m)) on the
200 features of the training digits 0-4, first half to train, second half to test: the
exercise's protocol.

With --tlkit DIR it also evaluates J for a sparse autoencoder trained by
`tlkit features learn --method sparse-autoencoder --out DIR` (DIR/training/weights.safetensors),
so the two optimizers' end points are compared on the same full-batch objective.

Usage: TLKIT_HOME=... bench/.venv/bin/python bench/selftaught_ufldl_lbfgs.py [--iters 400]
       [--tlkit DIR]
"""

import argparse
import gzip
import os
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

RHO, BETA, LAMBDA, HIDDEN, SOFTMAX_LAMBDA = 0.1, 3.0, 3e-3, 200, 1e-4


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def objective(x, w1, b1, w2, b2):
    h = torch.sigmoid(x @ w1.T + b1)
    y = torch.sigmoid(h @ w2.T + b2)
    m = x.shape[0]
    rec = ((y - x) ** 2).sum() / (2 * m)
    decay = LAMBDA / 2 * ((w1**2).sum() + (w2**2).sum())
    rh = h.mean(0).clamp(1e-6, 1 - 1e-6)
    kl = BETA * (RHO * torch.log(RHO / rh) + (1 - RHO) * torch.log((1 - RHO) / (1 - rh))).sum()
    return rec + decay + kl, rec, ((y - x) ** 2).mean()


def softmax_accuracy(features, y, split):
    m = split
    clf = LogisticRegression(C=1.0 / (SOFTMAX_LAMBDA * m), max_iter=5000, tol=1e-8)
    clf.fit(features[:m], y[:m])
    return clf.score(features[m:], y[m:])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=400)
    ap.add_argument("--tlkit", help="a tlkit sparse-autoencoder folder to evaluate J for")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    home = os.environ.get("TLKIT_HOME", os.path.expanduser("~/.tlkit"))
    d = os.path.join(home, "datasets", "mnist")
    images = idx(os.path.join(d, "train-images-idx3-ubyte.gz")).reshape(-1, 784) / 255.0
    labels = idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    x = torch.tensor(images[labels >= 5], dtype=torch.float32)
    labeled = images[labels < 5].astype(np.float32)
    ly = labels[labels < 5]
    half = round(len(ly) / 2)
    print(f"unlabeled {len(x)}, labeled train {half}, test {len(ly) - half}", flush=True)

    if args.tlkit:
        from safetensors.numpy import load_file

        w = load_file(os.path.join(args.tlkit, "training", "weights.safetensors"))
        t = [torch.tensor(w[k]) for k in
             ["encoder.hidden.weight", "encoder.hidden.bias",
              "decoder.output.weight", "decoder.output.bias"]]
        with torch.no_grad():
            j, rec, mse = objective(x, *t)
        print(f"tlkit {args.tlkit}: J = {j.item():.4f} (reconstruction {rec.item():.4f}, "
              f"mse per value {mse.item():.5f})", flush=True)

    v = 784
    r = (6.0 / (HIDDEN + v + 1)) ** 0.5
    w1 = ((torch.rand(HIDDEN, v) * 2 - 1) * r).requires_grad_()
    w2 = ((torch.rand(v, HIDDEN) * 2 - 1) * r).requires_grad_()
    b1 = torch.zeros(HIDDEN, requires_grad=True)
    b2 = torch.zeros(v, requires_grad=True)
    opt = torch.optim.LBFGS([w1, b1, w2, b2], lr=1, max_iter=args.iters,
                            max_eval=int(args.iters * 2.5), history_size=100,
                            tolerance_grad=1e-9, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")
    evals = [0]
    start = time.time()

    def closure():
        opt.zero_grad()
        j, _, _ = objective(x, w1, b1, w2, b2)
        j.backward()
        evals[0] += 1
        if evals[0] % 25 == 0:
            print(f"  evaluation {evals[0]}: J = {j.item():.4f} ({time.time() - start:.0f} s)",
                  flush=True)
        return j

    opt.step(closure)
    secs = time.time() - start
    with torch.no_grad():
        j, rec, mse = objective(x, w1, b1, w2, b2)
        feats = torch.sigmoid(torch.tensor(labeled) @ w1.T + b1).numpy()
    iters = opt.state[opt._params[0]]["n_iter"]
    print(f"L-BFGS: {iters} iterations, {evals[0]} evaluations, {secs:.0f} s: J = {j.item():.4f} "
          f"(reconstruction {rec.item():.4f}, mse per value {mse.item():.5f}), "
          f"mean code {feats.mean():.4f}")
    acc = softmax_accuracy(feats, ly, half)
    print(f"softmax on the L-BFGS autoencoder's 200 features: test accuracy {100 * acc:.2f}%")


if __name__ == "__main__":
    main()
