"""Golden values for crates/tlkit/src/transferability/ (the tests in tests.rs there).

Each score is written here from the authors' formulas (the reference implementations of
LogME, LEEP, NCE, H-score, shrinkage H-score, TransRate and linear CKA), in NumPy, with
scikit-learn's Ledoit-Wolf for the shrinkage. Two inputs:

1. A small seeded set printed for pasting: 40 samples of 6 features in 4 classes, source
   softmax outputs over 5 classes, rounded to 4 decimals (the rounded values are what both
   sides use).
2. The embedded optdigits data (crates/tlkit/data/optdigits.tes.gz, 1797 × 64 pixels / 16),
   whole; every score is invariant to the order of the samples, so the Rust test may take
   them in its split's order.

Run: bench/.venv/bin/python scripts/golden/transferability.py
"""

import gzip
import pathlib

import numpy as np
from sklearn.covariance import LedoitWolf

ROOT = pathlib.Path(__file__).resolve().parents[2]


def logme_jmlr(f, y):
    """The authors' fast update (JMLR 2022), with their truncated SVD when n > D."""
    f = f.astype(np.float64)
    n, d = f.shape
    if n > d:
        vals, vecs = np.linalg.eigh(f.T @ f)
        order = np.argsort(vals)[::-1]
        s = np.sqrt(np.clip(vals[order], 0, None))
        vh = vecs[:, order].T
        rank = int(np.sum(s > 1e-10))
        s, vh = s[:rank], vh[:rank]
        u = (f @ vh.T) / s
    else:
        u, s, vh = np.linalg.svd(f, full_matrices=False)
    sigma = s**2
    out = []
    for k in range(int(y.max()) + 1):
        t_ = (y == k).astype(np.float64)
        x2 = (u.T @ t_) ** 2
        res_x2 = (t_**2).sum() - x2.sum()
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            t = alpha / beta
            gamma = (sigma / (sigma + t)).sum()
            m2 = (sigma * x2 / (t + sigma) ** 2).sum()
            res2 = (x2 / (1 + sigma / t) ** 2).sum() + res_x2
            alpha = gamma / (m2 + 1e-5)
            beta = (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        ev = (d / 2 * np.log(alpha) + n / 2 * np.log(beta)
              - 0.5 * np.sum(np.log(alpha + beta * sigma))
              - beta / 2 * res2 - alpha / 2 * m2 - n / 2 * np.log(2 * np.pi))
        out.append(ev / n)
    return float(np.mean(out))


def logme_icml(f, y):
    """The ICML 2021 algorithm: eigendecomposition of the D×D matrix FᵀF."""
    f = f.astype(np.float64)
    n, d = f.shape
    v, s, _ = np.linalg.svd(f.T @ f)
    out = []
    for k in range(int(y.max()) + 1):
        t_ = (y == k).astype(np.float64)
        tmp = v.T @ (f.T @ t_)
        alpha, beta, lam = 1.0, 1.0, 1.0
        for _ in range(11):
            gamma = (s / (s + lam)).sum()
            m = v @ (tmp * beta / (alpha + beta * s))
            a_de = (m * m).sum()
            alpha = gamma / (a_de + 1e-5)
            b_de = ((t_ - f @ m) ** 2).sum()
            beta = (n - gamma) / (b_de + 1e-5)
            new = alpha / beta
            if abs(new - lam) / lam < 0.01:
                break
            lam = new
        ev = (d / 2 * np.log(alpha) + n / 2 * np.log(beta)
              - 0.5 * np.sum(np.log(alpha + beta * s))
              - beta / 2 * (b_de + 1e-5) - alpha / 2 * (a_de + 1e-5)
              - n / 2 * np.log(2 * np.pi))
        out.append(ev / n)
    return float(np.mean(out))


def leep(p, y):
    n, _ = p.shape
    joint = np.stack([p[y == k].sum(0) / n for k in range(int(y.max()) + 1)])
    cond = (joint / joint.sum(0, keepdims=True)).T  # P(y | z), [Z, C]
    eep = p @ cond
    return float(np.mean(np.log(eep[np.arange(n), y])))


def nce(z, y):
    n = len(y)
    joint = np.zeros((int(y.max()) + 1, int(z.max()) + 1))
    for a, b in zip(y, z):
        joint[a, b] += 1 / n
    pz = joint.sum(0)
    keep = pz > 0
    cond = joint[:, keep] / pz[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.nansum(cond * np.log(cond), axis=0)
    return float(-(h * pz[keep]).sum())


def class_mean_rows(f, y):
    g = np.zeros_like(f)
    for k in range(int(y.max()) + 1):
        g[y == k] = f[y == k].mean(0)
    return g


def hscore(f, y):
    covf = np.cov(f, rowvar=False)
    covg = np.cov(class_mean_rows(f, y), rowvar=False)
    return float(np.trace(np.linalg.pinv(covf, rcond=1e-15) @ covg))


def hscore_shrunk(f, y):
    f = f - f.mean(0, keepdims=True)
    lw = LedoitWolf(assume_centered=False).fit(f)
    covg = np.cov(class_mean_rows(f, y), rowvar=False)
    return float(np.trace(np.linalg.pinv(lw.covariance_, rcond=1e-15) @ ((1 - lw.shrinkage_) * covg)))


def coding_rate(z, eps):
    n, d = z.shape
    return 0.5 * np.linalg.slogdet(np.eye(d) + z.T @ z / (n * eps))[1]


def transrate(f, y, eps=1e-4):
    z = f - f.mean(0, keepdims=True)
    k = int(y.max()) + 1
    return float(coding_rate(z, eps) - sum(coding_rate(z[y == c], eps) for c in range(k)) / k)


def linear_cka(x, y):
    x = x - x.mean(0)
    y = y - y.mean(0)
    return float(np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)))


