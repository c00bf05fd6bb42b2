#!/usr/bin/env python3
"""Independent check of archetype's evaluation numbers (numpy + pyarrow, no Rust code shared).

Recomputes, from the job's aggregate Parquet tables alone, the most-popular rankings (MP global,
MP country) and every per-user metric (P, R, NDCG, MAP at each K; paper eqs. 9-12), then compares
them user by user with report/per_user_metrics.parquet and the means with report/report.json.
Also checks the held-out split: validation and test users disjoint, input + target plays equal
the interactions' plays, and the protocol's target share per user. A user's targets follow the
report's rule: held-out tracks, less those also in the input when input tracks are excluded
from the rankings; users left without a target are skipped.

Usage: check_metrics.py OUTPUT_DIR_OR_JOB_DIR [--tol 1e-9]
Exit status 0 when everything agrees within the tolerance, 1 otherwise.
numpy and pyarrow come from bench/.venv (pip install numpy pyarrow); they are not project
dependencies.
"""
import argparse
import json
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

METRICS = ("P", "R", "NDCG", "MAP")


def job_dir(path):
    if os.path.isfile(os.path.join(path, "report", "report.json")):
        return path
    jobs = sorted(
        d for d in os.listdir(path)
        if os.path.isfile(os.path.join(path, d, "report", "report.json"))
    )
    if len(jobs) != 1:
        sys.exit(f"{path}: expected one job directory with report/report.json, found {jobs}")
    return os.path.join(path, jobs[0])


def table(job, name):
    """All parts of a table directory (or a single file) as a dict of numpy arrays."""
    p = os.path.join(job, name)
    if os.path.isdir(p):
        parts = sorted(os.path.join(p, f) for f in os.listdir(p) if f.endswith(".parquet"))
        t = pa.concat_tables([pq.read_table(f) for f in parts])
    else:
        t = pq.read_table(p)
    out = {}
    for c in t.column_names:
        col = t.column(c)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            out[c] = np.array(col.to_pylist(), dtype=object)
        else:
            out[c] = col.to_numpy()
    return out


def round_half_away(x):
    # Rust's f64::round (half away from zero); x >= 0 here.
    return np.floor(x + 0.5).astype(np.int64)


def popularity_ranking(track_idx, plays):
    """Track indices by plays descending, ties by lower track_idx; zero-play tracks left out."""
    track_idx = track_idx.astype(np.int64)
    plays = plays.astype(np.int64)
    keep = plays > 0
    t, p = track_idx[keep], plays[keep]
    order = np.lexsort((t, -p))
    return t[order]


def recommend(rank_rows, users_pos, input_keys, n_tracks, cut, exclude_input):
    """rank_rows: (n_users, L) candidate tracks per user (-1 = padding), in ranking order.
    Returns (n_users, cut) recommendations, -1 where the ranking ran out."""
    n, L = rank_rows.shape
    valid = rank_rows >= 0
    if exclude_input and input_keys.size:
        keys = users_pos[:, None] * n_tracks + np.where(valid, rank_rows, 0)
        valid &= ~np.isin(keys, input_keys)
    pos = np.cumsum(valid, axis=1) - 1
    take = valid & (pos < cut)
    rec = np.full((n, cut), -1, dtype=np.int64)
    r, c = np.nonzero(take)
    rec[r, pos[r, c]] = rank_rows[r, c]
    return rec


