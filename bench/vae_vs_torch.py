#!/usr/bin/env python3
"""Mult-VAE epochs: archetype's CPU trainer against PyTorch, side by side, same data, same model.

Usage (from the repository root, after `cargo build --release -p archetype-vae --example
vae_bench`; torch from PyPI in bench/.venv):

    bench/.venv/bin/python bench/vae_vs_torch.py USERS ITEMS NNZ [--hidden 600] [--latent 200]
        [--epochs 3] [--batch 500] [--threads 2] [--seed 1] [--runs 1] [--torch-input dense]

Draws an LFM-shaped play-count matrix (the generator of bench/als_vs_implicit.py: log-normal user
activity, Zipf track popularity, repeats summed into play counts), takes 2,000 users with at least
five tracks as validation users and holds out 20% of their tracks as targets, and trains the
plain Mult-VAE of Liang et al. (binary input, L2-normalised, dropout 0.5; encoder ITEMS -> HIDDEN
tanh -> (mu, log-variance) of LATENT; decoder LATENT -> HIDDEN tanh -> ITEMS; multinomial
log-likelihood; KL weight annealed to 0.2; Adam 1e-3; batch 500) with each library at the same
thread count. Each run is its own process measured by bench/measure.py (wall, peak RSS of the
tree). Reports seconds per epoch (training only, the median after the first), their ratio, and
the validation NDCG@100 after the last epoch for both (input tracks excluded from the ranking).

PyTorch is given its usual formulation (a dense batch x ITEMS input, as Liang et al.'s and
NVIDIA's reference code feed it) with `--torch-input dense`, or `torch.sparse.mm` on a CSR batch
with `--torch-input sparse`; `--torch-input both` runs the two.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.environ.get("VAE_BENCH_BIN", os.path.join(ROOT, "target", "release", "examples", "vae_bench"))
sys.path.insert(0, HERE)
from als_vs_implicit import generate, measured  # noqa: E402


def split(m, validation_users, seed):
    """Validation users out of the training matrix; 20% of their tracks held out as targets."""
    rng = np.random.default_rng(seed + 1)
    lengths = np.diff(m.indptr)
    eligible = np.flatnonzero(lengths >= 5)
    chosen = np.sort(rng.choice(eligible, size=min(validation_users, len(eligible)), replace=False))
    is_val = np.zeros(m.shape[0], dtype=bool)
    is_val[chosen] = True
    train = m[~is_val]
    train = train[np.diff(train.indptr) > 0]
    inputs, targets = [], []
    for u in chosen:
        lo, hi = int(m.indptr[u]), int(m.indptr[u + 1])
        cols, vals = m.indices[lo:hi], m.data[lo:hi]
        held = np.zeros(hi - lo, dtype=bool)
        held[rng.choice(hi - lo, size=max(1, (hi - lo) // 5), replace=False)] = True
        inputs.append((cols[~held], vals[~held]))
        targets.append(np.sort(cols[held]))
    return train, inputs, targets


def write_csr(d, name, rows, with_values=True):
    offsets = np.zeros(len(rows) + 1, dtype=np.uint64)
    offsets[1:] = np.cumsum([len(r[0]) for r in rows])
    offsets.tofile(os.path.join(d, f"{name}_offsets.u64"))
    idx = np.concatenate([r[0] for r in rows]) if rows else np.zeros(0)
    idx.astype(np.uint32).tofile(os.path.join(d, f"{name}_indices.u32"))
    if with_values:
        vals = np.concatenate([r[1] for r in rows]) if rows else np.zeros(0)
        vals.astype(np.float32).tofile(os.path.join(d, f"{name}_values.f32"))


def read_csr(d, name, items):
    import scipy.sparse as sp

    offsets = np.fromfile(os.path.join(d, f"{name}_offsets.u64"), dtype=np.uint64).astype(np.int64)
    idx = np.fromfile(os.path.join(d, f"{name}_indices.u32"), dtype=np.uint32).astype(np.int64)
    path = os.path.join(d, f"{name}_values.f32")
    vals = np.fromfile(path, dtype=np.float32) if os.path.exists(path) else np.ones(len(idx), np.float32)
    return sp.csr_matrix((vals, idx, offsets), shape=(len(offsets) - 1, items))


def run_torch(d, items, hidden, latent, epochs, batch, threads, anneal, mode):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    train = read_csr(d, "train", items)
    train.data[:] = 1.0  # binary input, as archetype's default
    val = read_csr(d, "val", items)
    val.data[:] = 1.0
    targets = read_csr(d, "target", items)

    class MultVAE(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = torch.nn.Linear(items, hidden)
            self.mu = torch.nn.Linear(hidden, latent)
            self.lv = torch.nn.Linear(hidden, latent)
            self.dec1 = torch.nn.Linear(latent, hidden)
            self.dec2 = torch.nn.Linear(hidden, items)
            for m in self.modules():
                if isinstance(m, torch.nn.Linear):
                    torch.nn.init.xavier_uniform_(m.weight)
                    torch.nn.init.zeros_(m.bias)

        def forward(self, x, train):
            x = x / x.pow(2).sum(1, keepdim=True).sqrt().clamp_min(1e-12) if not x.is_sparse_csr else x
            x = F.dropout(x, 0.5, training=train) if not x.is_sparse_csr else x
            if x.is_sparse_csr:
                h = torch.tanh(torch.sparse.mm(x, self.enc1.weight.t()) + self.enc1.bias)
            else:
                h = torch.tanh(self.enc1(x))
            mu, lv = self.mu(h), self.lv(h)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * lv) if train else mu
            return self.dec2(torch.tanh(self.dec1(z))), mu, lv

    model = MultVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(1)

    def batch_input(m, rows, train_mode):
        sub = m[rows]
        if mode == "dense":
            return torch.from_numpy(sub.toarray()), None
        # Normalise and drop out on the CSR values, as archetype does, then hand torch a CSR.
        sub = sub.tocsr(copy=True)
        norms = np.sqrt(np.asarray(sub.multiply(sub).sum(1)).ravel())
        sub.data /= np.repeat(np.maximum(norms, 1e-12), np.diff(sub.indptr))
        if train_mode:
            keep = rng.random(sub.nnz) >= 0.5
            sub.data *= keep / 0.5
        x = torch.sparse_csr_tensor(
            torch.from_numpy(sub.indptr.astype(np.int64)),
            torch.from_numpy(sub.indices.astype(np.int64)),
            torch.from_numpy(sub.data.astype(np.float32)),
            size=sub.shape,
        )
        target = m[rows]
        return x, target

    step = 0
    secs, ndcgs = [], []
    for epoch in range(epochs):
        model.train()
        started = time.perf_counter()
        order = rng.permutation(train.shape[0])
        for s in range(0, len(order), batch):
            rows = order[s : s + batch]
            x, target = batch_input(train, rows, True)
            beta = min(0.2, step / anneal)
            logits, mu, lv = model(x, True)
            t = x if target is None else torch.from_numpy(target.toarray())
            nll = -(F.log_softmax(logits, 1) * t).sum(1).mean()
            kl = 0.5 * (-lv + lv.exp() + mu.pow(2) - 1).sum(1).mean()
            loss = nll + beta * kl
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        secs.append(time.perf_counter() - started)
        ndcgs.append(validate(model, val, targets, batch, batch_input, torch))
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"seconds_per_epoch": secs, "validation_ndcg100": ndcgs, "parameters": params}))


def validate(model, val, targets, batch, batch_input, torch, k=100):
    model.eval()
    total, scored = 0.0, 0
    with torch.no_grad():
        for s in range(0, val.shape[0], batch):
            rows = np.arange(s, min(s + batch, val.shape[0]))
            x, _ = batch_input(val, rows, False)
            logits = model(x, False)[0].numpy()
            for r, u in enumerate(rows):
                seen = val.indices[val.indptr[u] : val.indptr[u + 1]]
                logits[r, seen] = -np.inf
                t = set(targets.indices[targets.indptr[u] : targets.indptr[u + 1]].tolist())
                if not t:
                    continue
                top = np.argpartition(-logits[r], k)[:k]
                order = top[np.argsort(-logits[r, top], kind="stable")]
                gains = np.array([1.0 if int(i) in t else 0.0 for i in order])
                dcg = (gains / np.log2(np.arange(2, k + 2))).sum()
                idcg = (1.0 / np.log2(np.arange(2, min(len(t), k) + 2))).sum()
                total += dcg / idcg
                scored += 1
    return total / max(scored, 1)


def steady(v):
    """Median over the epochs after the first (which pays for warm-up)."""
    return float(np.median(v[1:] if len(v) > 1 else v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("users", type=int)
    ap.add_argument("items", type=int)
    ap.add_argument("nnz", type=int)
    ap.add_argument("--hidden", type=int, default=600)
    ap.add_argument("--latent", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--anneal", type=int, default=200_000)
    ap.add_argument("--replicas", default="1,2", help="archetype replica counts to run, comma-separated")
    ap.add_argument("--torch-input", default="dense", choices=["dense", "sparse", "both", "none"])
    ap.add_argument("--keep", help="write the data set to this directory and keep it")
    ap.add_argument("--torch-worker", nargs=9, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_worker:
        d, items, hidden, latent, epochs, batch, threads, anneal, mode = a.torch_worker
        run_torch(d, int(items), int(hidden), int(latent), int(epochs), int(batch), int(threads), int(anneal), mode)
        return

    m = generate(a.users, a.items, a.nnz, a.seed)
    train, inputs, targets = split(m, 2000, a.seed)
    print(
        f"{train.shape[0]} training users x {a.items} items, {train.nnz} training non-zeros, "
        f"{len(inputs)} validation users; {a.hidden}/{a.latent}, batch {a.batch}, "
        f"{a.epochs} epochs, {a.threads} threads",
        flush=True,
    )
    modes = {"both": ["dense", "sparse"], "none": []}.get(a.torch_input, [a.torch_input])
    replicas = [int(r) for r in a.replicas.split(",")]
    with tempfile.TemporaryDirectory(prefix="vae-bench-") as tmp:
        d = a.keep or tmp
        os.makedirs(d, exist_ok=True)
        rows = [(train.indices[train.indptr[u] : train.indptr[u + 1]], train.data[train.indptr[u] : train.indptr[u + 1]]) for u in range(train.shape[0])]
        write_csr(d, "train", rows)
        write_csr(d, "val", inputs)
        write_csr(d, "target", [(t, None) for t in targets], with_values=False)
        env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads), OMP_NUM_THREADS=str(a.threads))
        results = []
        for run in range(a.runs):
            jobs = [(f"archetype x{r}", [BIN, d, str(a.items), str(a.hidden), str(a.latent), str(a.epochs), str(a.batch), str(r), str(a.anneal)]) for r in replicas]
            jobs += [(f"torch {mode}", [sys.executable, os.path.abspath(__file__), "0", "0", "0", "--torch-worker", d, str(a.items), str(a.hidden), str(a.latent), str(a.epochs), str(a.batch), str(a.threads), str(a.anneal), mode]) for mode in modes]
            if run % 2 == 1:
                jobs.reverse()
            row = {}
            for label, cmd in jobs:
                rep, stats, _ = measured(label, cmd, env)
                row[label] = (rep, stats)
                print(
                    f"run {run + 1} {label:<14} s/epoch {steady(rep['seconds_per_epoch']):8.3f}  "
                    f"NDCG@100 {rep['validation_ndcg100'][-1]:.4f}  peak {stats['peak_rss_mib']:.0f} MiB  "
                    f"params {rep['parameters']}  epochs {['%.2f' % s for s in rep['seconds_per_epoch']]}",
                    flush=True,
                )
            results.append(row)
            ours = min(steady(v[0]["seconds_per_epoch"]) for k, v in row.items() if k.startswith("archetype"))
            for mode in modes:
                theirs = steady(row[f"torch {mode}"][0]["seconds_per_epoch"])
                print(f"run {run + 1}: archetype (best replica count) / torch {mode} = {ours / theirs:.2f}", flush=True)


if __name__ == "__main__":
    main()
