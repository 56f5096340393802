"""Where PyTorch's MLP and MNIST-M (ganin) training steps go on the CPU (2 threads), from
torch.profiler, beside tlkit's `TLKIT_PROFILE=1` split (BENCHMARKS.md, "On an Intel Xeon").
Same networks, optimizers and batch sizes as bench/pytorch_train.py, random data:

    bench/.venv/bin/python bench/profile/torch_profile.py

Read the "Self CPU" column per step (divide by the step count printed above each table).
"""
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pytorch_train as pt  # noqa: E402

torch.set_num_threads(2)
for name, batch, steps, shape in [("mlp", 128, 500, (784,)), ("ganin", 64, 200, (3, 28, 28))]:
    torch.manual_seed(0)
    model = pt.mlp() if name == "mlp" else pt.ganin()
    opt = pt.optimizer(name, model.parameters())
    x = torch.rand(batch, *shape)
    y = torch.randint(0, 10, (batch,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(20):
        step()
    start = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    per_step = (time.perf_counter() - start) * 1e3 / steps
    print(f"== {name}: {steps} steps, {per_step:.2f} ms/step under the profiler")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))
