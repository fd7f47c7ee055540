#!/usr/bin/env python3
"""Compare a GPU case output with the fixture's expected.safetensors (numpy only).

usage: compare.py EXPECTED.safetensors ACTUAL.safetensors
Rule (fixtures README): pass when ||a - e||_2 <= rtol ||e||_2 + atol sqrt(numel), per tensor, in
float64; rtol 1e-4 for grad.*, 1e-5 otherwise; atol 1e-6. Pure Python (no numpy), so it runs on any machine. Tensors the output lacks are listed as
missing (a failure); extra outputs are ignored. Exit 0 when every expected tensor passes."""
import array
import json
import math
import struct
import sys

DT = {"F32": "f", "F64": "d", "I64": "q", "I32": "i"}


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise SystemExit(f"{path}: not a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise SystemExit(f"{path}: header length {n} past the end of the file")
    head = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        if t["dtype"] not in DT:
            raise SystemExit(f"{path}: {name}: dtype {t['dtype']} not handled")
        v = array.array(DT[t["dtype"]])
        v.frombytes(raw[base + b:base + e])
        if sys.byteorder != "little":
            v.byteswap()
        out[name] = (tuple(t["shape"]), [float(x) for x in v])
    return out


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    exp, act = read(sys.argv[1]), read(sys.argv[2])
    fails = 0
    worst = 0.0
    for name, e in sorted(exp.items()):
        if name not in act:
            print(f"  MISSING {name}")
            fails += 1
            continue
        (sa, a), (se, e) = act[name], e
        if sa != se:
            print(f"  SHAPE   {name}: {sa} vs {se}")
            fails += 1
            continue
        rtol = 1e-4 if name.startswith("grad.") else 1e-5
        err = math.sqrt(math.fsum((x - y) ** 2 for x, y in zip(a, e)))
        ref = math.sqrt(math.fsum(y * y for y in e))
        bound = rtol * ref + 1e-6 * math.sqrt(len(e))
        rel = err / ref if ref > 0 else err
        ok = all(math.isfinite(x) for x in a) and err <= bound
        if ref > 1e-6 * math.sqrt(len(e)):  # true zeros (key-bias gradients) have no relative error
            worst = max(worst, rel) if math.isfinite(err) else float("inf")
        if not ok:
            fails += 1
            print(f"  FAIL    {name}: |a-e| {err:.3e} > bound {bound:.3e} (relative {rel:.2e})")
    print(f"{sys.argv[2]}: {len(exp) - fails}/{len(exp)} tensors pass, worst relative error {worst:.2e}")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
