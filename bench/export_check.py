"""Check that a tlkit export reads back in PyTorch with the original checkpoint's names.

    bench/.venv/bin/python bench/export_check.py RUN/weights.safetensors ORIGINAL.pth

Reads the safetensors file with plain numpy (no safetensors package needed), turns it into a
torch state dict, and compares it with the original PyTorch checkpoint: the same keys, the
same shapes except for the replaced head, and the tensors a linear probe does not train
(everything but the head and batch-norm counters) bit-identical.
"""
import json
import struct
import sys

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def main(export, original, head="_fc"):
    ours = read_safetensors(export)
    ref = torch.load(original, map_location="cpu", weights_only=False)
    missing = sorted(set(ref) - set(ours))
    unexpected = sorted(set(ours) - set(ref))
    print(f"{len(ours)} tensors exported, {len(ref)} in the original")
    print(f"missing keys: {missing}\nunexpected keys: {unexpected}")
    same, changed, reshaped = 0, [], []
    for k, v in ref.items():
        if k not in ours:
            continue
        w = ours[k].to(v.dtype) if v.dtype != torch.float32 else ours[k]
        if tuple(w.shape) != tuple(v.shape):
            reshaped.append((k, tuple(v.shape), tuple(w.shape)))
        elif torch.equal(w.float(), v.float()):
            same += 1
        else:
            changed.append(k)
    print(f"bit-identical: {same}; changed: {changed}; new shapes: {reshaped}")
    ok = not missing and not unexpected and all(k.startswith(head) for k, *_ in reshaped)
    print("OK: the export is a drop-in state dict" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
