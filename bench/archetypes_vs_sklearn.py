"""Side-by-side peer for the archetype phase: scikit-learn 1.9 doing what
`cargo run --release -p archetype-archetypes --example phase_bench -- C T D` does, on a matrix
of the same shape and density drawn the same way (numpy's RNG, so not the same cells):
PCA to 100 dims, exact t-SNE for 12 perplexities, OPTICS (xi 0.05) for 4 minimum sizes.

    bench/.venv/bin/python bench/archetypes_vs_sklearn.py 250 1000000 0.05 [perplexities]

`perplexities` (default 12) limits how many of the grid's perplexities run, for a quicker
estimate; the script prints the per-run time so the full grid can be extrapolated.
"""
import sys
import time

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import OPTICS
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

countries = int(sys.argv[1]) if len(sys.argv) > 1 else 250
tracks = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
density = float(sys.argv[3]) if len(sys.argv) > 3 else 0.05
n_perp = int(sys.argv[4]) if len(sys.argv) > 4 else 12
groups = 10

t = np.arange(tracks, dtype=np.float64)
lo, hi = 1e-3, tracks * 10.0
for _ in range(60):
    mid = (lo * hi) ** 0.5
    if np.minimum(mid / (t + mid), 1.0).mean() < density:
        lo = mid
    else:
        hi = mid
base = np.minimum(lo / (t + lo), 1.0)
rng = np.random.default_rng(7)
rows, cols, vals = [], [], []
t0 = time.time()
for i in range(countries):
    g = i % groups
    local = (np.arange(tracks) % groups) == g
    p = base * np.where(local, 1.8, 0.9)
    hit = np.flatnonzero(rng.random(tracks) < p)
    plays = 1e6 / (hit + 10.0) * np.where(local[hit], 3.0, 1.0)
    plays = np.ceil(plays * rng.uniform(0.5, 1.5, hit.size))
    rows.append(np.full(hit.size, i))
    cols.append(hit)
    vals.append(plays)
a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                  shape=(countries, tracks))
print(f"input: {countries} x {tracks}, {a.nnz} non-zeros ({100 * a.nnz / countries / tracks:.1f}%), "
      f"generated in {time.time() - t0:.1f}s")
a = sp.diags(1.0 / np.asarray(a.sum(axis=1)).ravel()) @ a

t1 = time.time()
# PCA of sparse input: arpack with implicit centring (scikit-learn >= 1.4).
pca = PCA(n_components=min(100, countries - 1), svd_solver="arpack", random_state=0)
x = pca.fit_transform(a)
t_pca = time.time() - t1
print(f"PCA: {t_pca:.2f}s, {pca.n_components_} components keep "
      f"{100 * pca.explained_variance_ratio_.sum():.1f}%")

perplexities = [1, 2, 3, 5, 10, 15, 20, 25, 30, 35, 40, 50][:n_perp]
t2 = time.time()
for p in perplexities:
    ts = time.time()
    y = TSNE(perplexity=p, method="exact", init="pca", random_state=0).fit_transform(x)
    tt = time.time() - ts
    to = time.time()
    for m in [2, 3, 4, 5]:
        OPTICS(min_samples=m, xi=0.05).fit(y)
    print(f"perplexity {p}: t-SNE {tt:.2f}s, 4 x OPTICS {time.time() - to:.2f}s", flush=True)
t_grid = time.time() - t2
print(f"grid: {t_grid:.2f}s for {len(perplexities)} perplexities "
      f"(full grid ~{t_grid * 12 / len(perplexities):.1f}s); "
      f"phase ~{t_pca + t_grid * 12 / len(perplexities):.1f}s")
