#!/usr/bin/env python3
"""Sentence-embedding throughput: Hugging Face transformers (PyTorch, CPU) against `tlkit embed`,
same model (MiniLM-L6 from the tlkit cache), same sentences, same batch size, same threads.

    bench/.venv/bin/python bench/embed_speed.py [--tlkit target/release/tlkit] [--batch 32]

The sentences are the ones of at least 5 words in /usr/share/common-licenses/GPL-3 (real
English prose, 100-200 of them depending on the file), repeated to --n. Prints one JSON line per
side and the ratio; also checks that both sides' embeddings agree (min cosine).
"""
import argparse
import csv
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def sentences(n):
    text = Path("/usr/share/common-licenses/GPL-3").read_text()
    parts = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"(?<=[.!?])\s+", text)]
    parts = [p for p in parts if len(p.split()) >= 5]
    return [parts[i % len(parts)] for i in range(n)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tlkit", default="target/release/tlkit")
    p.add_argument("--model-dir", default=os.path.expanduser(
        os.environ.get("TLKIT_HOME", "~/.cache/tlkit") + "/weights/minilm-l6"))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    texts = sentences(a.n)

    import torch
    from safetensors.torch import load_file
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertModel

    torch.set_num_threads(a.threads)
    tok = Tokenizer.from_file(f"{a.model_dir}/tokenizer.json")
    tok.enable_truncation(256)
    tok.enable_padding()
    model = BertModel(BertConfig.from_json_file(f"{a.model_dir}/config.json"), add_pooling_layer=False)
    model.load_state_dict(load_file(f"{a.model_dir}/model.safetensors"), strict=False)
    model.eval()

    def torch_embed():
        out = []
        for i in range(0, len(texts), a.batch):
            enc = tok.encode_batch(texts[i:i + a.batch])
            ids = torch.tensor([e.ids for e in enc])
            mask = torch.tensor([e.attention_mask for e in enc])
            with torch.no_grad():
                h = model(input_ids=ids, attention_mask=mask).last_hidden_state
            m = mask[..., None].float()
            e = (h * m).sum(1) / m.sum(1)
            out.append(torch.nn.functional.normalize(e, dim=1))
        return torch.cat(out).numpy()

    torch_embed()  # warm-up
    start = time.perf_counter()
    ref = torch_embed()
    t_secs = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "texts.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["text"])
            w.writerows([t] for t in texts)
        out = Path(d) / "emb.npz"
        env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
        cmd = [a.tlkit, "embed", "--model", a.model_dir, "--csv", str(path), "--out", str(out),
               "--batch-size", str(a.batch)]
        subprocess.run(cmd, check=True, env=env, capture_output=True)  # warm-up (page cache)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        k_secs = time.perf_counter() - start  # includes loading the model and tokenizer
        emb = np.load(out)["x"]
    cos = (emb * ref).sum(1).min()
    t_rate, k_rate = len(texts) / t_secs, len(texts) / k_secs
    print(json.dumps({"framework": "pytorch+transformers", "texts": len(texts), "batch": a.batch,
                      "threads": a.threads, "texts_per_s": round(t_rate, 1)}))
    print(json.dumps({"framework": "tlkit", "texts": len(texts), "batch": a.batch,
                      "threads": a.threads, "texts_per_s": round(k_rate, 1),
                      "note": "whole process, model loading included"}))
    print(json.dumps({"ratio_tlkit_over_pytorch": round(k_rate / t_rate, 2),
                      "min_cosine_between_sides": round(float(cos), 6)}))


if __name__ == "__main__":
    main()