def metrics(rec, users_pos, target_keys, n_targets, n_tracks, ks):
    """Per-user metric columns {"P@K": array, ...} for recommendations rec (n_users, max K)."""
    n, cut = rec.shape
    keys = users_pos[:, None] * n_tracks + np.where(rec >= 0, rec, 0)
    rel = (rec >= 0) & np.isin(keys, target_keys)
    rel = rel.astype(np.float64)
    ranks = np.arange(1, cut + 1, dtype=np.float64)
    disc = 1.0 / np.log2(ranks + 1.0)
    cum_hits = np.cumsum(rel, axis=1)
    prec_at_i = cum_hits / ranks
    idcg_cum = np.cumsum(disc)
    out = {}
    for k in ks:
        hits = cum_hits[:, k - 1]
        denom = np.minimum(k, n_targets).astype(np.float64)
        out[f"P@{k}"] = hits / k
        out[f"R@{k}"] = hits / denom
        dcg = (rel[:, :k] * disc[:k]).sum(axis=1)
        idcg = idcg_cum[np.minimum(k, n_targets) - 1]
        out[f"NDCG@{k}"] = dcg / idcg
        out[f"MAP@{k}"] = (prec_at_i[:, :k] * rel[:, :k]).sum(axis=1) / denom
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", help="job output directory, or the output directory holding one job")
    ap.add_argument("--tol", type=float, default=1e-9)
    a = ap.parse_args()
    job = job_dir(a.path)
    tol = a.tol
    failures = []

    rep = json.load(open(os.path.join(job, "report", "report.json")))
    ev = rep["config"]["eval"]
    ks = [int(k) for k in ev["ks"]]
    cut = max(ks)
    exclude_input = bool(ev.get("exclude_input", True))
    protocol = ev.get("protocol", rep.get("protocol"))
    frac = float(ev.get("target_fraction", 0.2))
    split_name = rep.get("split", "test")
    columns = [f"{m}@{k}" for k in ks for m in METRICS]
    print(f"job {job}")
    print(f"protocol={protocol} split={split_name} ks={ks} exclude_input={exclude_input} "
          f"target_fraction={frac}")

    users = table(job, "aggregate/users")
    tracks = table(job, "aggregate/tracks")
    prof = table(job, "aggregate/country_profiles")
    held = table(job, "aggregate/heldout")
    inter = table(job, "aggregate/interactions")
    n_tracks = int(tracks["track_idx"].max()) + 1
    if not np.array_equal(np.sort(tracks["track_idx"]), np.arange(n_tracks)):
        failures.append("tracks.track_idx is not dense 0..n")

    # ---- split checks -------------------------------------------------------------------------
    u_idx = users["user_idx"].astype(np.int64)
    if np.unique(u_idx).size != u_idx.size:
        failures.append("users.user_idx not unique")
    split = users["split"]
    val_u = np.unique(u_idx[split == "validation"])
    test_u = np.unique(u_idx[split == "test"])
    both = np.intersect1d(val_u, test_u)
    print(f"\nsplit: {(split == 'train').sum()} train, {val_u.size} validation, {test_u.size} test "
          f"users; validation & test overlap: {both.size}")
    if both.size:
        failures.append(f"{both.size} users both validation and test")

    h_u = held["user_idx"].astype(np.int64)
    h_t = held["track_idx"].astype(np.int64)
    h_in = held["input_plays"].astype(np.int64)
    h_tg = held["target_plays"].astype(np.int64)
    i_u = inter["user_idx"].astype(np.int64)
    i_t = inter["track_idx"].astype(np.int64)
    i_p = inter["plays"].astype(np.int64)
    held_users = np.unique(h_u)
    ho_users = np.union1d(val_u, test_u)
    if not np.array_equal(held_users, ho_users):
        failures.append(
            f"heldout users != validation+test users ({held_users.size} vs {ho_users.size})")
    h_key = h_u * n_tracks + h_t
    i_key = i_u * n_tracks + i_t
    if np.unique(h_key).size != h_key.size:
        failures.append("duplicate (user, track) rows in heldout")
    # interactions of held-out users, joined with heldout by key
    i_ho = np.isin(i_u, ho_users)
    ik, ip = i_key[i_ho], i_p[i_ho]
    o = np.argsort(ik)
    ik, ip = ik[o], ip[o]
    loc = np.searchsorted(ik, h_key)
    found = (loc < ik.size) & (ik[np.minimum(loc, ik.size - 1)] == h_key)
    sums_ok = found & (ip[np.minimum(loc, ik.size - 1)] == h_in + h_tg)
    missing_in_held = np.setdiff1d(ik, h_key).size
    print(f"heldout rows: {h_key.size}; input+target == interactions.plays: "
          f"{sums_ok.sum()}/{h_key.size}; held-out users' interactions missing from heldout: "
          f"{missing_in_held}")
    if not sums_ok.all():
        failures.append(f"{(~sums_ok).sum()} heldout rows whose input+target != interactions plays")
    if missing_in_held:
        failures.append(f"{missing_in_held} held-out interactions missing from heldout")

    # per-user share check
    uu, inv = np.unique(h_u, return_inverse=True)
    tot = np.bincount(inv, weights=h_in + h_tg).astype(np.int64)
    tgt = np.bincount(inv, weights=h_tg).astype(np.int64)
    if protocol == "tracks":
        n_distinct = np.bincount(inv)
        n_tgt_tracks = np.bincount(inv, weights=(h_tg > 0)).astype(np.int64)
        want = round_half_away(frac * n_distinct)
        ok = n_tgt_tracks == want
        overlap = (h_in > 0) & (h_tg > 0)
        empty = (h_in == 0) & (h_tg == 0)
        print(f"tracks protocol: target tracks == round({frac} * distinct tracks) for "
              f"{ok.sum()}/{uu.size} held-out users; rows with both input and target plays: "
              f"{overlap.sum()}; rows with neither: {empty.sum()}")
        if overlap.any():
            failures.append(f"{overlap.sum()} heldout rows on both input and target side")
        if empty.any():
            failures.append(f"{empty.sum()} heldout rows with no plays")
    else:
        want = round_half_away(frac * tot)
        ok = tgt == want
        print(f"events protocol: target plays == round({frac} * total plays) for "
              f"{ok.sum()}/{uu.size} held-out users")
    if not ok.all():
        failures.append(f"{(~ok).sum()} held-out users with the wrong target share")

    # ---- popularity counts (extra: train_plays recomputed from interactions) -------------------
    train_u = u_idx[split == "train"]
    tr = np.isin(i_u, train_u)
    tp = np.bincount(i_t[tr], weights=i_p[tr], minlength=n_tracks).astype(np.int64)
    tp_rep = np.zeros(n_tracks, dtype=np.int64)
    tp_rep[tracks["track_idx"].astype(np.int64)] = tracks["train_plays"].astype(np.int64)
    bad_tp = int((tp != tp_rep).sum())
    u_country = dict(zip(u_idx.tolist(), users["country"].tolist()))
    i_c = np.array([u_country.get(u) for u in i_u[tr].tolist()], dtype=object)
    p_c = prof["country"]
    p_t = prof["track_idx"].astype(np.int64)
    p_tp = prof["train_plays"].astype(np.int64)
    bad_ctp = 0
    for c in np.unique(p_c):
        m = i_c == c
        want_c = np.bincount(i_t[tr][m], weights=i_p[tr][m], minlength=n_tracks).astype(np.int64)
        got_c = np.zeros(n_tracks, dtype=np.int64)
        got_c[p_t[p_c == c]] = p_tp[p_c == c]
        bad_ctp += int((want_c != got_c).sum())
    print(f"train_plays recomputed from training users' interactions: {bad_tp} track and "
          f"{bad_ctp} (country, track) mismatches")
    if bad_tp or bad_ctp:
        failures.append(f"train_plays mismatches: {bad_tp} tracks, {bad_ctp} country tracks")

    # ---- rankings and metrics -----------------------------------------------------------------
    split_users = test_u if split_name == "test" else val_u
    s_rows = np.isin(h_u, split_users)
    su, sinv = np.unique(h_u[s_rows], return_inverse=True)
    # A track is a target when it has held-out plays and, if input tracks are excluded from
    # the rankings, none in the input (a replay could never be recommended).
    is_target = (h_tg > 0) & ~((h_in > 0) & exclude_input)
    n_tg = np.bincount(sinv, weights=is_target[s_rows], minlength=su.size).astype(np.int64)
    n_in = np.bincount(sinv, weights=(h_in[s_rows] > 0), minlength=su.size).astype(np.int64)
    ev_users = su[n_tg > 0]  # users without targets are skipped
    ev_ntg = n_tg[n_tg > 0]
    pos = np.arange(ev_users.size, dtype=np.int64)
    pos_of = dict(zip(ev_users.tolist(), pos.tolist()))
    in_mask = s_rows & (h_in > 0) & np.isin(h_u, ev_users)
    tg_mask = s_rows & is_target & np.isin(h_u, ev_users)
    to_pos = np.vectorize(pos_of.__getitem__, otypes=[np.int64])
    input_keys = (to_pos(h_u[in_mask]) * n_tracks + h_t[in_mask]) if in_mask.any() else np.zeros(0, np.int64)
    target_keys = to_pos(h_u[tg_mask]) * n_tracks + h_t[tg_mask]
    L = cut + (int(n_in.max()) if (exclude_input and n_in.size) else 0)
    print(f"\n{split_name} users: {su.size} held out, {ev_users.size} with targets "
          f"({su.size - ev_users.size} skipped); ranking prefix scanned: {L}")
    rep_skipped = rep.get("users_without_target")
    if rep_skipped is not None and rep_skipped != su.size - ev_users.size:
        failures.append(f"users without a target: {su.size - ev_users.size}, "
                        f"report.json says {rep_skipped}")

    def padded(r):
        r = r[:L]
        return np.concatenate([r, np.full(L - r.size, -1, dtype=np.int64)])

    glob = padded(popularity_ranking(tracks["track_idx"], tracks["train_plays"]))
    country_rank = {}
    for c in np.unique(p_c):
        m = p_c == c
        r = popularity_ranking(p_t[m], p_tp[m])
        if r.size:
            country_rank[c] = padded(r)
    ev_country = [u_country.get(u) for u in ev_users.tolist()]
    fallback = sum(1 for c in ev_country if c not in country_rank)
    rows = {
        "MP global": np.tile(glob, (ev_users.size, 1)),
        "MP country": np.stack([country_rank.get(c, glob) for c in ev_country])
        if ev_users.size else np.zeros((0, L), np.int64),
    }
    ours = {}
    recs = {}
    for model, rr in rows.items():
        recs[model] = recommend(rr, pos, input_keys, n_tracks, cut, exclude_input)
        ours[model] = metrics(recs[model], pos, target_keys, ev_ntg, n_tracks, ks)
    print(f"MP country fallbacks to the global ranking: {fallback} "
          f"(report.json: {rep.get('fallback_users', {}).get('MP country')})")
    rep_fb = rep.get("fallback_users", {}).get("MP country")
    if rep_fb is not None and rep_fb != fallback:
        failures.append(f"MP country fallback count {fallback} != report's {rep_fb}")

    # ---- comparison ---------------------------------------------------------------------------
    pum = table(job, "report/per_user_metrics.parquet")
    rep_rows = {r["name"]: r for r in rep["report"]["rows"]}
    hdr = ["model", "users", "ours"] + columns + ["means |diff|"]
    lines = []
    for model in ("MP global", "MP country"):
        m = (pum["model"] == model) & (pum["split"] == split_name)
        their_u = pum["user_idx"][m].astype(np.int64)
        same = np.array_equal(np.sort(their_u), ev_users)
        if np.unique(their_u).size != their_u.size:
            failures.append(f"{model}: duplicate users in per_user_metrics")
        if not same:
            only_them = np.setdiff1d(their_u, ev_users)
            only_us = np.setdiff1d(ev_users, their_u)
            failures.append(f"{model}: user sets differ (only in parquet: {only_them.tolist()[:10]},"
                            f" only here: {only_us.tolist()[:10]})")
        common, ia, ib = np.intersect1d(their_u, ev_users, return_indices=True)
        # user_id / country columns agree with the users table
        uid = dict(zip(u_idx.tolist(), users["user_id"].tolist()))
        bad_meta = sum(
            1 for u, i, c in zip(their_u.tolist(), pum["user_id"][m].tolist(),
                                 pum["country"][m].tolist())
            if uid.get(u) != i or u_country.get(u) != c)
        if bad_meta:
            failures.append(f"{model}: {bad_meta} per-user rows with wrong user_id/country")
        diffs = []
        for col in columns:
            d = np.abs(pum[col][m][ia] - ours[model][col][ib])
            diffs.append(float(d.max()) if d.size else 0.0)
        rr = rep_rows.get(model)
        if rr is None or rr.get("status", {}).get("state") != "evaluated":
            failures.append(f"{model}: not evaluated in report.json")
            mean_d = float("nan")
        else:
            our_means = np.array([ours[model][c].mean() for c in columns])
            mean_d = float(np.max(np.abs(our_means - np.array(rr["means"], dtype=np.float64))))
            n_rep = rr["status"].get("users")
            if n_rep != ev_users.size:
                failures.append(f"{model}: report.json users {n_rep} != {ev_users.size}")
        if max(diffs) > tol or not (mean_d <= tol):
            failures.append(f"{model}: max per-user diff {max(diffs):.3g}, means diff {mean_d:.3g}")
        lines.append([model, f"{common.size}/{their_u.size}", str(ev_users.size)]
                     + [f"{d:.1e}" for d in diffs] + [f"{mean_d:.1e}"])

    w = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(hdr)]
    print("\nmax |ours - archetype| per user (users: compared/in parquet; ours: users evaluated here)")
    print("  ".join(h.ljust(w[i]) if i == 0 else h.rjust(w[i]) for i, h in enumerate(hdr)))
    for l in lines:
        print("  ".join(v.ljust(w[i]) if i == 0 else v.rjust(w[i]) for i, v in enumerate(l)))

    print("\nmeans (ours)")
    print("model       " + "  ".join(f"{c:>9}" for c in columns))
    for model in ("MP global", "MP country"):
        print(f"{model:<11} " + "  ".join(f"{ours[model][c].mean():9.4f}" for c in columns))

    # coverage: informational only (definition assumed: distinct tracks in the top K over the
    # evaluated users / catalogue tracks); not part of the pass/fail verdict
    cat = rep.get("catalogue_tracks", n_tracks)
    for model in ("MP global", "MP country"):
        rr = rep_rows.get(model, {})
        cov = [np.unique(recs[model][:, :k][recs[model][:, :k] >= 0]).size / cat for k in ks]
        print(f"coverage {model}: ours " + ", ".join(f"Cov@{k}={c:.6f}" for k, c in zip(ks, cov))
              + f"; report {rr.get('coverage')} (informational)")

    if failures:
        print("\nFAIL")
        for f in failures:
            print("  - " + f)
        sys.exit(1)
    print(f"\nOK: every difference <= {tol:g}")


if __name__ == "__main__":
    main()
