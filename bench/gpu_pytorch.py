#!/usr/bin/env python3
"""PyTorch eager baseline for bench/gpu.sh: BERT-base (random weights), batch 32 x 128, bf16
autocast, the way issue 9 measured it.

usage: gpu_pytorch.py MODE [SECONDS]   MODE: infer (BertModel forward, no grad) or full
(BertForTokenClassification, 9 labels, forward + backward + AdamW on every parameter).
Prints one line: `pytorch MODE tokens/s X ms/step Y`."""
import sys
import time

import torch
from transformers import BertConfig, BertForTokenClassification, BertModel

mode = sys.argv[1] if len(sys.argv) > 1 else "infer"
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
if mode not in ("infer", "full"):
    raise SystemExit(f"mode {mode!r}: infer or full")
B, T = 32, 128
torch.manual_seed(0)
cfg = BertConfig(num_labels=9)  # bert-base-uncased shapes
dev = "cuda"
ids = torch.randint(1000, 30000, (B, T), device=dev)
mask = torch.ones_like(ids)
labels = torch.randint(0, 9, (B, T), device=dev)
if mode == "infer":
    model = BertModel(cfg).to(dev).eval()

    def step():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            model(input_ids=ids, attention_mask=mask)
else:
    model = BertForTokenClassification(cfg).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

for _ in range(5):
    step()
torch.cuda.synchronize()
n, t0 = 0, time.time()
while True:
    for _ in range(10):
        step()
    n += 10
    torch.cuda.synchronize()
    if time.time() - t0 >= seconds:
        break
dt = time.time() - t0
print(f"pytorch {mode} tokens/s {n * B * T / dt:.0f} ms/step {1e3 * dt / n:.2f} ({torch.cuda.get_device_name()})", flush=True)
