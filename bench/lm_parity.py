#!/usr/bin/python3
"""Same-weights, same-batches run of the PyTorch anchor's TransformerLM (task L setup).

Writes to --out DIR:
  weights.npy   initial weights as concatenated .npy records, in Trax's flat order
  batches.npy   int32 (steps, batch, seq_len + 1): the training windows, in order
  val.npy       int32 (eval_batches, batch, seq_len + 1): the fixed validation windows
  grads.npy     gradients of the first batch's loss, same order as weights.npy
  torch.json    {loss0, val0, losses[], val_end, vocab_size, config}

`--init npy:FILE` starts from weights written by the other side instead of the anchor's own init.
Used by bench/lm-parity.ts; run it with Debian's /usr/bin/python3 (python3-torch).
"""
import argparse
import json
import os
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--text", required=True)
ap.add_argument("--anchor", default=os.environ.get("TRAX_TORCH_ANCHOR", "/work/shared/anchors/torch"))
ap.add_argument("--out", required=True)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--steps", type=int, default=200)
ap.add_argument("--batch", type=int, default=12)
ap.add_argument("--seq-len", type=int, default=64)
ap.add_argument("--d-model", type=int, default=128)
ap.add_argument("--d-ff", type=int, default=512)
ap.add_argument("--n-layers", type=int, default=4)
ap.add_argument("--n-heads", type=int, default=4)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--eval-batches", type=int, default=20)
ap.add_argument("--init", default=None, help="npy:FILE with initial weights in Trax's flat order")
args = ap.parse_args()

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, args.anchor)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from trax_lm import TransformerLM, weighted_cross_entropy  # noqa: E402

torch.set_num_threads(1)


def flat_params(m):
    """The anchor's parameters in Trax's flat weight order (reference section 3.4)."""
    out = [m.embed, m.pos]
    for b in m.blocks:
        out += [b.ln1.scale, b.ln1.bias]
        for d in (b.attn.q, b.attn.k, b.attn.v, b.attn.o):
            out += [d.w, d.b]
        out += [b.ln2.scale, b.ln2.bias, b.ff1.w, b.ff1.b, b.ff2.w, b.ff2.b]
    out += [m.ln_f.scale, m.ln_f.bias, m.out.w, m.out.b]
    return out


def save_records(path, arrays):
    with open(path + ".tmp", "wb") as f:
        for a in arrays:
            np.save(f, np.ascontiguousarray(a))
    os.replace(path + ".tmp", path)


def load_records(path):
    out = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        while f.tell() < size:
            out.append(np.load(f))
    return out


def windows(data, rng, batch, seq_len):
    idx = rng.integers(0, len(data) - seq_len, batch)
    return np.stack([data[i:i + seq_len + 1] for i in idx])


with open(args.text, "rb") as f:
    text = f.read().decode("utf-8")
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = np.array([stoi[c] for c in text], dtype=np.int64)
n = int(0.9 * len(data))
train, val = data[:n], data[n:]
B, T = args.batch, args.seq_len
torch.manual_seed(args.seed)
model = TransformerLM(vocab_size=len(chars), d_model=args.d_model, d_ff=args.d_ff, n_layers=args.n_layers,
                      n_heads=args.n_heads, dropout=0.0, seed=args.seed).train()
params = flat_params(model)
assert len(params) == len(list(model.parameters()))
if args.init:
    src = load_records(args.init.split(":", 1)[1])
    assert len(src) == len(params), f"{len(src)} arrays for {len(params)} weights"
    with torch.no_grad():
        for p, a in zip(params, src):
            p.copy_(torch.from_numpy(np.asarray(a, dtype=np.float32)).reshape(p.shape))
os.makedirs(args.out, exist_ok=True)
save_records(os.path.join(args.out, "weights.npy"), [p.detach().numpy() for p in params])
rng = np.random.default_rng(args.seed)
batches = np.stack([windows(train, rng, B, T) for _ in range(args.steps)] or [np.zeros((B, T + 1), np.int64)]).astype(np.int32)
vrng = np.random.default_rng(1000)
vals = np.stack([windows(val, vrng, B, T) for _ in range(args.eval_batches)]).astype(np.int32)
np.save(os.path.join(args.out, "batches.npy"), batches)
np.save(os.path.join(args.out, "val.npy"), vals)
w = torch.ones(B, T + 1)
w[:, 0] = 0.0


def val_loss():
    model.eval()
    with torch.no_grad():
        r = float(np.mean([weighted_cross_entropy(model(torch.from_numpy(x).long()), torch.from_numpy(x).long(), w).item()
                           for x in vals]))
    model.train()
    return r


val0 = val_loss()
opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
losses = []
for step in range(args.steps):
    x = torch.from_numpy(batches[step]).long()
    opt.zero_grad(set_to_none=True)
    loss = weighted_cross_entropy(model(x), x, w)
    loss.backward()
    if step == 0:
        save_records(os.path.join(args.out, "grads.npy"), [p.grad.numpy().copy() for p in params])
    opt.step()
    losses.append(loss.item())
res = {"loss0": losses[0] if losses else None, "val0": val0, "losses": losses, "val_end": val_loss(),
       "vocab_size": len(chars), "steps": args.steps, "seed": args.seed}
with open(os.path.join(args.out, "torch.json"), "w") as f:
    json.dump(res, f)
print(json.dumps({k: res[k] for k in ("loss0", "val0", "val_end", "vocab_size")}))
