"""Reference numbers for archetypes/tests/sklearn_reference.rs.

Builds small fixed inputs deterministically, runs scikit-learn's exact t-SNE and OPTICS on
them and prints a Rust module of constants (inputs and outputs) to stdout.

    bench/.venv/bin/python bench/sklearn_reference.py > /tmp/reference.rs
    bench/.venv/bin/python bench/sklearn_reference.py --sensitivity

The printed module is pasted verbatim into the test file (between the BEGIN/END markers).
Small inputs are rounded to a few decimals so that their decimal literals are exact inputs
for both numpy and Rust; the two 100-dimensional ones come from an integer LCG that the Rust
test re-implements. f64 values are printed with Python's shortest round-trip repr and f32
values with numpy's float32 repr, so each literal parses to exactly the value sklearn had.
With --sensitivity it instead reports how much sklearn's final maps move when its initial
embedding is nudged by one f32 ulp (why the Rust test demands bit-identical runs).
"""

import sys

import numpy as np
import scipy
import sklearn
from scipy.spatial.distance import squareform
from sklearn.cluster import OPTICS, cluster_optics_xi
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.manifold._t_sne import _joint_probabilities, _kl_divergence
from sklearn.metrics import pairwise_distances

out = []


def emit(line=""):
    out.append(line)


def f64(x):
    x = float(x)
    if np.isinf(x):
        return "f64::INFINITY" if x > 0 else "f64::NEG_INFINITY"
    r = repr(x)
    if "e" not in r and "." not in r:
        r += ".0"
    return r


def f32(x):
    r = str(np.float32(x))
    if "e" not in r and "." not in r:
        r += ".0"
    return r


def array(name, ty, values, fmt, per_line=6):
    values = list(values)
    emit(f"pub const {name}: [{ty}; {len(values)}] = [")
    for k in range(0, len(values), per_line):
        emit("    " + ", ".join(fmt(v) for v in values[k : k + per_line]) + ",")
    emit("];")


def usize_array(name, values):
    array(name, "usize", values, lambda v: str(int(v)), per_line=20)


def i32_array(name, values):
    array(name, "i32", values, lambda v: str(int(v)), per_line=20)


def opt_array(name, values):
    array(
        name,
        "Option<usize>",
        values,
        lambda v: "None" if v < 0 else f"Some({int(v)})",
        per_line=10,
    )


def pairs(name, clusters):
    clusters = np.asarray(clusters).reshape(-1, 2)
    emit(f"pub const {name}: [(usize, usize); {len(clusters)}] = [")
    for s, e in clusters:
        emit(f"    ({int(s)}, {int(e)}),")
    emit("];")


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------
rng = np.random.default_rng(20240607)
# 30 points in 5 dims, three blobs of ten.
centres = rng.normal(0.0, 4.0, size=(3, 5))
blobs = np.round(np.repeat(centres, 10, axis=0) + rng.normal(0.0, 1.0, (30, 5)), 4)
# 12 points in 3 dims.
small = np.round(rng.uniform(-1.0, 1.0, (12, 3)), 3)
# 70 "countries" in 20 dims: a few latent groups plus noise (the paper's setting is 70 x 100).
groups = rng.normal(0.0, 1.0, (5, 20))
membership = rng.integers(0, 5, 70)
countries = np.round(groups[membership] * 0.8 + rng.normal(0.0, 0.5, (70, 20)), 3)
# OPTICS ties: a 2-D lattice with exact duplicates and equal spacings.
ties = np.array(
    [
        [0, 0], [0, 0], [1, 0], [0, 1], [1, 1], [1, 1], [2, 0], [0, 2],
        [5, 5], [5, 6], [6, 5], [6, 6], [5, 5], [9, 0], [9, 1], [10, 0],
        [10, 1], [9, 0], [20, 20], [3, 3],
    ],
    dtype=np.float64,
)  # fmt: skip


def lcg_points(seed, n, d, groups):
    """Points in thousandths from a 64-bit LCG, reproduced by `lcg_points` in the Rust test
    (too many values for literals): `groups` centres in [-2, 2]^d, member i of group
    i % groups, plus noise in [-0.4, 0.4]. Integer arithmetic, then one exact division."""
    state = seed

    def draw(m):
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        return (state >> 33) % m

    means = [[2 * (draw(2001) - 1000) for _ in range(d)] for _ in range(groups)]
    rows = [[means[i % groups][j] + draw(801) - 400 for j in range(d)] for i in range(n)]
    return np.array(rows, dtype=np.int64).astype(np.float64) / 1000.0


