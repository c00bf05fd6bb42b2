"""Which score should pick the archetype grid's cell? A study on planted country structure.

The archetype phase (archetypes/src/search.rs) runs t-SNE for 12 perplexities and OPTICS (xi
0.05) for 4 minimum sizes on PCA-reduced country vectors, and keeps the cell with the best
score. This script generates countries x tracks play counts with planted archetypes (the
shapes below), runs the same pipeline with scikit-learn (whose exact t-SNE and OPTICS the Rust
code follows step by step), and asks, for each candidate score: how close does the cell it
picks come to the grid's best cell, in adjusted Rand index (ARI, noise -1 a group of its own)
against the planted labels?

    bench/.venv/bin/python bench/grid_criterion_study.py [seeds] [workers]

Grids are cached under $GRID_STUDY_CACHE (default /tmp/grid_study_cache; delete it after
changing the generator).

STABILITY=0 skips the subsample grids (4 more t-SNEs per perplexity; the stability columns
then mean nothing). On the 2-core VM (shared with a build) the 102 grids took about 20
minutes, the subsamples about 45 more, the scores about 10.

Generator (ported to archetypes/src/planted.rs, used by archetypes/examples/grid_criterion.rs
and archetypes/tests/grid_criterion.rs): every country plays a mix of the global hits (Zipf
over GLOBAL tracks, each track's weight jittered per country: countries differ in which hits
they like), its archetype's local music (Zipf over LOCAL tracks of its own block) and its own
music (Zipf over OWN tracks no other country plays). Noise countries have no archetype: their
archetype share goes to their own block instead, so each is an archetype of one. Plays come
from users (LFM-1b's users per country times USER_SCALE, or EQUAL_USERS each), each drawing
DRAWS_PER_USER plays multinomially from the country's mix, with GENRE_SHARE of its global plays
from its favourite genre: a country of few users has few plays and a lopsided genre profile,
so small countries are noisy. Each row is normalised to sum 1 and PCA keeps min(100, n - 1)
dimensions.

Candidates (per cell; noise countries, label -1, score 0 in every silhouette): the old cluster
preservation; silhouette on Euclidean PCA distances, on the map, on self-tuned distances
(d_ij / sqrt(s_i s_j)) and on cosine distances of the PCA scores; DBCV (Moulavi et al. 2014)
in the PCA space and in the map; stability (mean ARI between the cell's clustering restricted
to a random 80% of the countries and the same cell run on those countries alone, 4 subsamples);
consensus (mean ARI with every other cell of the grid); trustworthiness choosing the
perplexity, then the silhouette the size; modularity of the labels on k-NN graphs; products
of these; and the paper's cell (perplexity 5, size 3) as a fixed choice.

Outcome (3 seeds, 102 data sets): consensus x max(silhouette on cosine distances, 0) came
within 0.05 of the grid's best in 76/102 data sets and 24/34 shapes, mean ARI 0.782 against
the best's 0.815, worst gap 0.24; the old score 53/102, 13/34, 0.725, worst gap 0.63. The
Euclidean silhouette, DBCV and stability fail on unequal sizes: the noise of small countries
dominates Euclidean distances, and two tight pairs of big countries with everything else left
out outscore the planted clusters. bench/README.md has the table.
"""
import os
import pickle
import sys
import time
from multiprocessing import Pool

import numpy as np
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import cdist
from sklearn.cluster import OPTICS
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from sklearn.metrics import adjusted_rand_score, silhouette_samples

PERPLEXITIES = [1, 2, 3, 5, 10, 15, 20, 25, 30, 35, 40, 50]
MIN_SIZES = [2, 3, 4, 5]
# LFM-1b's users per country, the 70 countries the pipeline keeps (datagen/src/figures.rs).
LFM_USERS = [10255, 5024, 4578, 4534, 4408, 3886, 1409, 1375, 1243, 1231, 1143, 1077, 1055,
             976, 974, 806, 750, 705, 632, 558, 513, 484, 479, 425, 372, 291, 282, 277, 276,
             272, 272, 253, 237, 236, 220, 202, 192, 175, 165, 164, 162, 159, 135, 122, 118,
             107, 100, 90, 84, 71, 67, 66, 61, 58, 55, 52, 45, 40, 40, 40, 39, 36, 35, 35, 34,
             33, 32, 31, 29, 26]
