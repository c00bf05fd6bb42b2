#!/usr/bin/env bash
# Ingest + aggregation throughput of archetype against DuckDB, side by side in one run, on the
# same generated LFM-1b events file and the same number of threads.
#
#   bash bench/ingest_vs_duckdb.sh [EVENTS] [THREADS]      (defaults: 20000000 2)
#
# Needs a release build (cargo build --release --bins) and Python 3 with pip (DuckDB is
# installed into bench/.venv, never a project dependency). Prints one JSON line per run and a
# table of events/s and peak memory (whole process tree).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-20000000}
THREADS=${2:-2}
BIN=target/release
DATA=bench/data/events-$EVENTS
OUT=bench/data/out
mkdir -p bench/data "$OUT"

[ -x "$BIN/archetype" ] || { echo "build first: cargo build --release --bins" >&2; exit 1; }
if [ ! -x bench/.venv/bin/python ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q duckdb
fi
if [ ! -f "$DATA/LFM-1b_LEs.txt" ]; then
  "$BIN/archetype" generate --out "$DATA" --events "$EVENTS" --seed 1 --threads 2 >/dev/null
fi
ls -l "$DATA/LFM-1b_LEs.txt"
# Warm the page cache for both.
cat "$DATA/LFM-1b_LEs.txt" > /dev/null

# archetype keeps every row here (no filters) so both compute the full (user, track) counts and
# track totals; it also joins users, builds indices and writes all its tables.
cat > "$OUT/job.toml" <<TOML
name = "bench"
[input]
events = ["$PWD/$DATA/LFM-1b_LEs.txt"]
users = "$PWD/$DATA/LFM-1b_users.txt"
[output]
url = "$PWD/$OUT/archetype"
[filter]
require_country = false
keep_all_tracks = true
min_country_les = 0
min_country_users = 0
# The model and evaluation phases are not part of what DuckDB computes.
[archetypes]
enabled = false
[als]
enabled = false
[vae]
enabled = false
[eval]
enabled = false
[cluster]
metrics_listen = ""
listen = "127.0.0.1:0"
spawn_local_workers = true
worker_binary = "$PWD/$BIN/archetype-worker"
TOML

results=()
run() { python3 bench/measure.py "$@" 2> >(tee /tmp/bench-$$.err >&2) ; results+=("$(tail -n 1 /tmp/bench-$$.err)"); }

rm -rf "$OUT/archetype" "$OUT/duckdb"
run "archetype 1 worker x $THREADS threads" -- "$BIN/archetype" run --config "$OUT/job.toml" \
  --set cluster.workers=1 --set cluster.threads="$THREADS" --summary-json "$OUT/summary-1x.json" >/dev/null
rm -rf "$OUT/archetype"
run "archetype $THREADS workers x 1 thread" -- "$BIN/archetype" run --config "$OUT/job.toml" \
  --set cluster.workers="$THREADS" --set cluster.threads=1 --summary-json "$OUT/summary-nx.json" >/dev/null
run "duckdb $THREADS threads" -- bench/.venv/bin/python bench/duckdb_counts.py "$DATA/LFM-1b_LEs.txt" "$OUT/duckdb" "$THREADS"

echo
printf '%-34s %10s %14s %12s\n' run wall_s events/s peak_MiB
for r in "${results[@]}"; do
  python3 - "$EVENTS" "$r" <<'PY'
import json, sys
ev = int(sys.argv[1]); r = json.loads(sys.argv[2])
print(f"{r['label']:<34} {r['wall_s']:>10.2f} {ev / r['wall_s']:>14,.0f} {r['peak_rss_mib']:>12.1f}")
PY
done
python3 - "$OUT" <<'PY'
import json, sys
s = json.load(open(f"{sys.argv[1]}/summary-1x.json"))
print(f"\narchetype (1 worker) phases: {json.dumps(s['phase_seconds'])}; pairs {s['kept']['interactions']:,}")
PY
