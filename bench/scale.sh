#!/usr/bin/env bash
# Full-scale ingest + aggregation: events/s, peak memory (whole tree and per worker process),
# and the 1 -> 2 worker scaling, on one generated LFM-1b-shaped data set.
#
#   bash bench/scale.sh [EVENTS] [USERS] [TRACKS] [RUNS]
#     defaults: 200000000 events, 120322 users (LFM-1b's count), 32291134 tracks (LFM-1b's
#     catalogue), RUNS = "1x2 1x1 2x1" (members x timely threads per member)
#
# Needs a release build (cargo build --release --bins). The data set is generated once into
# bench/data/scale-EVENTS-USERS-TRACKS (about 40 bytes per event on disk) and kept for reruns;
# delete it by hand. The job is the real aggregation (the paper's filters, the 122,442-track
# cap, held-out splits, every table written); the model and evaluation phases are off, since
# this measures ingest and aggregation. Prints one JSON line per run and a table.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-200000000}
USERS=${2:-120322}
TRACKS=${3:-32291134}
RUNS=${4:-"1x2 1x1 2x1"}
BIN=target/release
DATA=bench/data/scale-$EVENTS-$USERS-$TRACKS
OUT=bench/data/scale-out
mkdir -p bench/data "$OUT"
[ -x "$BIN/archetype" ] || { echo "build first: cargo build --release --bins" >&2; exit 1; }

results=()
measure() { python3 bench/measure.py "$@" 2> >(tee /tmp/scale-$$.err >&2); results+=("$(tail -n 1 /tmp/scale-$$.err)"); }

if [ ! -f "$DATA/LFM-1b_LEs.txt" ]; then
  rm -rf "$DATA"
  measure "generate $EVENTS events" -- "$BIN/archetype" generate --out "$DATA" --events "$EVENTS" \
    --users "$USERS" --tracks "$TRACKS" --seed 1 --threads 2 >/dev/null
fi
ls -l "$DATA"
df -h "$DATA" | tail -n 1
# Warm the page cache (the runs measure the pipeline, not this machine's disk); with less
# free memory than the data set, later runs read part of it from disk: the table's steal% and
# cpu_s tell such runs apart.
cat "$DATA"/LFM-1b_*.txt > /dev/null

cat > "$OUT/job.toml" <<TOML
name = "scale"
[input]
events = ["$PWD/$DATA/LFM-1b_LEs.txt"]
users = "$PWD/$DATA/LFM-1b_users.txt"
tracks = "$PWD/$DATA/LFM-1b_tracks.txt"
artists = "$PWD/$DATA/LFM-1b_artists.txt"
[output]
url = "$PWD/$OUT/archetype"
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

for r in $RUNS; do
  members=${r%x*}
  threads=${r#*x}
  # The page cache holds only part of a large file; each run reads it the same way.
  rm -rf "$OUT/archetype"
  measure "aggregate ${members} member(s) x ${threads} thread(s)" -- "$BIN/archetype" run \
    --config "$OUT/job.toml" --set cluster.workers="$members" --set cluster.threads="$threads" \
    --summary-json "$OUT/summary-$r.json" >/dev/null
done

echo
printf '%-40s %9s %9s %7s %13s %11s %s\n' run wall_s cpu_s steal% events/s tree_MiB 'per process MiB'
for r in "${results[@]}"; do
  python3 - "$EVENTS" "$r" <<'PY'
import json, sys
ev = int(sys.argv[1]); r = json.loads(sys.argv[2])
procs = ", ".join(f"{n} {m:.0f}" for n, m in r.get("peak_proc_rss_mib", [])[:3])
print(f"{r['label']:<40} {r['wall_s']:>9.1f} {r['cpu_s']:>9.1f} {r.get('steal_pct', 0):>7.1f} {ev / r['wall_s']:>13,.0f} "
      f"{r['peak_rss_mib']:>11.0f} {procs}")
PY
done
for r in $RUNS; do
  python3 - "$OUT/summary-$r.json" "$r" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); c = s["counters"]
print(f"\n{sys.argv[2]}: events read {s['events_read']:,}, distinct (user, track) pairs "
      f"{c.get('pairs.distinct', 0):,}, users {c.get('users.distinct', 0):,}, tracks seen "
      f"{c.get('tracks.seen', 0):,}, kept: {json.dumps(s['kept'])}")
print(f"   phases (s): {json.dumps(s['phase_seconds'])}")
PY
done