GLOBAL, LOCAL, OWN = 2000, 150, 50
# Users per country: LFM-1b's counts times USER_SCALE (at least MIN_USERS), or EQUAL_USERS.
USER_SCALE, MIN_USERS, EQUAL_USERS = 0.15, 3, 40
DRAWS_PER_USER = 100
# Each user favours one of GENRES genres (slices of the global tracks) for GENRE_SHARE of its
# global plays, as datagen's users do.
GENRES, GENRE_SHARE = 12, 0.6
# Archetype share of a country's plays: strong and weak signal.
SIGNAL = {"strong": (0.2, 0.35), "weak": (0.09, 0.16)}
OWN_SHARE = (0.05, 0.15)
GLOBAL_JITTER = 0.3  # lognormal sigma of each country's taste for each hit

STABILITY = os.environ.get("STABILITY", "1") == "1"
CACHE = os.environ.get("GRID_STUDY_CACHE", "/tmp/grid_study_cache")


def shapes():
    """(name, K, n, noise countries, unequal sizes, signal)."""
    out = []
    for k, n in [(3, 30), (6, 40), (9, 55), (12, 70)]:
        for noise in [0, round(0.2 * n)]:
            for unequal in [False, True]:
                for signal in ["strong", "weak"]:
                    name = f"K{k}-n{n}-noise{noise}-{'uneq' if unequal else 'eq'}-{signal}"
                    out.append((name, k, n, noise, unequal, signal))
    # The case reported in issue 27: 38 countries, 9 archetypes, 8 noise countries.
    out.append(("K9-n38-noise8-uneq-weak(issue)", 9, 38, 8, True, "weak"))
    out.append(("K9-n38-noise8-uneq-strong(issue)", 9, 38, 8, True, "strong"))
    return out


def zipf(m):
    w = 1.0 / np.arange(1, m + 1)
    return w / w.sum()


def generate(k, n, noise, unequal, signal, seed):
    """Play counts (n x tracks) and planted labels (-1: no archetype)."""
    rng = np.random.default_rng(seed)
    if unequal:
        lfm = np.sort(rng.choice(LFM_USERS, size=n, replace=False))[::-1]
        users = np.maximum(MIN_USERS, np.round(lfm * USER_SCALE)).astype(int)
    else:
        users = np.full(n, EQUAL_USERS)
    # Noise countries spread over all sizes; the rest dealt to archetypes by size, k at a
    # time in a random order (as datagen does), so every archetype gets big and small ones.
    noise_rows = set(rng.choice(n, size=noise, replace=False).tolist()) if noise else set()
    truth = np.full(n, -1)
    members = [i for i in range(n) if i not in noise_rows]
    for g in range(0, len(members), k):
        chunk = members[g:g + k]
        order = rng.permutation(k)[:len(chunk)]
        for i, a in zip(chunk, order):
            truth[i] = a
    tracks = GLOBAL + k * LOCAL + n * OWN
    counts = np.zeros((n, tracks))
    g_w, l_w, o_w = zipf(GLOBAL), zipf(LOCAL), zipf(OWN)
    # Genre j holds the global tracks t with t % GENRES == j, Zipf by their global rank.
    genre_w = [np.where(np.arange(GLOBAL) % GENRES == j, g_w, 0.0) for j in range(GENRES)]
    genre_w = [w / w.sum() for w in genre_w]
    lo, hi = SIGNAL[signal]
    for i in range(n):
        a_share = rng.uniform(lo, hi)
        o_share = rng.uniform(*OWN_SHARE)
        base = np.zeros(tracks)
        glob = g_w * rng.lognormal(0.0, GLOBAL_JITTER, GLOBAL)
        glob /= glob.sum()
        own0 = GLOBAL + k * LOCAL + i * OWN
        if truth[i] >= 0:
            s = GLOBAL + truth[i] * LOCAL
            base[s:s + LOCAL] = a_share * l_w
            base[own0:own0 + OWN] = o_share * o_w
        else:
            base[own0:own0 + OWN] = (a_share + o_share) * o_w
        rest = 1.0 - a_share - o_share
        # Users come in genres: a country of few users has a lopsided genre profile.
        per_genre = rng.multinomial(users[i], np.full(GENRES, 1.0 / GENRES))
        for j, u in enumerate(per_genre):
            if u == 0:
                continue
            mix = base.copy()
            mix[:GLOBAL] = rest * (GENRE_SHARE * genre_w[j] + (1 - GENRE_SHARE) * glob)
            counts[i] += rng.multinomial(int(u) * DRAWS_PER_USER, mix / mix.sum())
    return counts, truth


