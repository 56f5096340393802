"""Golden values for tlkit's domain-adaptation tests (crates/tlkit/src/adapt/grl.rs, mmd.rs).

Run once with PyTorch; the printed numbers are pasted into the Rust tests.
    /work/main/bench/.venv/bin/python bench/golden/adapt_golden.py
"""
import torch

torch.set_printoptions(precision=8)


class GRL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, c):
        ctx.c = c
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.c * g, None


def grl():
    x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], requires_grad=True)
    w = torch.tensor([[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]])
    y = GRL.apply(x, 0.7)
    (torch.tanh(y) * w).sum().backward()
    print("grl value", y.detach().flatten().tolist())
    print("grl grad", x.grad.flatten().tolist())


def family(z, alphas=(0.125, 0.25, 0.5, 1.0, 2.0)):
    d2 = ((z.unsqueeze(0) - z.unsqueeze(1)) ** 2).sum(2)
    s2 = d2.detach().mean()
    return sum(torch.exp(-d2 / (2 * a * s2)) for a in alphas)


def fixed(z, sigma):
    d2 = ((z.unsqueeze(0) - z.unsqueeze(1)) ** 2).sum(2)
    return torch.exp(-d2 / (2 * sigma * sigma))


def quadratic(k, m, n):
    ss = k[:m, :m]
    tt = k[m:, m:]
    st = k[:m, m:]
    return ((ss.sum() - ss.diag().sum()) / (m * (m - 1))
            + (tt.sum() - tt.diag().sum()) / (n * (n - 1))
            - 2 * st.sum() / (m * n))


def linear(k, m, n):
    p = min(m, n) // 2
    total = 0
    for i in range(p):
        s0, s1, t0, t1 = 2 * i, 2 * i + 1, m + 2 * i, m + 2 * i + 1
        total = total + k[s0, s1] + k[t0, t1] - k[s0, t1] - k[s1, t0]
    return total / p


def mmd():
    s0 = [[0.1, 0.2, -0.3], [0.5, -0.1, 0.4], [-0.2, 0.3, 0.0], [0.7, 0.1, -0.5]]
    t0 = [[1.0, 0.8, 0.2], [0.6, 1.2, -0.1], [0.9, 0.5, 0.4], [1.4, 0.7, 0.3]]
    for name, est in [("quadratic", quadratic), ("linear", linear)]:
        s = torch.tensor(s0, requires_grad=True)
        t = torch.tensor(t0)
        z = torch.cat([s, t])
        v = est(family(z), 4, 4)
        v.backward()
        print(name, v.item(), s.grad.flatten().tolist())
    s = torch.tensor(s0, requires_grad=True)
    z = torch.cat([s, torch.tensor(t0)])
    p = torch.softmax(z, 1)
    v = linear(family(z) * fixed(p, 0.92), 4, 4)
    v.backward()
    print("jmmd", v.item(), s.grad.flatten().tolist())


grl()
mmd()
