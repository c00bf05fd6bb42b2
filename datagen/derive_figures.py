#!/usr/bin/env python3
"""Derive the summary figures that shape archetype-datagen's synthetic users.

Reads the real LFM-1b user table and prints Rust source on stdout, to be
stored as datagen/src/figures.rs.  Only aggregates leave the data file:
per-country counts, histograms and quantiles (no individual rows).  Countries
with fewer than MIN_DEMOGRAPHIC_USERS users are pooled for the per-country
demographics so that no row can be read back from the figures.

Usage (stdlib only):
    python3 datagen/derive_figures.py /work/shared/data/LFM-1b_users.txt \
        > datagen/src/figures.rs
"""

import collections
import sys

QUANTILE_STEPS = 1000
MIN_DEMOGRAPHIC_USERS = 20
SOURCE_EVENTS = 1_088_161_692


def quantiles(values, steps=QUANTILE_STEPS):
    """Nearest-rank quantiles at 0/steps .. steps/steps (steps + 1 values)."""
    s = sorted(values)
    n = len(s)
    return [s[round(q * (n - 1) / steps)] for q in range(steps + 1)]


def rust_array(name, ty, values, doc, per_line=10):
    out = [f"/// {line}" for line in doc]
    out.append(f"pub const {name}: [{ty}; {len(values)}] = [")
    for i in range(0, len(values), per_line):
        chunk = ", ".join(f"{v:_}" if abs(v) >= 10_000 else str(v) for v in values[i:i + per_line])
        out.append(f"    {chunk},")
    out.append("];")
    return "\n".join(out)


