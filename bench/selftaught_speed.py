"""FISTA codes/s and PCA fit time of tlkit beside scikit-learn, in one run, as ratios.

Usage (from the repository root; the sparse-coding basis is learned as bench/selftaught_ufldl.sh
learns it when the work folder does not hold it yet):
  cargo build --release -p tlkit-cli
  TLKIT_HOME=... python bench/selftaught_speed.py target/release/tlkit /tmp/selftaught-ufldl
The same dictionary (the sparse-coding basis learned on MNIST 5-9), the same alpha and the
same samples (MNIST test digits 0-4, 5139 of them) for both; PCA-200 on MNIST 5-9 (29404
samples) for both.
"""
import gzip, os, re, subprocess, sys, time

import numpy as np
from safetensors.numpy import load_file
from sklearn.decomposition import PCA, sparse_encode

tlkit, work = sys.argv[1], sys.argv[2]
home = os.environ["TLKIT_HOME"]


def idx(name):
    with gzip.open(f"{home}/datasets/mnist/{name}") as f:
        data = f.read()
    if data[3] == 3:
        return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 784) / 255.0
    return np.frombuffer(data, np.uint8, offset=8)


def run(args):
    out = subprocess.run([tlkit, *args], capture_output=True, text=True, check=True)
    return out.stdout + out.stderr


if not os.path.exists(f"{work}/sc200/basis.toml"):
    run(["features", "learn", "--method", "sparse-coding", "--data", "mnist", "--classes",
         "5,6,7,8,9", "--limit", "10000", "--atoms", "200", "--alpha", "0.2", "--iterations",
         "100", "--batch-size", "256", "--out", f"{work}/sc200"])
D = load_file(f"{work}/sc200/basis.safetensors")["atoms"].astype(np.float64)
alpha = float(re.search(r"^alpha = (.*)$", open(f"{work}/sc200/basis.toml").read(), re.M)[1])
xt, yt = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
x = xt[yt <= 4]
out = run(["features", "encode", "--basis", f"{work}/sc200", "--data", "mnist", "--classes",
           "0,1,2,3,4", "--split", "test", "--out", f"{work}/speed.npz"])
ours = float(re.search(r"([0-9.]+) samples/s", out)[1])
print(f"tlkit FISTA: {ours:.0f} codes/s ({len(x)} samples, {D.shape[0]} atoms, alpha {alpha})")
for algo in ["lasso_lars", "lasso_cd"]:
    t = time.perf_counter()
    sparse_encode(x, D, algorithm=algo, alpha=alpha, n_jobs=1)
    rate = len(x) / (time.perf_counter() - t)
    print(f"scikit-learn {algo}: {rate:.0f} codes/s; tlkit/scikit-learn = {ours / rate:.2f}")

xtr, ytr = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
x59 = xtr[ytr >= 5]
out = run(["features", "learn", "--method", "pca", "--data", "mnist", "--classes", "5,6,7,8,9",
           "--atoms", "200", "--out", f"{work}/speed-pca"])
m = re.search(r"\(([0-9.]+)s\)", out)
t = time.perf_counter()
PCA(n_components=200, svd_solver="covariance_eigh").fit(x59)
sk = time.perf_counter() - t
t = time.perf_counter()
PCA(n_components=200, svd_solver="full").fit(x59)
sk_full = time.perf_counter() - t
print(f"PCA-200 on {len(x59)}x784: tlkit learn (load + fit + write) {m[1]}s; scikit-learn "
      f"covariance_eigh {sk:.2f}s, full SVD {sk_full:.2f}s")