# The paper's shapes: 70 countries and the 250-point upper bound, both in 100 PCA dims.
paper70 = lcg_points(1, 70, 100, 6)
paper250 = lcg_points(2, 250, 100, 8)


def sensitivity():
    """How far sklearn's own final map moves when one coordinate of its initial embedding is
    nudged by one f32 ulp: the justification for demanding bit-identical runs in Rust."""
    cases = [
        ("blobs, perplexity 5", blobs, 5.0, "auto"),
        ("blobs, perplexity 10, lr 200", blobs, 10.0, 200.0),
        ("small, perplexity 3", small, 3.0, "auto"),
        ("countries, perplexity 5", countries, 5.0, "auto"),
    ]
    for name, X, perplexity, lr in cases:
        Y0 = PCA(n_components=2, random_state=0).fit_transform(X).astype(np.float32)
        Y0 = Y0 / np.std(Y0[:, 0]) * 1e-4

        def run(init):
            t = TSNE(perplexity=perplexity, method="exact", init=init, learning_rate=lr)
            return t.fit_transform(X), t.kl_divergence_

        base, base_kl = run(Y0.copy())
        extent = np.abs(base).max()
        moves = []
        for trial in range(6):
            Y1 = Y0.copy().ravel()
            k = trial * 7 % Y1.size
            Y1[k] = np.nextafter(Y1[k], np.float32(np.inf))
            Y, kl = run(Y1.reshape(Y0.shape))
            moved = np.abs(Y - base).max() / extent
            moves.append(f"{moved:.2f}x extent, KL {abs(kl - base_kl) / base_kl:.1e}")
        print(f"{name}: " + "; ".join(moves))


if "--sensitivity" in sys.argv:
    sensitivity()
    sys.exit(0)

emit("// Generated by bench/sklearn_reference.py; do not edit by hand.")
emit(
    f"// python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}, "
    f"scikit-learn {sklearn.__version__}"
)
array("BLOBS", "f64", blobs.ravel(), f64)
array("SMALL", "f64", small.ravel(), f64)
array("COUNTRIES", "f64", countries.ravel(), f64, per_line=10)
array("TIES", "f64", ties.ravel(), f64, per_line=10)

# ---------------------------------------------------------------------------------------
# t-SNE
# ---------------------------------------------------------------------------------------


def emit_gradients(tag, Y0, P, n):
    """sklearn's KL and gradient at the initial embedding, plain and with P * 12 (the
    early-exaggeration phase multiplies the condensed P in place)."""
    kl, grad = _kl_divergence(Y0.ravel().copy(), P, 1, n, 2)
    assert grad.dtype == np.float32
    emit(f"pub const {tag}_INIT_KL: f64 = {f64(kl)};")
    array(f"{tag}_INIT_GRAD", "f32", grad, f32)
    kl_x, grad_x = _kl_divergence(Y0.ravel().copy(), P * 12.0, 1, n, 2)
    emit(f"pub const {tag}_INIT_KL_EXAGGERATED: f64 = {f64(kl_x)};")
    array(f"{tag}_INIT_GRAD_EXAGGERATED", "f32", grad_x, f32)