def pca_scores(counts):
    x = counts / counts.sum(axis=1, keepdims=True)
    n = x.shape[0]
    return PCA(n_components=min(100, n - 1), svd_solver="full").fit_transform(x)


def run_grid(x, perplexities=PERPLEXITIES, init="pca", seed=0):
    """{perplexity: (map, {min size: labels})}"""
    out = {}
    for p in perplexities:
        if p >= x.shape[0]:
            continue
        y = TSNE(perplexity=p, method="exact", init=init, random_state=seed).fit_transform(x)
        out[p] = (y, {m: OPTICS(min_samples=m, xi=0.05).fit(y).labels_ for m in MIN_SIZES})
    return out


def subsample_grids(x, seed, reps=4, share=0.8):
    """Grids on `reps` random subsets of the countries (for the stability criterion)."""
    rng = np.random.default_rng(10_000 + seed)
    n = x.shape[0]
    out = []
    for _ in range(reps):
        keep = np.sort(rng.choice(n, size=int(round(share * n)), replace=False))
        out.append((keep, run_grid(x[keep])))
    return out


def build(args):
    """Generates one data set and runs its grid (cached); with STABILITY also the subsamples."""
    name, k, n, noise, unequal, signal, seed = args
    path = os.path.join(CACHE, f"{name}-s{seed}.pkl")
    sub_path = os.path.join(CACHE, f"{name}-s{seed}-subs.pkl")
    t0 = time.time()
    if not os.path.exists(path):
        counts, truth = generate(k, n, noise, unequal, signal, seed)
        x = pca_scores(counts)
        with open(path, "wb") as f:
            pickle.dump({"x": x, "truth": truth, "grid": run_grid(x),
                         "draws": counts.sum(axis=1)}, f)
        print(f"grid {name} seed {seed}: {time.time() - t0:.0f}s", flush=True)
    if STABILITY and not os.path.exists(sub_path):
        with open(path, "rb") as f:
            x = pickle.load(f)["x"]
        with open(sub_path, "wb") as f:
            pickle.dump(subsample_grids(x, seed), f)
        print(f"subsamples {name} seed {seed}: {time.time() - t0:.0f}s", flush=True)
    return path, sub_path


# ---------------------------------------------------------------- scores of one cell


def n_clusters(labels):
    return int(labels.max()) + 1 if labels.max() >= 0 else 0


def cluster_preservation(sq, labels):
    """The old score (archetypes/src/quality.rs)."""
    n = len(labels)
    total = 0.0
    for i in range(n):
        if labels[i] < 0:
            continue
        mates = int((labels == labels[i]).sum()) - 1
        order = [j for j in np.lexsort((np.arange(n), sq[i])) if j != i][:mates]
        total += (labels[order] == labels[i]).sum() / mates
    return total / n


