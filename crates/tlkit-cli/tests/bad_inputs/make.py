"""Writes the binary files of the bad-input corpus (the text files are written by hand).

Run from this folder with numpy and torch installed:  python make.py
"""
import gzip
import io
import json
import os
import struct
import zlib

import numpy as np
import torch


def csv(name, rows):
    with open(name, "w") as f:
        f.writelines(",".join(str(v) for v in r) + "\n" for r in rows)


def good_rows(n):
    return [[i % 5, (i * 3) % 7, i % 2, (i * 5) % 11, i % 3] for i in range(n)]


csv("small.csv", good_rows(12))
rows = good_rows(50)
rows[6][-1] = 1000  # line 7: a label of 1000 in 50 rows
csv("stray_label.csv", rows)
rows = good_rows(50)
rows[9][-1] = 100000  # line 10
csv("huge_label.csv", rows)
rows = good_rows(20)
rows[2][1] = "nan"  # line 3, field 2
csv("nan.csv", rows)
rows = good_rows(20)
rows[4][3] = "inf"  # line 5, field 4
csv("inf.csv", rows)
# 4000 bytes of text in 50 bytes: over the TLKIT_MAX_VALUES=1000 its case sets.
with open("inflates.csv.gz", "wb") as f:
    f.write(gzip.compress(b"0,0,0,0,0\n" * 400, mtime=0))

x = np.arange(24, dtype=np.float32).reshape(6, 4)
x[4, 1] = np.nan  # sample 4
np.savez("nan.npz", x=x, y=np.array([0, 1, 2, 0, 1, 2]))
y = np.arange(50) % 3
y[7] = 1000
np.savez("stray_label.npz", x=np.zeros((50, 4), np.float32), y=y)


def png_header(w, h):
    """A PNG that declares w x h gray pixels and holds a few bytes of data."""

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", bytes([0x78, 0x9C, 0x63, 0x00, 0x00])) + chunk(b"IEND", b""))


def png(w, h, value):
    raw = b"".join(b"\x00" + bytes([value]) * w for _ in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


for d, files in {
    "images_ok/a": {"1.png": png(4, 4, 10)},
    "images_ok/b": {"1.png": png(4, 4, 200)},
    "images_bomb/a": {"1.png": png(4, 4, 10)},
    "images_bomb/b": {"bomb.png": png_header(20000, 20000)},
}.items():
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
with open("bomb.png", "wb") as f:
    f.write(png_header(20000, 20000))


def idx3(n, r, c):
    return bytes([0, 0, 8, 3]) + struct.pack(">III", n, r, c) + bytes(k % 256 for k in range(n * r * c))


def idx1(labels):
    return bytes([0, 0, 8, 1]) + struct.pack(">I", len(labels)) + bytes(labels)


with open("images.idx3", "wb") as f:
    f.write(idx3(4, 8, 8))
with open("labels_bad.idx1", "wb") as f:
    f.write(idx1([1, 2, 12, 3]))
with open("labels_ok.idx1", "wb") as f:
    f.write(idx1([1, 2, 3, 4]))
with open("images_truncated.idx3", "wb") as f:
    f.write(idx3(4, 8, 8)[:-40])


def safetensors(header, data):
    h = json.dumps(header).encode() if isinstance(header, dict) else header.encode()
    return struct.pack("<Q", len(h)) + h + data


f32 = lambda shape, a, b: {"dtype": "F32", "shape": shape, "data_offsets": [a, b]}
with open("twice.safetensors", "wb") as f:
    one = json.dumps(f32([1], 0, 4))
    f.write(safetensors('{"w": %s, "w": %s}' % (one, one), b"\0" * 4))
with open("bad_shape.safetensors", "wb") as f:
    f.write(safetensors({"fc.bias": f32([2], 0, 8), "fc.weight": f32([2, 3], 8, 24)}, b"\0" * 24))
# A linear classifier (nan_net.toml) whose bias holds one NaN.
bias = [0.0] * 10
bias[3] = float("nan")
with open("nan_weights.safetensors", "wb") as f:
    header = {"fc.bias": f32([10], 0, 40), "fc.weight": f32([10, 64], 40, 2600)}
    f.write(safetensors(header, struct.pack("<10f", *bias) + struct.pack("<640f", *[0.01] * 640)))
whole = safetensors({"fc.bias": f32([2], 0, 8), "fc.weight": f32([2, 64], 8, 520)}, b"\1" * 520)
with open("half.safetensors", "wb") as f:
    f.write(whole[: len(whole) // 2])

deep = []
for _ in range(40):
    deep = [deep]
torch.save(deep, "deep_list.pth")


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > pwned.txt",))


torch.save({"w": Evil()}, "evil.pth")  # a zip checkpoint whose pickle calls os.system

# The only checkpoint of a run (resume_truncated/), cut short: its header promises 2 600 bytes.
whole = safetensors({"model/fc.bias": f32([10], 0, 40), "model/fc.weight": f32([10, 64], 40, 2600)}, b"\0" * 2600)
with open("resume_truncated/checkpoints/last.safetensors", "wb") as f:
    f.write(whole[:1000])