def small():
    rng = np.random.default_rng(16)
    n, d, c, z = 40, 6, 4, 5
    y = np.repeat(np.arange(c), n // c)
    rng.shuffle(y)
    centres = rng.normal(0, 1, (c, d))
    f = np.round(centres[y] + rng.normal(0, 0.8, (n, d)), 4)
    logits = rng.normal(0, 1, (n, z)) + 1.5 * np.eye(z)[y % z]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p = np.round(p, 4)
    g = np.round(f @ rng.normal(0, 1, (d, 3)) + rng.normal(0, 0.5, (n, 3)), 4)
    return f, y, p, g


def optdigits():
    rows = np.loadtxt(gzip.open(ROOT / "crates/tlkit/data/optdigits.tes.gz"), delimiter=",")
    return rows[:, :64] / 16.0, rows[:, 64].astype(int)


def main():
    np.set_printoptions(precision=4, suppress=True, linewidth=100, threshold=100000)
    f, y, p, g = small()
    z = p.argmax(1)
    print("// features [40, 6]\n", ", ".join(f"{v:.4f}" for v in f.ravel()))
    print("// labels\n", ", ".join(str(v) for v in y))
    print("// source predictions [40, 5]\n", ", ".join(f"{v:.4f}" for v in p.ravel()))
    print("// second representation [40, 3]\n", ", ".join(f"{v:.4f}" for v in g.ravel()))
    print("small:")
    print(f"  logme        {logme_jmlr(f, y):.12e}")
    print(f"  logme_icml   {logme_icml(f, y):.12e}")
    print(f"  leep         {leep(p, y):.12e}")
    print(f"  nce          {nce(z, y):.12e}")
    print(f"  hscore       {hscore(f, y):.12e}")
    print(f"  hscore_shrunk {hscore_shrunk(f, y):.12e}")
    print(f"  transrate    {transrate(f, y):.12e}")
    print(f"  cka          {linear_cka(f, g):.12e}")
    # Wide features (n < D): the ICML form counts every zero direction of FᵀF.
    fw = np.concatenate([f[:12], np.sin(np.arange(12 * 20).reshape(12, 20) * 0.7)], 1)
    print(f"  logme_icml wide (first 12 rows, 6 + 20 columns sin(0.7 k), k = 20 i + j; labels mod 2) {logme_icml(fw, y[:12] % 2):.12e}")
    x, t = optdigits()
    print("optdigits (1797 x 64):")
    keep = x.std(0) > 0
    print(f"  non-constant columns {int(keep.sum())}")
    print(f"  logme (non-constant columns) {logme_jmlr(x[:, keep], t):.12e}")
    print(f"  logme_icml (all columns)     {logme_icml(x, t):.12e}")
    print(f"  hscore       {hscore(x, t):.12e}")
    print(f"  hscore_shrunk {hscore_shrunk(x, t):.12e}")
    print(f"  transrate    {transrate(x, t):.12e}")
    print(f"  cka(x, x**2) {linear_cka(x, x**2):.12e}")


if __name__ == "__main__":
    main()
