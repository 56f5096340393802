"""The GradNorm toy in PyTorch beside tlkit (issue #14): the same network (trunk of four
100-unit ReLU layers, one linear 100-output head per task), MSE per task, batch 100, on the
data tlkit generates (exported by the ignored test `data::toy::tests::export_named_toys`:
`TLKIT_TOY_EXPORT=/tmp/toy cargo test -p tlkit --lib export_named_toys -- --ignored`).

Prints per epoch each task's train and test MSE/σ² for one arm, so that a defect in tlkit
shows as a difference, and the closed-form least-squares predictor's test MSE/σ².

  python torch_toy.py DIR --arm single:0 --opt adam --lr 1e-3 --epochs 40 --seed 0
arms: single:T (task T alone), ew, uw (Kendall et al.: L/(2e^s) + s/2, s from -0.5, trained
with the network's optimizer as LibMTL does), gradnorm (Chen et al., α, weights by Adam
--wlr, renormalised to sum T), static (fixed --weights), linear (least squares only).
"""
import argparse, json, os, sys, time
import numpy as np
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("dir")
p.add_argument("--arm", default="ew")
p.add_argument("--opt", default="adam")
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--momentum", type=float, default=0.9)
p.add_argument("--epochs", type=int, default=40)
p.add_argument("--batch", type=int, default=100)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--alpha", type=float, default=1.5)
p.add_argument("--wlr", type=float, default=0.025)
p.add_argument("--wparam", default="linear", help="GradNorm weights: linear (w itself, clamped at 1e-6 and "
               "renormalised, as tlkit) or softmax (w = T·softmax(z), Adam on z, as LibMTL)")
p.add_argument("--weights", default=None, help="static loss weights, comma-separated (arm static)")
p.add_argument("--json", default=None)
a = p.parse_args()
torch.set_num_threads(1)

def load(name, shape):
    return np.fromfile(os.path.join(a.dir, name), dtype="<f4").reshape(shape)

T = len([f for f in os.listdir(a.dir) if f.endswith("_train.f32") and f.startswith("t")])
xtr = load("x_train.f32", (-1, 250)); xte = load("x_test.f32", (-1, 250))
ytr = [load(f"t{t}_train.f32", (-1, 100)) for t in range(T)]
yte = [load(f"t{t}_test.f32", (-1, 100)) for t in range(T)]
sig2 = [float(np.abs(y).max()) ** 2 for y in ytr]  # σ = max |y| up to 1e-3 (saturated tanh)
sig2 = [round(s ** 0.5, 2) ** 2 for s in sig2]

def linear():
    X = np.c_[xtr, np.ones(len(xtr))]; Xt = np.c_[xte, np.ones(len(xte))]
    out = []
    for t in range(T):
        W, *_ = np.linalg.lstsq(X.astype(np.float64), ytr[t].astype(np.float64), rcond=None)
        out.append((float(((X @ W - ytr[t]) ** 2).mean() / sig2[t]),
                    float(((Xt @ W - yte[t]) ** 2).mean() / sig2[t]),
                    float((yte[t].astype(np.float64) ** 2).mean() / sig2[t])))
    return out

if a.arm == "linear":
    for t, (tr, te, z) in enumerate(linear()):
        print(f"t{t} sigma^2={sig2[t]:.4g} least squares train {tr:.4f} test {te:.4f}  predicting 0: {z:.4f}")
    sys.exit()

