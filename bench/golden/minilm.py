"""Reference sentence embeddings for the MiniLM-L6 golden test (run once, numbers pasted in
crates/tlkit/src/text/tests).

    bench/.venv/bin/python bench/golden/minilm.py ~/.cache/tlkit/weights/minilm-l6
"""
import sys

import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel
from safetensors.torch import load_file

folder = sys.argv[1]
tok = Tokenizer.from_file(f"{folder}/tokenizer.json")
tok.no_padding()
tok.enable_truncation(256)
cfg = BertConfig.from_json_file(f"{folder}/config.json")
model = BertModel(cfg, add_pooling_layer=False)
state = load_file(f"{folder}/model.safetensors")
missing, unexpected = model.load_state_dict(state, strict=False)
print("missing", missing, "unexpected", unexpected)
model.eval()

sentences = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]
embs = []
for s in sentences:
    enc = tok.encode(s)
    print(repr(s), enc.ids)
    ids = torch.tensor([enc.ids])
    with torch.no_grad():
        h = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    e = h.mean(1)[0]
    e = e / e.norm()
    embs.append(e)
    print("  first 6:", [round(float(v), 6) for v in e[:6]])
for i in range(len(sentences)):
    for j in range(i + 1, len(sentences)):
        print(f"cos({i},{j}) = {float(embs[i] @ embs[j]):.6f}")
