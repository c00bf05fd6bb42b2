#!/usr/bin/env python3
"""The peer: DuckDB reads an LFM-1b events file and writes the same (user, track) counts
(with first/last timestamps) and per-track totals (plays, listeners) as Parquet.
Usage: duckdb_counts.py EVENTS_TSV OUT_DIR THREADS"""
import os
import sys
import time

import duckdb

events, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(out, exist_ok=True)
t0 = time.monotonic()
con = duckdb.connect()
con.execute(f"SET threads = {threads}")
con.execute(
    f"""
    CREATE TEMP TABLE pairs AS
    SELECT user_id, track_id, count(*)::UINTEGER AS plays, min(ts) AS first_ts, max(ts) AS last_ts
    FROM read_csv('{events}', delim = '\t', header = false,
                  columns = {{'user_id': 'UINTEGER', 'artist_id': 'UINTEGER', 'album_id': 'UINTEGER',
                             'track_id': 'UINTEGER', 'ts': 'UINTEGER'}})
    GROUP BY user_id, track_id
    """
)
con.execute(f"COPY pairs TO '{out}/interactions.parquet' (FORMAT parquet, COMPRESSION zstd)")
con.execute(
    f"""COPY (SELECT track_id, sum(plays) AS plays, count(*) AS listeners FROM pairs GROUP BY track_id)
        TO '{out}/tracks.parquet' (FORMAT parquet, COMPRESSION zstd)"""
)
n = con.execute("SELECT count(*), sum(plays) FROM pairs").fetchone()
print(f"duckdb: {n[0]} pairs, {n[1]} events in {time.monotonic() - t0:.2f}s", file=sys.stderr)