class Demo:
    def __init__(self):
        self.users = 0
        self.gender = collections.Counter()
        self.age_known = 0
        self.age_sum = 0

    def add(self, age, gender):
        self.users += 1
        self.gender[gender] += 1
        if age >= 0:
            self.age_known += 1
            self.age_sum += age

    def rust(self):
        mean = self.age_sum / self.age_known if self.age_known else 0.0
        return (
            f"Demographics {{ users: {self.users}, male: {self.gender['m']}, "
            f"female: {self.gender['f']}, neutral: {self.gender['n']}, "
            f"unset: {self.gender['']}, age_known: {self.age_known}, mean_age: {mean:.2f} }}"
        )


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/LFM-1b_users.txt"
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        assert header == ["user_id", "country", "age", "gender", "playcount", "registered_unixtime"], header
        for line in f:
            uid, country, age, gender, playcount, reg = line.rstrip("\n").split("\t")
            rows.append((int(uid), country, int(age), gender, int(playcount), int(reg)))

    n = len(rows)
    countries = collections.Counter(r[1] for r in rows)
    genders = collections.Counter(r[3] for r in rows)
    ages = collections.Counter(r[2] for r in rows)
    demo = collections.defaultdict(Demo)
    for _, country, age, gender, _, _ in rows:
        demo[country].add(age, gender)
    pooled = Demo()
    for code, d in demo.items():
        if code and d.users < MIN_DEMOGRAPHIC_USERS:
            pooled.users += d.users
            pooled.gender.update(d.gender)
            pooled.age_known += d.age_known
            pooled.age_sum += d.age_sum

    pc_missing = sum(1 for r in rows if r[4] < 0)
    pc_with = [r[4] for r in rows if r[4] >= 0 and r[1]]
    pc_without = [r[4] for r in rows if r[4] >= 0 and not r[1]]
    reg = [r[5] for r in rows]
    ids = sorted(r[0] for r in rows)
    gaps = [b - a for a, b in zip(ids, ids[1:])]
    reg_sorted_share = sum(1 for a, b in zip(reg, reg[1:]) if b >= a) / (n - 1)

    ranked = sorted(((c, k) for k, c in countries.items() if k), key=lambda t: (-t[0], t[1]))
    out = []
    out.append("//! Figures derived from the real LFM-1b user table (`LFM-1b_users.txt`).")
    out.append("//!")
    out.append("//! GENERATED FILE, do not edit by hand.  Only aggregates of the real data are")
    out.append("//! kept here (counts, histograms, quantiles); the data itself is not part of")
    out.append("//! the project.  Regenerate with:")
    out.append("//!")
    out.append("//! ```text")
    out.append("//! python3 datagen/derive_figures.py /work/shared/data/LFM-1b_users.txt \\")
    out.append("//!     > datagen/src/figures.rs")
    out.append("//! ```")
    out.append("//!")
    out.append(f"//! Quantile arrays hold {QUANTILE_STEPS + 1} nearest-rank values at 0/{QUANTILE_STEPS} .. "
               f"{QUANTILE_STEPS}/{QUANTILE_STEPS}.")
    out.append(f"//! Registration time is non-decreasing in user id for {reg_sorted_share:.4%} of")
    out.append("//! consecutive rows, which is why the generator assigns sorted registration")
    out.append("//! times to ascending user ids.")
    out.append("")
    out.append("/// Users in the real table.")
    out.append(f"pub const SOURCE_USERS: u32 = {n:_};")
    out.append("/// Listening events in the real `LFM-1b_LEs.txt`.")
    out.append(f"pub const SOURCE_EVENTS: u64 = {SOURCE_EVENTS:_};")
    out.append("/// Users whose country field is empty.")
    out.append(f"pub const EMPTY_COUNTRY_USERS: u32 = {countries['']:_};")
    out.append("/// Users whose playcount is -1.")
    out.append(f"pub const PLAYCOUNT_MISSING_USERS: u32 = {pc_missing};")
    out.append("/// Smallest user id in the real table.")
    out.append(f"pub const USER_ID_FIRST: u64 = {ids[0]};")
    out.append("")
    out.append("/// Non-empty country codes with their user counts, most users first.  Great")
    out.append("/// Britain is `UK`, as in the real file.")
    out.append("pub const COUNTRY_USERS: &[(&str, u32)] = &[")
    for c, k in ranked:
        out.append(f'    ("{k}", {c}),')
    out.append("];")
    out.append("")
    out.append("/// Gender field values with their user counts (`n` = not given, empty = missing).")
    out.append("pub const GENDER_USERS: &[(&str, u32)] = &[")
    for k in ["m", "f", "n", ""]:
        out.append(f'    ("{k}", {genders[k]}),')
    out.append("];")
    out.append("")
    out.append("/// Age histogram: every distinct age field value (including -1 = unknown and")
    out.append("/// the implausible 0-9 and 100+ values) with its user count.")
    out.append("pub const AGE_USERS: &[(i32, u32)] = &[")
    for a in sorted(ages):
        out.append(f"    ({a}, {ages[a]}),")
    out.append("];")
    out.append("")
    out.append("/// Gender counts and age coverage of one group of users.")
    out.append("#[derive(Debug, Clone, Copy, PartialEq)]")
    out.append("pub struct Demographics {")
    out.append("    /// Users in the group.")
    out.append("    pub users: u32,")
    out.append("    /// Users with gender `m`.")
    out.append("    pub male: u32,")
    out.append("    /// Users with gender `f`.")
    out.append("    pub female: u32,")
    out.append("    /// Users with gender `n`.")
    out.append("    pub neutral: u32,")
    out.append("    /// Users with an empty gender field.")
    out.append("    pub unset: u32,")
    out.append("    /// Users whose age is not -1.")
    out.append("    pub age_known: u32,")
    out.append("    /// Mean of the known ages.")
    out.append("    pub mean_age: f64,")
    out.append("}")
    out.append("")
    out.append(f"/// Per-country demographics for the empty country (`\"\"`) and every country")
    out.append(f"/// with at least {MIN_DEMOGRAPHIC_USERS} users, most users first.")
    out.append("pub const COUNTRY_DEMOGRAPHICS: &[(&str, Demographics)] = &[")
    out.append(f'    ("", {demo[""].rust()}),')
    for c, k in ranked:
        if c >= MIN_DEMOGRAPHIC_USERS:
            out.append(f'    ("{k}", {demo[k].rust()}),')
    out.append("];")
    out.append("")
    out.append(f"/// Demographics pooled over the countries with fewer than {MIN_DEMOGRAPHIC_USERS} users.")
    out.append(f"pub const SMALL_COUNTRY_DEMOGRAPHICS: Demographics = {pooled.rust()};")
    out.append("")
    out.append(rust_array("PLAYCOUNT_QUANTILES_WITH_COUNTRY", "u32", quantiles(pc_with),
                          ["Quantiles of `playcount` (>= 0) over users with a country."]))
    out.append("")
    out.append(rust_array("PLAYCOUNT_QUANTILES_NO_COUNTRY", "u32", quantiles(pc_without),
                          ["Quantiles of `playcount` (>= 0) over users without a country; they are",
                           "markedly less active than users who state one."]))
    out.append("")
    out.append(rust_array("REGISTERED_QUANTILES", "i64", quantiles(reg),
                          ["Quantiles of `registered_unixtime`."], per_line=6))
    out.append("")
    out.append(rust_array("USER_ID_GAP_QUANTILES", "u64", quantiles(gaps),
                          ["Quantiles of the gap between consecutive user ids (ids ascending)."]))
    print("\n".join(out))


if __name__ == "__main__":
    main()