torch.manual_seed(a.seed)
tasks = [int(a.arm.split(":")[1])] if a.arm.startswith("single") else list(range(T))
trunk = nn.Sequential(nn.Linear(250, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(),
                      nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU())
heads = nn.ModuleList([nn.Linear(100, 100) for _ in tasks])
params = list(trunk.parameters()) + list(heads.parameters())
logvar = torch.full((len(tasks),), -0.5, requires_grad=True)
if a.arm == "uw":
    params.append(logvar)
opt = (torch.optim.Adam(params, lr=a.lr) if a.opt == "adam"
       else torch.optim.SGD(params, lr=a.lr, momentum=a.momentum))
w = torch.ones(len(tasks), requires_grad=True)
z = torch.zeros(len(tasks), requires_grad=True)
wopt = torch.optim.Adam([z] if a.wparam == "softmax" else [w], lr=a.wlr)
l0 = None
Xtr, Xte = torch.from_numpy(xtr), torch.from_numpy(xte)
Ytr = [torch.from_numpy(ytr[t]) for t in tasks]; Yte = [torch.from_numpy(yte[t]) for t in tasks]
g = torch.Generator().manual_seed(a.seed)

def evaluate(X, Y):
    with torch.no_grad():
        h = trunk(X)
        return [float(((hd(h) - y) ** 2).mean()) / sig2[t] for hd, y, t in zip(heads, Y, tasks)]

log = []
t0 = time.time()
for ep in range(a.epochs):
    perm = torch.randperm(len(Xtr), generator=g)
    run = np.zeros(len(tasks)); n = 0
    for i in range(0, len(perm), a.batch):
        idx = perm[i:i + a.batch]
        h = trunk(Xtr[idx])
        losses = torch.stack([((hd(h) - Y[idx]) ** 2).mean() for hd, Y in zip(heads, Ytr)])
        run += losses.detach().numpy(); n += 1
        if a.arm == "uw":
            total = (losses / (2 * logvar.exp()) + logvar / 2).sum()
        elif a.arm == "gradnorm":
            if l0 is None:
                l0 = losses.detach()
            last = trunk[6].weight
            gn = torch.stack([torch.autograd.grad(l, last, retain_graph=True)[0].norm() for l in losses])
            G = w.detach() * gn
            r = (losses.detach() / l0); r = r / r.mean()
            target = G.mean() * r ** a.alpha
            wopt.zero_grad()
            if a.wparam == "softmax":
                wz = len(tasks) * torch.softmax(z, 0)
                (torch.sign(G - target) * gn * wz).sum().backward(inputs=[z])
                with torch.no_grad():
                    w.copy_(wz.detach())
            else:
                w.grad = torch.sign(G - target) * gn
            total = (w.detach() * losses).sum()
        elif a.arm == "static":
            total = (torch.tensor([float(v) for v in a.weights.split(",")]) * losses).sum()
        else:
            total = losses.sum()
        if i + a.batch >= len(perm):  # last step of the epoch: each task's gradient norm on
            # the last shared layer (unweighted), GradNorm's ‖∇_W L_t‖
            gnorm = [float(torch.autograd.grad(l, trunk[6].weight, retain_graph=True)[0].norm()) for l in losses]
        opt.zero_grad(); total.backward(); opt.step()
        if a.arm == "gradnorm":
            wopt.step()
            with torch.no_grad():
                if a.wparam == "softmax":
                    w.copy_(len(tasks) * torch.softmax(z, 0))
                else:
                    w.clamp_(min=1e-6); w.mul_(len(tasks) / w.sum())
    tr = [float(x) / sig2[t] for x, t in zip(run / n, tasks)]
    te = evaluate(Xte, Yte)
    weights = ((1 / (2 * logvar.exp())).tolist() if a.arm == "uw" else w.tolist() if a.arm == "gradnorm"
               else [float(v) for v in a.weights.split(",")] if a.arm == "static" else [1.0] * len(tasks))
    log.append({"epoch": ep + 1, "train": tr, "test": te, "weights": weights, "grad_norms": gnorm})
    print(f"epoch {ep+1:3d} " + " ".join(f"t{t} train {x:.4f} test {y:.4f}" for t, x, y in zip(tasks, tr, te))
          + " w " + "/".join(f"{v:.4g}" for v in weights) + " |g| " + "/".join(f"{v:.3g}" for v in gnorm), flush=True)
full = evaluate(Xtr, Ytr)
print("end train (full pass) " + " ".join(f"t{t} {x:.4f}" for t, x in zip(tasks, full)) + f"  {time.time()-t0:.0f}s")
if a.json:
    json.dump({"args": vars(a), "log": log, "train_end": full}, open(a.json, "w"))