def tsne_reference(tag, X, perplexity, learning_rate="auto", sq_tag=None, gradient=True):
    """sq_tag: emit the f32 squared distances (once per input) and P (small inputs only)."""
    n = X.shape[0]
    sq = pairwise_distances(X, metric="euclidean", squared=True)
    P = _joint_probabilities(sq, perplexity, 0)
    if sq_tag is not None:
        if sq_tag == tag:
            array(f"{tag}_SQ32", "f32", squareform(sq.astype(np.float32), checks=False), f32)
        array(f"{tag}_P", "f64", P, f64, per_line=4)
    # The initial embedding exactly as TSNE._fit builds it for init="pca".
    init = PCA(n_components=2, random_state=np.random.RandomState(0))
    init.set_output(transform="default")
    Y0 = init.fit_transform(X).astype(np.float32, copy=False)
    Y0 = Y0 / np.std(Y0[:, 0]) * 1e-4
    assert Y0.dtype == np.float32
    array(f"{tag}_INIT", "f32", Y0.ravel(), f32)
    if gradient:
        emit_gradients(tag, Y0, P, n)
    t = TSNE(
        n_components=2,
        perplexity=perplexity,
        method="exact",
        init="pca",
        learning_rate=learning_rate,
        random_state=0,
    )
    Y = t.fit_transform(X)
    assert Y.dtype == np.float32
    # The init above must be the one TSNE used: rerunning from it gives the same map.
    Y_again = TSNE(
        n_components=2,
        perplexity=perplexity,
        method="exact",
        init=Y0.copy(),
        learning_rate=learning_rate,
    ).fit_transform(X)
    assert np.array_equal(Y, Y_again)
    array(f"{tag}_EMBEDDING", "f32", Y.ravel(), f32)
    emit(f"pub const {tag}_KL: f64 = {f64(t.kl_divergence_)};")
    emit(f"pub const {tag}_N_ITER: usize = {int(t.n_iter_)};")
    return Y


tsne_reference("BLOBS_PERP5", blobs, 5.0, sq_tag="BLOBS_PERP5")
tsne_reference("BLOBS_PERP10_LR200", blobs, 10.0, learning_rate=200.0, sq_tag="BLOBS_PERP5")
tsne_reference("SMALL_PERP3", small, 3.0, sq_tag="SMALL_PERP3")
countries_map = tsne_reference("COUNTRIES_PERP5", countries, 5.0)
tsne_reference("PAPER70_PERP5", paper70, 5.0, gradient=False)
tsne_reference("PAPER250_PERP5", paper250, 5.0, gradient=False)

# ---------------------------------------------------------------------------------------
# OPTICS
# ---------------------------------------------------------------------------------------


def optics_reference(tag, X, min_samples, xi=0.05):
    o = OPTICS(min_samples=min_samples, xi=xi).fit(X)
    emit(f"pub mod {tag.lower()} {{")
    usize_array("ORDERING", o.ordering_)
    array("REACHABILITY", "f64", o.reachability_, f64, per_line=4)
    array("CORE", "f64", o.core_distances_, f64, per_line=4)
    opt_array("PREDECESSOR", o.predecessor_)
    i32_array("LABELS", o.labels_)
    pairs("CLUSTERS", o.cluster_hierarchy_)
    emit("}")


for m in (2, 3, 5):
    optics_reference(f"OPTICS_BLOBS_MS{m}", blobs, m)
    optics_reference(f"OPTICS_TIES_MS{m}", ties, m)
# min_samples >= n / 2 makes sklearn use brute-force neighbours (|x|^2 - 2 x.y + |y|^2).
optics_reference("OPTICS_BLOBS_MS15", blobs, 15)
# OPTICS on sklearn's own 2-D map of the 70 points: the paper's pipeline.
countries_map64 = countries_map.astype(np.float64)
for m in (3, 4):
    optics_reference(f"OPTICS_MAP_MS{m}", countries_map64, m)

# A hand-made reachability plot (ordering = identity, each point reached from the previous
# one) with three flat valleys separated by jumps.
plot = np.array(
    [np.inf, 1.0, 1.0, 1.02, 1.0, 5.0, 1.01, 1.0, 1.03, 1.0, 10.0, 2.0, 2.0, 2.04, 2.0]
)
pred = np.array([-1] + list(range(len(plot) - 1)))
order = np.arange(len(plot))
for m in (2, 3, 5):
    labels, clusters = cluster_optics_xi(
        reachability=plot, predecessor=pred, ordering=order, min_samples=m, xi=0.05
    )
    i32_array(f"HAND_MS{m}_LABELS", labels)
    pairs(f"HAND_MS{m}_CLUSTERS", clusters)
# A minimum cluster size of 6 leaves only the clusters spanning several valleys.
labels, clusters = cluster_optics_xi(
    reachability=plot,
    predecessor=pred,
    ordering=order,
    min_samples=2,
    min_cluster_size=6,
    xi=0.05,
)
i32_array("HAND_MS2_MCS6_LABELS", labels)
pairs("HAND_MS2_MCS6_CLUSTERS", clusters)

print("\n".join(out))