def silhouette_noise0(x, labels):
    """Mean silhouette over all countries (Euclidean, in `x`), noise countries counting 0."""
    c = labels >= 0
    if n_clusters(labels) < 2:
        return -1.0
    s = silhouette_samples(x[c], labels[c])
    return s.sum() / len(labels)


def dbcv(x, labels):
    """Density-based clustering validation (Moulavi et al. 2014), noise weighted 0."""
    ks = sorted(set(labels[labels >= 0].tolist()))
    if len(ks) < 2:
        return -1.0
    d = x.shape[1]
    dist = cdist(x, x)
    core = np.zeros(len(labels))
    for c in ks:
        idx = np.flatnonzero(labels == c)
        sub = dist[np.ix_(idx, idx)]
        for a, i in enumerate(idx):
            others = np.delete(sub[a], a)
            # all-points core distance: (mean of (1/d)^dim)^(-1/dim), in logs for dim ~ 100
            lg = -d * np.log(np.maximum(others, 1e-300))
            m = lg.max()
            core[i] = np.exp(-(m + np.log(np.exp(lg - m).mean())) / d)
    mr = np.maximum(dist, np.maximum(core[:, None], core[None, :]))
    internal, dsc = {}, {}
    for c in ks:
        idx = np.flatnonzero(labels == c)
        sub = mr[np.ix_(idx, idx)].copy()
        mst = minimum_spanning_tree(np.where(sub > 0, sub, 1e-300)).toarray()
        mst = np.maximum(mst, mst.T)
        deg = (mst > 0).sum(axis=1)
        inner = deg > 1
        if inner.sum() == 0:
            inner = np.ones(len(idx), dtype=bool)
        internal[c] = idx[inner]
        edges = mst[np.ix_(inner, inner)]
        edges = edges[edges > 0]
        if edges.size == 0:
            edges = mst[mst > 0]
        dsc[c] = edges.max()
    total = 0.0
    for c in ks:
        sep = min(mr[np.ix_(internal[c], internal[o])].min() for o in ks if o != c)
        v = (sep - dsc[c]) / max(sep, dsc[c])
        total += (labels == c).sum() * v
    return total / len(labels)


def silhouette_pre(dist, labels):
    """silhouette_noise0 on a precomputed dissimilarity."""
    c = labels >= 0
    if n_clusters(labels) < 2:
        return -1.0
    s = silhouette_samples(dist[np.ix_(c, c)], labels[c], metric="precomputed")
    return s.sum() / len(labels)


def local_scaled(dist, k=7):
    """Self-tuning distances d_ij / sqrt(s_i s_j), s_i the distance to i's k-th neighbour
    (Zelnik-Manor and Perona 2004): a noisy small country, far from everything, is brought
    back to the scale of its neighbourhood."""
    s = np.sort(dist, axis=1)[:, min(k, dist.shape[0] - 1)]
    return dist / np.sqrt(np.outer(s, s))


def knn_graph(dist, k):
    n = dist.shape[0]
    a = np.zeros((n, n))
    for i in range(n):
        order = [j for j in np.argsort(dist[i], kind="stable") if j != i][:k]
        a[i, order] = 1.0
    return np.maximum(a, a.T)


def modularity(a, labels):
    """Newman's modularity of the labels on graph `a`, noise countries as singletons."""
    lab = labels.copy()
    nxt = lab.max() + 1
    for i in np.flatnonzero(lab < 0):
        lab[i] = nxt
        nxt += 1
    two_m = a.sum()
    deg = a.sum(axis=1)
    q = 0.0
    for c in set(lab.tolist()):
        idx = lab == c
        q += a[np.ix_(idx, idx)].sum() / two_m - (deg[idx].sum() / two_m) ** 2
    return q


def ari(a, b):
    return adjusted_rand_score(a, b)


# ---------------------------------------------------------------- the study


