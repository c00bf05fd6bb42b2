#!/usr/bin/env python3
"""WMF by ALS: archetype's CPU kernels against implicit 0.7.3, side by side, same inputs.

Usage (from the repository root, after `cargo build --release -p archetype-kernels --example
als_bench`):

    bench/.venv/bin/python bench/als_vs_implicit.py USERS ITEMS NNZ [--factors 128]
        [--iterations 5] [--threads 2] [--seed 1] [--runs 1] [--verbose]

Generates an LFM-shaped play-count matrix (log-normal user activity, Zipf track popularity,
play counts summed from sampled events), holds out 20% of the cells of 2,000 users as targets,
turns play counts r into confidences c = 1 + alpha * log(1 + r / eps) (van den Oord et al.,
eq. 2; alpha 2, eps 1), then trains both libraries from the *same* initial factors with CG
(3 steps), the same regularisation and thread count. Each run is a separate process measured by
bench/measure.py (wall, peak RSS of the tree). Reports seconds per iteration (median over
iterations after the first), their ratio, NDCG@100 of the held-out cells for both models, and
the largest difference between the two factor sets.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.join(ROOT, "target", "release", "examples", "als_bench")


def generate(users, items, nnz, seed):
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(mean=0.0, sigma=1.0, size=users)
    activity /= activity.sum()
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    popularity = popularity[rng.permutation(items)]
    popularity /= popularity.sum()
    # Events are drawn until the distinct cells reach nnz; repeats become play counts.
    rows, cols = [], []
    distinct = 0
    batch = max(nnz // 8, 1000)
    while distinct < nnz:
        rows.append(rng.choice(users, size=batch, p=activity).astype(np.int32))
        cols.append(rng.choice(items, size=batch, p=popularity).astype(np.int32))
        m = sp.csr_matrix(
            (np.ones(sum(len(r) for r in rows), np.float32), (np.concatenate(rows), np.concatenate(cols))),
            shape=(users, items),
        )
        m.sum_duplicates()
        distinct = m.nnz
    return m


def split(m, test_users, seed):
    rng = np.random.default_rng(seed + 1)
    lengths = np.diff(m.indptr)
    eligible = np.flatnonzero(lengths >= 5)
    chosen = np.sort(rng.choice(eligible, size=min(test_users, len(eligible)), replace=False))
    # Positions in m.data, so that the hold-out stays vectorised at millions of non-zeros.
    keep = np.ones(m.nnz, dtype=bool)
    targets = {}
    for u in chosen:
        lo, hi = int(m.indptr[u]), int(m.indptr[u + 1])
        t = lo + rng.choice(hi - lo, size=max(1, (hi - lo) // 5), replace=False)
        keep[t] = False
        targets[int(u)] = set(int(c) for c in m.indices[t])
    rows = np.repeat(np.arange(m.shape[0], dtype=np.int32), lengths)
    train = sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)
    train.sort_indices()
    return train, chosen, targets


def ndcg_at(x, y, train, chosen, targets, k=100):
    total = 0.0
    for start in range(0, len(chosen), 256):
        us = chosen[start : start + 256]
        scores = x[us] @ y.T
        for row, u in enumerate(us):
            seen = train.indices[train.indptr[u] : train.indptr[u + 1]]
            scores[row, seen] = -np.inf
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        for row, u in enumerate(us):
            order = top[row][np.argsort(-scores[row, top[row]], kind="stable")]
            t = targets[int(u)]
            gains = np.array([1.0 if int(i) in t else 0.0 for i in order])
            dcg = (gains / np.log2(np.arange(2, k + 2))).sum()
            idcg = (1.0 / np.log2(np.arange(2, min(len(t), k) + 2))).sum()
            total += dcg / idcg
    return total / len(chosen)


def run_implicit(d, users, items, k, iters, threads, lam):
    from threadpoolctl import threadpool_limits
    from implicit.cpu.als import AlternatingLeastSquares

    indptr = np.fromfile(os.path.join(d, "offsets.u64"), dtype=np.uint64).astype(np.int64)
    indices = np.fromfile(os.path.join(d, "indices.u32"), dtype=np.uint32).astype(np.int32)
    conf = np.fromfile(os.path.join(d, "confidence.f32"), dtype=np.float32)
    m = sp.csr_matrix((conf, indices, indptr), shape=(users, items))
    model = AlternatingLeastSquares(
        factors=k,
        regularization=lam,
        alpha=1.0,
        iterations=iters,
        use_cg=True,
        calculate_training_loss=False,
        num_threads=threads,
        random_state=1,
    )
    model.user_factors = np.fromfile(os.path.join(d, "x0.f32"), dtype=np.float32).reshape(users, k)
    model.item_factors = np.fromfile(os.path.join(d, "y0.f32"), dtype=np.float32).reshape(items, k)
    times, cpu = [], []
    last = [time.process_time()]

    def tick(it, secs, loss):
        times.append(secs)
        now = time.process_time()
        cpu.append(now - last[0])
        last[0] = now

    # implicit parallelises over rows with OpenMP (num_threads) and calls single-row BLAS inside
    # each thread; a BLAS thread pool on top oversubscribes the cores (implicit warns about it).
    with threadpool_limits(limits=1, user_api="blas"):
        model.fit(m, show_progress=False, callback=tick)
    model.user_factors.astype(np.float32).tofile(os.path.join(d, "implicit_x.f32"))
    model.item_factors.astype(np.float32).tofile(os.path.join(d, "implicit_y.f32"))
    print(json.dumps({"seconds_per_iteration": times, "cpu_seconds_per_iteration": cpu}))


def measured(label, cmd, env=None):
    p = subprocess.run(
        [sys.executable, os.path.join(HERE, "measure.py"), label, "--", *cmd],
        capture_output=True,
        text=True,
        env=env,
    )
    if p.returncode != 0:
        sys.exit(f"{label} failed:\n{p.stdout}\n{p.stderr}")
    lines = p.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    stats = json.loads(p.stderr.strip().splitlines()[-1])
    return report, stats, lines[:-1]


def steady(v):
    """Median over the iterations after the first (which pays for warm-up)."""
    return float(np.median(v[1:] if len(v) > 1 else v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("users", type=int)
    ap.add_argument("items", type=int)
    ap.add_argument("nnz", type=int)
    ap.add_argument("--factors", type=int, default=128)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lambda", dest="lam", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--keep", help="write the data set to this directory and keep it")
    ap.add_argument("--verbose", action="store_true", help="print archetype's per-phase times")
    ap.add_argument("--implicit-worker", nargs=6, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.implicit_worker:
        d, users, items, k, iters, threads = a.implicit_worker
        run_implicit(d, int(users), int(items), int(k), int(iters), int(threads), a.lam)
        return

    m = generate(a.users, a.items, a.nnz, a.seed)
    train, chosen, targets = split(m, 2000, a.seed)
    conf = (1.0 + 2.0 * np.log1p(train.data / 1.0)).astype(np.float32)
    rng = np.random.default_rng(a.seed + 2)
    x0 = (rng.random((a.users, a.factors), dtype=np.float32) * 0.01).astype(np.float32)
    y0 = (rng.random((a.items, a.factors), dtype=np.float32) * 0.01).astype(np.float32)
    # implicit zeroes the rows without training cells at every solve; archetype's trainer starts
    # them at zero (where CG leaves them). Zeroing them here gives both the same first Gram
    # matrix, so the two runs start from the same point and optimise the same objective.
    x0[np.diff(train.indptr) == 0] = 0.0
    y0[np.bincount(train.indices, minlength=a.items) == 0] = 0.0
    print(
        f"{a.users} users x {a.items} items, {train.nnz} training non-zeros "
        f"({m.nnz} before the hold-out), k = {a.factors}, {a.iterations} iterations, "
        f"{a.threads} threads, lambda {a.lam}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="als-bench-") as tmp:
        d = a.keep or tmp
        os.makedirs(d, exist_ok=True)
        train.indptr.astype(np.uint64).tofile(os.path.join(d, "offsets.u64"))
        train.indices.astype(np.uint32).tofile(os.path.join(d, "indices.u32"))
        conf.tofile(os.path.join(d, "confidence.f32"))
        x0.tofile(os.path.join(d, "x0.f32"))
        y0.tofile(os.path.join(d, "y0.f32"))
        env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
        env_implicit = dict(
            os.environ,
            OMP_NUM_THREADS=str(a.threads),
            OPENBLAS_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
        )
        shape = [str(a.users), str(a.items), str(a.factors)]
        implicit_cmd = [sys.executable, __file__, "0", "0", "0", "--lambda", str(a.lam),
                        "--implicit-worker", d, *shape, str(a.iterations), str(a.threads)]
        ours_cmd = [BIN, "--load", d, *shape, str(a.iterations), str(a.lam)]
        for run in range(a.runs):
            # Alternate the order so that drift of a shared machine does not favour one side.
            order = ["implicit", "archetype"] if run % 2 == 0 else ["archetype", "implicit"]
            res = {}
            for who in order:
                if who == "implicit":
                    res[who] = measured(who, implicit_cmd, env=env_implicit)
                else:
                    res[who] = measured(who, ours_cmd, env=env)
            (ri, si, _), (ro, so, log_o) = res["implicit"], res["archetype"]
            ti, to = ri["seconds_per_iteration"], ro["seconds_per_iteration"]
            mi, mo = steady(ti), steady(to)
            ci = steady(ri["cpu_seconds_per_iteration"]) / mi
            co = steady(ro["cpu_seconds_per_iteration"]) / mo
            xi = np.fromfile(os.path.join(d, "implicit_x.f32"), dtype=np.float32).reshape(a.users, -1)
            yi = np.fromfile(os.path.join(d, "implicit_y.f32"), dtype=np.float32).reshape(a.items, -1)
            xo = np.fromfile(os.path.join(d, "ours_x.f32"), dtype=np.float32).reshape(a.users, -1)
            yo = np.fromfile(os.path.join(d, "ours_y.f32"), dtype=np.float32).reshape(a.items, -1)
            ni = ndcg_at(xi, yi, train, chosen, targets)
            no = ndcg_at(xo, yo, train, chosen, targets)
            diff = max(np.abs(xi - xo).max() / np.abs(xi).max(), np.abs(yi - yo).max() / np.abs(yi).max())
            print(
                f"run {run}: s/iter implicit {mi:.3f}  archetype {mo:.3f}  ratio {mo / mi:.2f}x | "
                f"NDCG@100 implicit {ni:.4f}  archetype {no:.4f}  ({(no - ni) / ni * 100:+.2f}%) | "
                f"peak MiB implicit {si['peak_rss_mib']:.0f}  archetype {so['peak_rss_mib']:.0f} | "
                f"busy cores implicit {ci:.2f}  archetype {co:.2f} | "
                f"max factor diff / max |factor| {diff:.2e}",
                flush=True,
            )
            print(f"  per-iteration s: implicit {[round(t, 3) for t in ti]} archetype {[round(t, 3) for t in to]}")
            if a.verbose:
                for line in log_o:
                    print(f"  archetype: {line}")
            print(json.dumps({
                "run": run, "users": a.users, "items": a.items, "nnz": int(train.nnz),
                "factors": a.factors, "threads": a.threads, "iterations": a.iterations,
                "implicit_s_per_iter": mi, "archetype_s_per_iter": mo, "ratio": mo / mi,
                "implicit_ndcg100": ni, "archetype_ndcg100": no, "ndcg_rel_diff": (no - ni) / ni,
                "implicit_peak_mib": si["peak_rss_mib"], "archetype_peak_mib": so["peak_rss_mib"],
                "implicit_busy_cores": ci, "archetype_busy_cores": co, "factor_diff": float(diff),
            }), flush=True)


if __name__ == "__main__":
    main()
