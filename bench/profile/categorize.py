#!/usr/bin/env python3
"""Groups a flat `perf report` by what the time was spent on, for the profile table of
BENCHMARKS.md ("The own kernels, second round").

    perf record -F 499 -o perf.data target/release/examples/bench_train --model lenet ...
    perf report -i perf.data --no-children --sort symbol --stdio > report.txt
    python3 bench/profile/categorize.py report.txt

The release build keeps symbol names but no call graphs (no frame pointers), so a sample is
charged to the function it was in after inlining: a category is a pattern on that name, first
match wins (order matters: tlkit's kernels before Burn's, allocation before the rest).
"""
import re
import sys

CATEGORIES = [
    ("tlkit conv kernels (im2col, col2im, depthwise loops)", r"tlkit_kernels::(conv|depthwise)|tlkit::nn::conv_kernels"),
    # Every kernel's AVX2 build is inlined into one of these (`tlkit_kernels::wide`); which
    # kernel it is, `TLKIT_PROFILE=1` says.
    ("tlkit kernels, AVX2 build (depthwise, batch norm, pooling, ReLU6, dot products)", r"tlkit_kernels::(avx2_fma|lanes_sum)"),
    ("matrix products (faer / gemm micro-kernels)", r"faer|gemm|nano_gemm|matmul"),
    ("tlkit max pool kernel", r"tlkit_kernels::pool|tlkit::nn::pool"),
    ("tlkit batch norm kernel", r"tlkit_kernels::batch_norm|tlkit::nn::batch_norm"),
    ("Burn flex convolution / pooling", r"burn_flex::ops::(conv|pool|conv_transpose|unfold|deform)"),
    ("Burn flex reductions (sum, mean, max)", r"burn_flex::ops::reduce|reduce"),
    ("Burn flex elementwise / broadcast / activations", r"burn_flex::ops::(binary|unary|activation|float|comparison|mask|zip)|burn_flex::zip|burn_flex::simd|macerator"),
    ("Burn flex copies, layout, slicing", r"burn_flex::(tensor|layout|strided)|burn_flex::ops::(slice|cat|expand|repeat|gather)|copy_contiguous"),
    ("Burn autodiff bookkeeping (graph, gradients)", r"burn_autodiff"),
    ("Burn dispatch / tensor API", r"burn_dispatch|burn_tensor|burn_backend|burn_std"),
    ("memory: allocation, memcpy, memset, page faults", r"malloc|free|memcpy|memmove|memset|realloc|_int_|alloc|page|clear_page|do_anonymous|kernel"),
    ("rayon scheduling and waiting", r"rayon|crossbeam|sched_yield|futex|spin"),
    ("tlkit other (trainer, optimizer, data)", r"tlkit"),
    ("random numbers (dropout masks, data)", r"rand|chacha"),
]


def main(path):
    rows = []
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.match(r"\s*([\d.]+)%\s+(.*)$", line)
        if m and not line.lstrip().startswith("#"):
            rows.append((float(m.group(1)), m.group(2).strip()))
    totals = {name: 0.0 for name, _ in CATEGORIES}
    other, top_other = 0.0, []
    for pct, sym in rows:
        for name, pattern in CATEGORIES:
            if re.search(pattern, sym):
                totals[name] += pct
                break
        else:
            other += pct
            top_other.append((pct, sym))
    for name, _ in CATEGORIES:
        if totals[name] >= 0.05:
            print(f"| {name} | {totals[name]:.1f} % |")
    print(f"| other | {other:.1f} % |")
    top_other.sort(reverse=True)
    for pct, sym in top_other[:8]:
        print(f"#   other: {pct:.2f}% {sym[:140]}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1])