def cell_table(data):
    """Per cell: scores of every candidate, plus ARI against the truth."""
    x, truth, grid = data["x"], data["truth"], data["grid"]
    sq = cdist(x, x, "sqeuclidean")
    dist = np.sqrt(sq)
    scaled = local_scaled(dist)
    cosine = cdist(x, x, "cosine")
    graphs = {k: knn_graph(dist, k) for k in (5, 10)}
    cells = []
    for p, (y, labs) in grid.items():
        tw = trustworthiness(x, y, n_neighbors=5)
        for m, lab in labs.items():
            cells.append({
                "p": p, "m": m, "labels": lab, "k": n_clusters(lab),
                "left_out": int((lab < 0).sum()),
                "ari": ari(truth, lab),
                "old": cluster_preservation(sq, lab),
                "sil_pca": silhouette_noise0(x, lab),
                "sil_map": silhouette_noise0(y, lab),
                "sil_scaled": silhouette_pre(scaled, lab),
                "sil_cos": silhouette_pre(cosine, lab),
                "mod5": modularity(graphs[5], lab),
                "mod10": modularity(graphs[10], lab),
                "dbcv_pca": dbcv(x, lab),
                "dbcv_map": dbcv(y, lab),
                "trust": tw,
            })
    # Stability: ARI between the cell's clustering restricted to a subsample and the same
    # cell run on that subsample alone, averaged over the subsamples.
    for c in cells:
        vals = []
        for keep, sub in data["subs"]:
            if c["p"] in sub:
                vals.append(ari(c["labels"][keep], sub[c["p"]][1][c["m"]]))
        c["stab"] = float(np.mean(vals)) if vals else -1.0
    # Consensus: mean ARI with every other cell of the grid (the grid's medoid partition).
    for c in cells:
        c["consensus"] = float(np.mean([ari(c["labels"], o["labels"]) for o in cells if o is not c]))
    return cells


def cells_for(paths):
    """cell_table of one data set, cached next to its grid (delete *-cells.pkl after
    changing a score)."""
    path, sub_path = paths
    cells_path = path.replace(".pkl", "-cells.pkl" if os.path.exists(sub_path) else "-cells-nostab.pkl")
    if os.path.exists(cells_path):
        with open(cells_path, "rb") as f:
            return pickle.load(f)
    with open(path, "rb") as f:
        data = pickle.load(f)
    data["subs"] = []
    if os.path.exists(sub_path):
        with open(sub_path, "rb") as f:
            data["subs"] = pickle.load(f)
    cells = cell_table(data)
    with open(cells_path, "wb") as f:
        pickle.dump(cells, f)
    return cells


def eligible(c):
    return c["k"] >= 2


def pick(cells, key):
    """The cell with the largest key among those with >= 2 clusters (ties: the earlier)."""
    el = [c for c in cells if eligible(c)] or cells
    best = el[0]
    for c in el[1:]:
        if key(c) > key(best):
            best = c
    return best


