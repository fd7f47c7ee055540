#!/usr/bin/env python3
"""PyTorch eager baseline for bench/gpu.sh: BERT-base (random weights), batch 32 x 128, bf16
autocast, the way issue 9 measured it.

usage: gpu_pytorch.py MODE [SECONDS]   MODE: infer (BertModel forward, no grad), adapter
(BertForTokenClassification, 9 labels, a Pfeiffer / seq_bn adapter with reduction factor 16 after
every FFN, only the adapters and the classifier train: forward + backward + AdamW) or full (the
same model without adapters, every parameter trains).
The adapter comes from the `adapters` library when it is installed, else from the module below,
which computes what the library's seq_bn does. Prints one line:
`pytorch MODE tokens/s X ms/step Y (device, adapter source)`."""
import sys
import time

import torch
from transformers import BertConfig, BertForTokenClassification, BertModel

mode = sys.argv[1] if len(sys.argv) > 1 else "infer"
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
if mode not in ("infer", "adapter", "full"):
    raise SystemExit(f"mode {mode!r}: infer, adapter or full")
B, T = 32, 128
torch.manual_seed(0)
cfg = BertConfig(num_labels=9)  # bert-base-uncased shapes
dev = "cuda"
ids = torch.randint(1000, 30000, (B, T), device=dev)
mask = torch.ones_like(ids)
labels = torch.randint(0, 9, (B, T), device=dev)
source = ""


class SeqBnOutput(torch.nn.Module):
    """BertOutput with a seq_bn adapter: LN(up(relu(down(LN(h + x)))) + h + x), h = dropout(dense)."""

    def __init__(self, out, hidden, bottleneck):
        super().__init__()
        self.out = out
        self.down = torch.nn.Linear(hidden, bottleneck)
        self.up = torch.nn.Linear(bottleneck, hidden)
        torch.nn.init.normal_(self.down.weight, std=0.02)
        torch.nn.init.zeros_(self.up.weight)
        torch.nn.init.zeros_(self.down.bias)
        torch.nn.init.zeros_(self.up.bias)

    def forward(self, hidden_states, input_tensor):
        h = self.out.dropout(self.out.dense(hidden_states))
        a = self.out.LayerNorm(h + input_tensor)
        return self.out.LayerNorm(self.up(torch.relu(self.down(a))) + h + input_tensor)


def with_adapters(model):
    global source
    try:
        import adapters

        adapters.init(model)
        model.add_adapter("bench", config="seq_bn")
        model.train_adapter("bench")
        source = "adapters " + adapters.__version__
    except ImportError:
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in model.bert.encoder.layer:
            layer.output = SeqBnOutput(layer.output, cfg.hidden_size, cfg.hidden_size // 16).to(dev)
        source = "seq_bn module of gpu_pytorch.py"
    for p in model.classifier.parameters():
        p.requires_grad_(True)
    return model


if mode == "infer":
    model = BertModel(cfg).to(dev).eval()

    def step():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            model(input_ids=ids, attention_mask=mask)
else:
    model = BertForTokenClassification(cfg).to(dev).train()
    if mode == "adapter":
        model = with_adapters(model)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
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
trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
print(f"pytorch {mode} tokens/s {n * B * T / dt:.0f} ms/step {1e3 * dt / n:.2f} ({torch.cuda.get_device_name()}, "
      f"torch {torch.__version__}, {trained} trained parameters{', ' + source if source else ''})", flush=True)
