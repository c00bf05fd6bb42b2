#!/usr/bin/env python3
"""Writes the bad-input corpus: one directory per case under tests/corpus/cases/, each an
LFM-1b-shaped input (a good base plus the breakage the case is about) and `case.json` with
what the job must do with it. tests/tests/corpus.rs runs every case end to end.

Deterministic: run it again and the files are the same. Needs pyarrow for the Parquet cases:
    python3 -m venv /tmp/v && /tmp/v/bin/pip install pyarrow && /tmp/v/bin/python tests/corpus/make.py
"""
import gzip
import json
import os
import random
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "cases")
rng = random.Random(7)

COUNTRIES = ["US", "UK", "DE", "PL", "BR", "", "SE", "FI"]
USERS = list(range(1, 41))
T0 = 1_300_000_000


def users_text(extra=""):
    lines = ["user_id\tcountry\tage\tgender\tplaycount\tregistered_unixtime"]
    for u in USERS:
        c = COUNTRIES[u % len(COUNTRIES)]
        age = -1 if u % 7 == 0 else 18 + u
        g = "mfn"[u % 3]
        lines.append(f"{u}\t{c}\t{age}\t{g}\t100\t1100000000")
    return "\n".join(lines) + "\n" + extra


def good_events(n=400):
    rows = []
    for i in range(n):
        u = USERS[i % len(USERS)]
        t = 1 + (i * 7 + u) % 30
        rows.append(f"{u}\t{100 + t % 5}\t{200 + t % 9}\t{t}\t{T0 + i * 60}")
    return rows


def tracks_text():
    return "".join(f"{t}\ttrack {t}\t{100 + t % 5}\n" for t in range(1, 31))


def artists_text():
    return "".join(f"{a}\tartist {a}\n" for a in range(100, 105))


def write_case(name, expect, events=None, users=None, events_name="LFM-1b_LEs.txt",
               events_bytes=None, extra_toml=""):
    d = os.path.join(CASES, name)
    os.makedirs(d, exist_ok=True)
    if events_bytes is not None:
        with open(os.path.join(d, events_name), "wb") as f:
            f.write(events_bytes)
    elif events is not None:
        with open(os.path.join(d, events_name), "w", newline="") as f:
            f.write(events)
    with open(os.path.join(d, "LFM-1b_users.txt"), "w", newline="") as f:
        f.write(users if users is not None else users_text())
    with open(os.path.join(d, "LFM-1b_tracks.txt"), "w") as f:
        f.write(tracks_text())
    with open(os.path.join(d, "LFM-1b_artists.txt"), "w") as f:
        f.write(artists_text())
    expect = dict(expect)
    expect["events_file"] = events_name
    expect["extra_toml"] = extra_toml
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(expect, f, indent=2, sort_keys=True)
        f.write("\n")


def with_bad(bad_rows, at=(50, 150, 250)):
    rows = good_events()
    for i, b in enumerate(bad_rows):
        rows.insert(at[i % len(at)] + i, b)
    return "\n".join(rows) + "\n"