def criteria():
    def two_stage(map_key, cell_key):
        def choose(cells):
            el = [c for c in cells if eligible(c)]
            ps = sorted(set(c["p"] for c in el))
            best_p = max(ps, key=lambda p: (map_key([c for c in el if c["p"] == p]), -p))
            return pick([c for c in el if c["p"] == best_p], cell_key)
        return choose

    return {
        "old (cluster preservation)": lambda cs: pick(cs, lambda c: (c["old"], c["k"])),
        "silhouette PCA (noise 0)": lambda cs: pick(cs, lambda c: c["sil_pca"]),
        "silhouette map (noise 0)": lambda cs: pick(cs, lambda c: c["sil_map"]),
        "DBCV PCA": lambda cs: pick(cs, lambda c: c["dbcv_pca"]),
        "DBCV map": lambda cs: pick(cs, lambda c: c["dbcv_map"]),
        "stability (subsamples)": lambda cs: pick(cs, lambda c: c["stab"]),
        "consensus (grid medoid)": lambda cs: pick(cs, lambda c: c["consensus"]),
        "trust -> silhouette PCA": two_stage(lambda g: g[0]["trust"], lambda c: c["sil_pca"]),
        "stability x silhouette PCA": lambda cs: pick(cs, lambda c: c["stab"] * max(c["sil_pca"], 0)),
        "consensus x silhouette PCA": lambda cs: pick(cs, lambda c: c["consensus"] * max(c["sil_pca"], 0)),
        "silhouette self-tuned PCA": lambda cs: pick(cs, lambda c: c["sil_scaled"]),
        "modularity 5-NN PCA": lambda cs: pick(cs, lambda c: c["mod5"]),
        "modularity 10-NN PCA": lambda cs: pick(cs, lambda c: c["mod10"]),
        "consensus x modularity 10-NN": lambda cs: pick(cs, lambda c: c["consensus"] * max(c["mod10"], 0)),
        "silhouette cosine PCA (noise 0)": lambda cs: pick(cs, lambda c: c["sil_cos"]),
        "consensus x silhouette cosine": lambda cs: pick(cs, lambda c: c["consensus"] * max(c["sil_cos"], 0)),
        "stability x silhouette cosine": lambda cs: pick(cs, lambda c: c["stab"] * max(c["sil_cos"], 0)),
        "fixed p5 m3 (paper's cell)": lambda cs: next(c for c in cs if c["p"] == 5 and c["m"] == 3),
    }


def report(jobs, tables, crit):
    """Per data set: the best cell and each candidate's ARI; then per candidate, over all
    shapes and per signal: data sets and shapes (means over seeds) within 0.05 of the best,
    mean ARI, worst gap."""
    res = {name: {} for name in crit}
    for job, cells in zip(jobs, tables):
        best = max(cells, key=lambda c: c["ari"])
        picks = [choose(cells) for choose in crit.values()]
        for name, c in zip(crit, picks):
            res[name].setdefault(job[0], []).append((best["ari"], c["ari"]))
        print(f"{job[0]:34} s{job[6]} best {best['ari']:.2f} (p{best['p']} m{best['m']} k{best['k']}) | "
              + " ".join(f"{c['ari']:.2f}" for c in picks), flush=True)

    def stats(per_shape, signal):
        shapes_ = [v for s, v in per_shape.items() if signal in s]
        pairs = [p for v in shapes_ for p in v]
        hits = sum(b - a <= 0.05 for b, a in pairs)
        shape_hits = sum(np.mean([b for b, _ in v]) - np.mean([a for _, a in v]) <= 0.05
                         for v in shapes_)
        return (f"{hits:3d}/{len(pairs):3d} {shape_hits:2d}/{len(shapes_):2d} "
                f"{np.mean([a for _, a in pairs]):.3f} {max(b - a for b, a in pairs):.2f}")

    print(f"\n{len(jobs)} data sets ({len(shapes())} shapes x {len(jobs) // len(shapes())} seeds). "
          "Per candidate: data sets within 0.05 of the grid's best, shapes within 0.05 (means "
          "over seeds), mean ARI, worst gap; all shapes | strong signal | weak signal")
    for name, per_shape in res.items():
        print(f"{name:32} {stats(per_shape, '')} | {stats(per_shape, 'strong')} | "
              f"{stats(per_shape, 'weak')}")
    any_name = next(iter(res))
    best = [b for v in res[any_name].values() for b, _ in v]
    print(f"{'grid best':32} mean ARI {np.mean(best):.3f}")


def main():
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    os.makedirs(CACHE, exist_ok=True)
    jobs = [s + (seed,) for s in shapes() for seed in range(seeds)]
    with Pool(workers) as pool:
        paths = pool.map(build, jobs, chunksize=1)
        tables = pool.map(cells_for, paths, chunksize=1)
    report(jobs, tables, criteria())


if __name__ == "__main__":
    main()
