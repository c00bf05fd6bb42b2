#!/usr/bin/env bash
# Runs a small archetype cluster on this machine (plain processes, no containers):
# one `archetype serve` coordinator on 127.0.0.1:$PORT, N `archetype-worker` processes that
# register with it, then `archetype submit` of the given job config. Everything started here
# is stopped when the script exits (success, failure or Ctrl-C).
set -euo pipefail

usage() {
  cat <<USAGE
usage: $(basename "$0") [-n WORKERS] [-t THREADS] [-l LOG_DIR] [-p PORT] [-w WAIT_S] [-k TOKEN]
                  [-M METRICS_PORT] [-H HEALTH_PORT] [-s KEY=VALUE]... JOB_CONFIG

  JOB_CONFIG     job TOML (see job/src/config.rs); relative input/output paths are resolved
                 against the current directory, which all processes share
  -n WORKERS     worker processes (default 2)
  -t THREADS     timely threads per worker (default 1)
  -l LOG_DIR     directory for coordinator.log and worker-<i>.log (default ./cluster-logs)
  -p PORT        coordinator port on 127.0.0.1 (default \${PORT:-7070})
  -w WAIT_S      seconds to wait for the coordinator port to answer (default 30)
  -k TOKEN       run with a shared token: ARCHETYPE_TOKEN is exported to the coordinator (which
                 then refuses RPCs without it), the workers and \`archetype submit\`. An
                 ARCHETYPE_TOKEN already in the environment works the same way and keeps the
                 token out of the process list.
  -M PORT        serve Prometheus metrics: the coordinator on 127.0.0.1:PORT/metrics, worker i
                 on 127.0.0.1:PORT+1+i (default: off)
  -H PORT        serve the plaintext gRPC health service (grpc.health.v1): the coordinator on
                 127.0.0.1:PORT, worker i on 127.0.0.1:PORT+1+i (default: off)
  -s KEY=VALUE   extra config override passed to \`archetype submit --set\` (repeatable)
  -h             this help

The script always submits with --set cluster.workers=WORKERS --set cluster.threads=THREADS
--set cluster.spawn_local_workers=false, so the coordinator waits for exactly these workers.

environment:
  ARCHETYPE_BIN  directory holding archetype and archetype-worker (default target/release;
                 build them with: cargo build --release -p archetype-coordinator -p archetype-worker)
  PORT           default coordinator port (7070)
  ARCHETYPE_TOKEN  shared token for every process (same as -k)
USAGE
}

workers=2
threads=1
log_dir=./cluster-logs
port=${PORT:-7070}
wait_s=30
metrics_port=""
health_port=""
overrides=()

while getopts ":n:t:l:p:w:s:k:M:H:h" opt; do
  case $opt in
    n) workers=$OPTARG ;;
    t) threads=$OPTARG ;;
    l) log_dir=$OPTARG ;;
    p) port=$OPTARG ;;
    w) wait_s=$OPTARG ;;
    s) overrides+=(--set "$OPTARG") ;;
    k) export ARCHETYPE_TOKEN=$OPTARG ;;
    M) metrics_port=$OPTARG ;;
    H) health_port=$OPTARG ;;
    h) usage; exit 0 ;;
    :) echo "error: -$OPTARG needs a value" >&2; usage >&2; exit 2 ;;
    *) echo "error: unknown option -$OPTARG" >&2; usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))

if [ $# -ne 1 ]; then
  usage >&2
  exit 2
fi
config=$1

is_pos_int() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_pos_int "$workers" || { echo "error: -n must be a positive integer, got '$workers'" >&2; exit 2; }
is_pos_int "$threads" || { echo "error: -t must be a positive integer, got '$threads'" >&2; exit 2; }
is_pos_int "$wait_s" || { echo "error: -w must be a positive integer, got '$wait_s'" >&2; exit 2; }
{ is_pos_int "$port" && [ "$port" -le 65535 ]; } || { echo "error: invalid port '$port'" >&2; exit 2; }
for p in "$metrics_port" "$health_port"; do
  if [ -n "$p" ]; then
    { is_pos_int "$p" && [ $((p + workers)) -le 65535 ]; } || { echo "error: invalid port '$p'" >&2; exit 2; }
  fi
done
if [ -n "${ARCHETYPE_TOKEN+x}" ] && [ -z "$ARCHETYPE_TOKEN" ]; then
  echo "error: the token (-k or ARCHETYPE_TOKEN) is empty" >&2
  exit 2
fi
[ -f "$config" ] || { echo "error: job config '$config' not found" >&2; exit 2; }

bin_dir=${ARCHETYPE_BIN:-target/release}
coord_bin=$bin_dir/archetype
worker_bin=$bin_dir/archetype-worker
for b in "$coord_bin" "$worker_bin"; do
  if [ ! -x "$b" ]; then
    echo "error: $b not found or not executable; set ARCHETYPE_BIN or run from the repository root after" >&2
    echo "       cargo build --release -p archetype-coordinator -p archetype-worker" >&2
    exit 2
  fi
done

endpoint="http://127.0.0.1:$port"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

if port_open; then
  echo "error: something already listens on 127.0.0.1:$port (use -p or PORT to pick another port)" >&2
  exit 1
fi

mkdir -p "$log_dir"

pids=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    echo "stopping ${#pids[@]} process(es)"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    # Give them a moment, then make sure.
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      local alive=0
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
      [ $alive -eq 0 ] && break
      sleep 0.5
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

coord_flags=()
[ -n "$metrics_port" ] && coord_flags+=(--metrics-listen "127.0.0.1:$metrics_port")
[ -n "$health_port" ] && coord_flags+=(--health-listen "127.0.0.1:$health_port")
echo "coordinator: $coord_bin serve --listen 127.0.0.1:$port${coord_flags[*]:+ ${coord_flags[*]}} (log: $log_dir/coordinator.log)"
if [ -n "${ARCHETYPE_TOKEN:-}" ]; then
  echo "token: set (ARCHETYPE_TOKEN); every process uses it"
fi
[ -n "$metrics_port" ] && echo "metrics: http://127.0.0.1:$metrics_port/metrics (worker i: port $((metrics_port + 1)) + i)"
"$coord_bin" serve --listen "127.0.0.1:$port" ${coord_flags[@]+"${coord_flags[@]}"} \
  >"$log_dir/coordinator.log" 2>&1 &
coord_pid=$!
pids+=("$coord_pid")

echo "waiting up to ${wait_s}s for $endpoint"
deadline=$((SECONDS + wait_s))
until port_open; do
  if ! kill -0 "$coord_pid" 2>/dev/null; then
    echo "error: the coordinator exited; last lines of $log_dir/coordinator.log:" >&2
    tail -n 20 "$log_dir/coordinator.log" >&2 || true
    exit 1
  fi
  if [ $SECONDS -ge $deadline ]; then
    echo "error: the coordinator did not answer on 127.0.0.1:$port within ${wait_s}s" >&2
    exit 1
  fi
  sleep 0.2
done

for ((i = 0; i < workers; i++)); do
  # Per-worker listeners through the environment (empty: not set, so off).
  (
    [ -n "$metrics_port" ] && export ARCHETYPE_METRICS_LISTEN="127.0.0.1:$((metrics_port + 1 + i))"
    [ -n "$health_port" ] && export ARCHETYPE_HEALTH_LISTEN="127.0.0.1:$((health_port + 1 + i))"
    exec "$worker_bin" --coordinator "$endpoint" --threads "$threads" \
      --advertise-host 127.0.0.1 --timely-port 0 >"$log_dir/worker-$i.log" 2>&1
  ) &
  pids+=("$!")
done
echo "started $workers worker(s) x $threads thread(s) (logs: $log_dir/worker-<i>.log)"

echo "submitting $config"
# In the background and waited for, so that a signal to this script is handled at once.
"$coord_bin" submit --coordinator "$endpoint" --config "$config" \
  --set "cluster.workers=$workers" --set "cluster.threads=$threads" \
  --set "cluster.spawn_local_workers=false" ${overrides[@]+"${overrides[@]}"} &
submit_pid=$!
pids+=("$submit_pid")
rc=0
wait "$submit_pid" || rc=$?
if [ $rc -ne 0 ]; then
  echo "error: the job failed (exit $rc); logs are in $log_dir" >&2
fi
exit $rc