def main():
    if os.path.isdir(CASES):
        shutil.rmtree(CASES)
    ok = lambda kinds: {"outcome": "ok", "rejected": kinds}

    write_case("clean", ok({}), events="\n".join(good_events()) + "\n")
    write_case("column_count", ok({"column_count": 3}),
               events=with_bad(["1\t100\t200\t3", "1\t100\t200\t3\t1300000000\t9", "garbage"]))
    write_case("not_a_number", ok({"not_a_number": 4}),
               events=with_bad(["1\t100\t200\tabc\t1300000000", "x\t100\t200\t3\t1300000000",
                                "1\t\t200\t3\t1300000000", "1\t100\t200\t3\t13e8"]))
    write_case("id_out_of_range", ok({"id_out_of_range": 2}),
               events=with_bad(["99999999999\t100\t200\t3\t1300000000",
                                "1\t100\t200\t4294967296\t1300000000"]))
    write_case("timestamp_out_of_range", ok({"timestamp_out_of_range": 2}),
               events=with_bad(["1\t100\t200\t3\t5", "1\t100\t200\t3\t4000000000"]))
    bad_utf8 = with_bad(["1\t100\t200\t3\t1300000000"]).encode()
    bad_utf8 = bad_utf8.replace(b"1\t100\t200\t3\t1300000000\n",
                                b"1\t100\t200\t\xff\xfe3\t1300000000\n", 1)
    write_case("non_utf8", ok({"non_utf8": 1}), events_bytes=bad_utf8)
    write_case("truncated_last_line", ok({"truncated_last_line": 1}),
               events="\n".join(good_events()) + "\n1\t100\t2")
    # The last line parses although it has no line end: it is kept, not rejected.
    write_case("last_line_without_newline", ok({}), events="\n".join(good_events()))
    write_case("crlf_line_ends", ok({}), events="\r\n".join(good_events()) + "\r\n")
    long_line = "1\t100\t200\t" + "9" * 5000 + "\t1300000000"
    write_case("huge_field", ok({"line_too_long": 1}), events=with_bad([long_line]),
               extra_toml="[ingest]\nmax_line_bytes = 1024\nmax_bad_fraction = 0.5\n")
    garbage = bytes(rng.randrange(256) for _ in range(3000))
    ev = "\n".join(good_events()).encode()
    cut = ev.index(b"\n", len(ev) // 2) + 1
    write_case("binary_garbage",
               {"outcome": "ok", "rejected_at_least": 1, "rejected_kinds_within":
                ["line_too_long", "non_utf8", "column_count", "not_a_number",
                 "id_out_of_range", "timestamp_out_of_range"]},
               events_bytes=ev[:cut] + garbage + b"\n" + ev[cut:] + b"\n",
               extra_toml="[ingest]\nmax_line_bytes = 1024\nmax_bad_fraction = 0.5\n")
    write_case("users_invalid_values", ok({"invalid_value": 3, "duplicate_user": 1}),
               events="\n".join(good_events()) + "\n",
               users=users_text("41\tUSA\t20\tm\t5\t1\n42\tUS\t-2\tm\t5\t1\n43\tUS\t20\tq\t5\t1\n"
                                "5\tUS\t20\tm\t5\t1\n"))
    write_case("over_the_error_budget",
               {"outcome": "error", "error_contains": ["error budget", "LFM-1b_LEs.txt line",
                                                       "not_a_number"]},
               events=with_bad(["1\t100\t200\tabc\t1300000000"] * 30),
               extra_toml="[ingest]\nmax_bad_fraction = 0.01\n")
    write_case("empty_events_file",
               {"outcome": "error", "error_contains": ["LFM-1b_LEs.txt", "empty"]}, events="")
    # The header is recognised by its content: without it, the first user is read, not lost.
    write_case("users_without_header", ok({}),
               events="\n".join(good_events()) + "\n",
               users="\n".join(users_text().split("\n")[1:]))
    gz = gzip.compress(("\n".join(good_events()) + "\n").encode(), mtime=0)
    write_case("gzip_cut_short", {"outcome": "error", "error_contains": ["LFM-1b_LEs.txt.gz"]},
               events_name="LFM-1b_LEs.txt.gz", events_bytes=gz[: len(gz) // 2])
    write_case("gzip_ok", ok({}), events_name="LFM-1b_LEs.txt.gz", events_bytes=gz)

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [r.split("\t") for r in good_events()]
    cols = ["user_id", "artist_id", "album_id", "track_id", "timestamp"]

    def parquet_bytes(table):
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="snappy")
        return sink.getvalue().to_pybytes()

    good = pa.table({c: pa.array([int(r[i]) for r in rows], pa.int64()) for i, c in enumerate(cols)})
    write_case("parquet_ok", ok({}), events_name="LFM-1b_LEs.parquet",
               events_bytes=parquet_bytes(good))
    wrong = pa.table({c: (pa.array([r[i] for r in rows], pa.string()) if c == "track_id"
                          else pa.array([int(r[i]) for r in rows], pa.int64()))
                      for i, c in enumerate(cols)})
    write_case("parquet_wrong_type",
               {"outcome": "error", "error_contains": ["LFM-1b_LEs.parquet", "track_id"]},
               events_name="LFM-1b_LEs.parquet", events_bytes=parquet_bytes(wrong))
    nulls = pa.table({c: pa.array([None if (c == "track_id" and k % 100 == 3) else int(r[i])
                                   for k, r in enumerate(rows)], pa.int64())
                      for i, c in enumerate(cols)})
    write_case("parquet_nulls", ok({"null_value": 4}), events_name="LFM-1b_LEs.parquet",
               events_bytes=parquet_bytes(nulls))
    missing = pa.table({c: pa.array([int(r[i]) for r in rows], pa.int64())
                        for i, c in enumerate(cols) if c != "timestamp"})
    write_case("parquet_missing_column",
               {"outcome": "error", "error_contains": ["LFM-1b_LEs.parquet", "timestamp"]},
               events_name="LFM-1b_LEs.parquet", events_bytes=parquet_bytes(missing))
    write_case("parquet_not_parquet",
               {"outcome": "error", "error_contains": ["LFM-1b_LEs.parquet"]},
               events_name="LFM-1b_LEs.parquet", events_bytes=b"PAR1" + garbage[:500])


if __name__ == "__main__":
    main()
