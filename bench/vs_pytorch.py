"""The PyTorch side of bench/vs_pytorch.sh: the model `adapt bench` runs, in plain torch.

BERT-style post-LN encoder with random weights of a preset shape, a Pfeiffer adapter (AdapterHub
seq_bn: reduction factor 16, ReLU, after the FFN's output LayerNorm with the sublayer residual, then
the same LayerNorm again) and a tagging head (Dropout, Linear to 9 labels). Modes as in adapt:
infer = eval mode under inference_mode (and TorchScript-frozen, whichever is faster is reported),
adapter = dropout 0.1 on, base frozen, adapter + head trained with AdamW, full = every tensor but
no adapter. Prints one JSON line like `adapt bench --json`."""
import argparse, json, math, resource, statistics, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "bert-base": dict(hidden=768, layers=12, heads=12, ffn=3072, vocab=30522, maxpos=512, types=2, eps=1e-12),
    "default": dict(hidden=256, layers=6, heads=4, ffn=1024, vocab=16000, maxpos=130, types=1, eps=1e-5),
}


class Adapter(nn.Module):
    def __init__(self, h, m):
        super().__init__()
        self.down, self.up = nn.Linear(h, m), nn.Linear(m, h)

    def forward(self, t):
        return self.up(F.relu(self.down(t)))


class Layer(nn.Module):
    def __init__(self, c, adapter, p):
        super().__init__()
        h = c["hidden"]
        self.nh, self.p = c["heads"], p
        self.q, self.k, self.v, self.o = (nn.Linear(h, h) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(h, eps=c["eps"]), nn.LayerNorm(h, eps=c["eps"])
        self.i, self.d = nn.Linear(h, c["ffn"]), nn.Linear(c["ffn"], h)
        self.adapter = Adapter(h, h // 16) if adapter else None

    def forward(self, x):
        B, T, H = x.shape
        dh = H // self.nh
        q, k, v = (f(x).view(B, T, self.nh, dh).transpose(1, 2) for f in (self.q, self.k, self.v))
        s = q @ k.transpose(-1, -2) / math.sqrt(dh)
        p = F.dropout(s.softmax(-1), self.p, self.training)
        ctx = (p @ v).transpose(1, 2).reshape(B, T, H)
        a = self.ln1(F.dropout(self.o(ctx), self.p, self.training) + x)
        h = F.dropout(self.d(F.gelu(self.i(a))), self.p, self.training)
        if self.adapter is None:
            return self.ln2(h + a)
        t = self.ln2(h + a)                    # pre_forward: original_ln_before, residual = h
        return self.ln2(self.adapter(t) + h + a)  # adapter output + residual, original_ln_after


class Model(nn.Module):
    def __init__(self, c, adapter, p=0.1, labels=9):
        super().__init__()
        h = c["hidden"]
        self.word, self.pos, self.ttype = nn.Embedding(c["vocab"], h), nn.Embedding(c["maxpos"], h), nn.Embedding(max(c["types"], 1), h)
        self.ln = nn.LayerNorm(h, eps=c["eps"])
        self.layers = nn.ModuleList(Layer(c, adapter, p) for _ in range(c["layers"]))
        self.head = nn.Linear(h, labels)
        self.p = p
        self.offset = 2 if c["maxpos"] == 130 else 0  # RoBERTa positions start after the pad id

    def forward(self, ids):
        pos = torch.arange(ids.shape[1]) + self.offset
        x = self.word(ids) + self.pos(pos)[None] + self.ttype.weight[0]
        x = F.dropout(self.ln(x), self.p, self.training)
        for layer in self.layers:
            x = layer(x)
        return self.head(F.dropout(x, self.p, self.training))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="bert-base")
    ap.add_argument("--mode", default="infer", choices=["infer", "adapter", "full"])
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = PRESETS[a.preset]
    model = Model(c, adapter=a.mode != "full")
    for n, p in model.named_parameters():
        p.requires_grad = a.mode == "full" or (a.mode == "adapter" and ("adapter" in n or n.startswith("head")))
    ids = torch.randint(5, c["vocab"], (a.batch, a.seq))
    labels = torch.randint(0, 9, (a.batch * a.seq,))
    bf = torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.dtype == "bf16")
    variant = "eager"
    if a.mode == "infer":
        model.eval()
        step_fn = model
        if a.dtype == "fp32":  # TorchScript (frozen) when it is faster than eager
            with torch.inference_mode():
                scripted = torch.jit.freeze(torch.jit.trace(model, ids))
            candidates = [("eager", model), ("torchscript", scripted)]
        else:
            candidates = [("eager", model)]

        def timed(fn, n):
            ts = []
            with torch.inference_mode(), bf:
                for _ in range(n):
                    t = time.perf_counter(); fn(ids); ts.append(time.perf_counter() - t)
            return ts

        best = None
        for name, fn in candidates:
            timed(fn, a.warmup)
            ts = timed(fn, a.steps)
            if best is None or statistics.median(ts) < statistics.median(best[1]):
                best = (name, ts)
        variant, times = best
        loss = 0.0
    else:
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, weight_decay=0.01)
        times = []
        for i in range(a.warmup + a.steps):
            t = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            with bf:
                logits = model(ids)
            loss_t = F.cross_entropy(logits.float().view(-1, 9), labels)
            loss_t.backward()
            opt.step()
            if i >= a.warmup:
                times.append(time.perf_counter() - t)
        loss = float(loss_t)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"impl": "pytorch", "variant": variant, "torch": torch.__version__, "preset": a.preset, "mode": a.mode,
                      "dtype": a.dtype, "threads": a.threads, "tokens_per_s": a.batch * a.seq / med, "step_ms": 1e3 * med,
                      "min_step_ms": 1e3 * min(times), "peak_rss_mb": rss, "loss": loss}))


if __name__ == "__main__":
    sys.exit(main())
