#!/usr/bin/env bash
# Multi-host fault test: one coordinator and three workers, each in its own network
# namespace ("host") joined by a Linux bridge, run the same job twice: once without faults
# (the reference), once while a worker is SIGKILLed, another worker's link is cut past its
# lease, and the coordinator is SIGKILLed and started again on its journal. The faulty run
# must succeed, record at least one recovery, and produce the reference's results.
#
# Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN), iproute2 and python3. Without network
# namespaces the test is skipped (exit 0), or fails with 77 if ARCHETYPE_REQUIRE_NETNS=1.
# See tests/netns/README.md for the knobs.
set -euo pipefail

started_at=$SECONDS

events=${ARCHETYPE_NETNS_EVENTS:-60000}
job_timeout_s=${ARCHETYPE_NETNS_TIMEOUT_S:-600}
keep=${ARCHETYPE_NETNS_KEEP:-0}

port=7070
coord_ip=10.77.0.10
root_ip=10.77.0.1
coord_url=http://$coord_ip:$port
workers=(w1 w2 w3)
declare -A worker_ip=([w1]=10.77.0.11 [w2]=10.77.0.12 [w3]=10.77.0.13)
# A host that is no member: it hammers the workers' timely ports through the faulty run.
stranger_ip=10.77.0.66
timely_port=9000

# Unique per run, so parallel runs do not clash (interface names stay under 16 bytes).
sfx=$$
bridge=archbr$sfx
ns_coord=arch-coord-$sfx
declare -A ns_of=([coord]=$ns_coord [w1]=arch-w1-$sfx [w2]=arch-w2-$sfx [w3]=arch-w3-$sfx [x]=arch-x-$sfx)
declare -A veth_of=([coord]=avc$sfx [w1]=av1$sfx [w2]=av2$sfx [w3]=av3$sfx [x]=avx$sfx)
hosts=(coord w1 w2 w3 x)

export NO_COLOR=1

log() { printf '[netns %4ds] %s\n' "$((SECONDS - started_at))" "$*"; }
die() {
  printf '[netns %4ds] FAIL: %s\n' "$((SECONDS - started_at))" "$*" >&2
  exit 1
}

skip() {
  echo "netns: not available here ($1); multi-host test skipped"
  if [ "${ARCHETYPE_REQUIRE_NETNS:-0}" = 1 ]; then
    echo "netns: ARCHETYPE_REQUIRE_NETNS=1, so this is a failure" >&2
    exit 77
  fi
  exit 0
}

# --- 1. Can we make network namespaces (and veth pairs and bridges in them)? ----------------

command -v ip >/dev/null 2>&1 || skip "no iproute2 'ip' command"
[ "$(id -u)" -eq 0 ] || skip "not root"
probe=arch-probe-$sfx
if ! err=$(ip netns add "$probe" 2>&1); then
  skip "ip netns add: ${err//$'\n'/ }"
fi
probe_err=""
if ! err=$(ip -n "$probe" link add pa type veth peer name pb 2>&1); then
  probe_err="veth: ${err//$'\n'/ }"
elif ! err=$(ip -n "$probe" link add pbr type bridge 2>&1); then
  probe_err="bridge: ${err//$'\n'/ }"
fi
ip netns del "$probe" 2>/dev/null || true
[ -z "$probe_err" ] || skip "$probe_err"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin_dir=${ARCHETYPE_BIN:-$repo/target/debug}
coord_bin=$bin_dir/archetype
worker_bin=$bin_dir/archetype-worker
for b in "$coord_bin" "$worker_bin"; do
  [ -x "$b" ] || die "$b not found or not executable (set ARCHETYPE_BIN to the directory holding archetype and archetype-worker)"
done
command -v python3 >/dev/null 2>&1 || die "python3 is needed to compare the results"
have_jq=0
command -v jq >/dev/null 2>&1 && have_jq=1

# --- Scratch space and teardown -------------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/archetype-netns.XXXXXX")
logs=$tmp/logs
run=$tmp/run
mkdir -p "$logs" "$run"

sup_pids=()
coord_pid=""
coord_wrapper=""
net_made=0

stop_processes() {
  # Supervisors first (so that nothing is restarted), then everything in our namespaces.
  if [ ${#sup_pids[@]} -gt 0 ]; then
    kill -TERM "${sup_pids[@]}" 2>/dev/null || true
  fi
  local h pids
  for h in "${hosts[@]}"; do
    pids=$(ip netns pids "${ns_of[$h]}" 2>/dev/null || true)
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086 # one pid per word
      kill -KILL $pids 2>/dev/null || true
    fi
  done
  if [ ${#sup_pids[@]} -gt 0 ]; then
    wait "${sup_pids[@]}" 2>/dev/null || true
  fi
  if [ -n "$coord_wrapper" ]; then
    wait "$coord_wrapper" 2>/dev/null || true
  fi
  sup_pids=()
  coord_pid=""
  coord_wrapper=""
}

print_log_tails() {
  local f
  echo "----- process logs (last 40 lines each; all under $logs) -----" >&2
  while IFS= read -r f; do
    echo "===== $f =====" >&2
    tail -n 40 "$f" >&2 || true
  done < <(find "$logs" -type f -name '*.log' | sort)
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  [ -n "${stop_file:-}" ] && touch "$stop_file"
  stop_processes
  if [ "$net_made" = 1 ]; then
    local h
    for h in "${hosts[@]}"; do
      ip netns del "${ns_of[$h]}" 2>/dev/null
      ip link del "${veth_of[$h]}" 2>/dev/null
    done
    ip link del "$bridge" 2>/dev/null
  fi
  if [ "$rc" -ne 0 ]; then
    print_log_tails
    echo "netns: FAILED (exit $rc); scratch directory kept: $tmp" >&2
  elif [ "$keep" = 1 ]; then
    echo "netns: scratch directory kept: $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 2. Five hosts on a bridge --------------------------------------------------------------

log "network: bridge $bridge, namespaces ${ns_of[coord]} ${ns_of[w1]} ${ns_of[w2]} ${ns_of[w3]}"
net_made=1
ip link add "$bridge" type bridge
# No STP delay; keep bridged frames away from iptables (br_netfilter) where that is possible.
ip link set "$bridge" type bridge forward_delay 0 stp_state 0 2>/dev/null || true
ip link set "$bridge" type bridge nf_call_iptables 0 2>/dev/null || true
if [ "${ARCHETYPE_NETNS_ROOT_ADDR:-0}" = 1 ]; then
  ip addr add "$root_ip/24" dev "$bridge"
fi
ip link set "$bridge" up

declare -A ip_of=([coord]=$coord_ip [w1]=${worker_ip[w1]} [w2]=${worker_ip[w2]} [w3]=${worker_ip[w3]} [x]=$stranger_ip)
for h in "${hosts[@]}"; do
  ns=${ns_of[$h]}
  host_if=${veth_of[$h]}
  peer_if=avp${host_if#av}
  ip netns add "$ns"
  ip link add "$host_if" type veth peer name "$peer_if"
  ip link set "$peer_if" netns "$ns"
  ip -n "$ns" link set "$peer_if" name eth0
  ip -n "$ns" addr add "${ip_of[$h]}/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip link set "$host_if" master "$bridge"
  ip link set "$host_if" up
done

# --- 3. Data and job ------------------------------------------------------------------------

data=$tmp/data
log "generating $events events into $data"
"$coord_bin" generate --out "$data" --events "$events" >"$logs/generate.log" 2>&1 ||
  die "archetype generate failed"

write_job() { # OUT_DIR FILE
  cat >"$2" <<TOML
name = "netns"
[input]
events = ["$data/LFM-1b_LEs.txt"]
users = "$data/LFM-1b_users.txt"
tracks = "$data/LFM-1b_tracks.txt"
artists = "$data/LFM-1b_artists.txt"
[output]
url = "$1"
[ingest]
shard_bytes = 100000
[filter]
min_track_les = 8
min_country_les = 1000
min_country_users = 5
[cluster]
workers = 3
threads = 1
spawn_local_workers = false
heartbeat_ms = 200
lease_ms = 3000
register_timeout_s = 120
max_retries = 5
metrics_listen = ""
[als]
factors = 8
iterations = 6
[vae]
hidden = 16
latent = 8
epochs = 20
patience = 0
batch = 50
contexts = ["country_id"]
gates = ["scale"]
concat = []
TOML
}

# --- Cluster helpers ------------------------------------------------------------------------

# JSON look-ups (jq when present, python3 otherwise); a file being written reads as "not yet".
json_done_has() { # FILE PHASE -> 0 when FILE's "done" array holds PHASE
  [ -f "$1" ] || return 1
  if [ "$have_jq" = 1 ]; then
    jq -e --arg p "$2" '(.done // []) | index($p) != null' "$1" >/dev/null 2>&1
  else
    python3 -c 'import json,sys
try:
    d = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(1)
sys.exit(0 if sys.argv[2] in (d.get("done") or []) else 1)' "$1" "$2"
  fi
}

json_state() { # FILE -> prints .state (empty when unreadable)
  [ -f "$1" ] || return 0
  if [ "$have_jq" = 1 ]; then
    jq -r '.state // ""' "$1" 2>/dev/null || true
  else
    python3 -c 'import json,sys
try:
    print(json.load(open(sys.argv[1])).get("state", ""))
except Exception:
    pass' "$1"
  fi
}

in_ns() { # HOST CMD... (run CMD inside HOST's namespace)
  local h=$1
  shift
  ip netns exec "${ns_of[$h]}" "$@"
}

port_open_from() { # HOST -> 0 when the coordinator's port answers from HOST
  in_ns "$1" bash -c "exec 3<>/dev/tcp/$coord_ip/$port" 2>/dev/null
}

# The coordinator under a wrapper that waits for it (and takes bash's "Killed" notice into
# the log). `ip netns exec` execs the command, so the pid written is the coordinator's own.
run_coordinator() { # JOURNAL_DIR LOG PIDFILE
  ip netns exec "$ns_coord" "$coord_bin" serve --listen "$coord_ip:$port" --heartbeat-ms 200 \
    --lease-ms 3000 --journal "$1" >>"$2" 2>&1 &
  echo "$!" >"$3"
  wait "$!"
}

start_coordinator() { # JOURNAL_DIR LOG
  local pidfile=$run/coordinator.pid deadline=$((SECONDS + 10))
  rm -f "$pidfile"
  # shellcheck disable=SC2094 # $2 is only appended to, by the wrapper and the coordinator
  run_coordinator "$1" "$2" "$pidfile" 2>>"$2" &
  coord_wrapper=$!
  coord_pid=""
  until [ -n "$coord_pid" ]; do
    [ $SECONDS -lt $deadline ] || die "the coordinator did not start"
    sleep 0.1
    coord_pid=$(cat "$pidfile" 2>/dev/null || true)
  done
  deadline=$((SECONDS + 60))
  until port_open_from w1; do
    kill -0 "$coord_pid" 2>/dev/null || die "the coordinator exited at start (log: $2)"
    [ $SECONDS -lt $deadline ] || die "the coordinator did not answer on $coord_ip:$port from ${ns_of[w1]} within 60 s"
    sleep 0.2
  done
  # The port must be this process's, not a predecessor's.
  sleep 0.5
  kill -0 "$coord_pid" 2>/dev/null || die "the coordinator exited at start (log: $2)"
  is_process_of "$coord_pid" "$(basename "$coord_bin")" ||
    die "pid $coord_pid is not the coordinator"
}

# Whether PID runs BINARY (by the name of its executable).
is_process_of() { # PID BINARY_NAME
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  [ "$(basename "${exe% (deleted)}")" = "$2" ]
}

# A worker under a restart loop, as a pod under Kubernetes: a worker exits after its task was
# aborted (or when the coordinator forgot it mid-task) and is started again.
supervise() { # NAME LOGDIR
  local name=$1 dir=$2 n=0 rc pid
  while [ ! -e "$stop_file" ]; do
    n=$((n + 1))
    echo "=== $(date -u +%H:%M:%S) supervisor: start #$n of $name" >>"$dir/$name.log"
    ip netns exec "${ns_of[$name]}" "$worker_bin" --coordinator "$coord_url" \
      --advertise-host "${worker_ip[$name]}" --threads 1 --reconnect-s 60 \
      --timely-port "$timely_port" --abort-grace-s 10 >>"$dir/$name.log" 2>&1 &
    pid=$!
    echo "$pid" >"$run/$name.pid"
    rc=0
    wait "$pid" || rc=$?
    echo "=== $(date -u +%H:%M:%S) supervisor: $name (pid $pid) exited with $rc" >>"$dir/$name.log"
    echo "$rc" >>"$run/$name.exits"
    [ -e "$stop_file" ] || sleep 0.5
  done
}

start_cluster() { # TAG JOURNAL_DIR
  local tag=$1 w
  mkdir -p "$logs/$tag"
  stop_file=$run/stop-$tag
  rm -f "$run"/*.pid "$run"/*.exits
  start_coordinator "$2" "$logs/$tag/coordinator.log"
  for w in "${workers[@]}"; do
    port_open_from "$w" || die "${ns_of[$w]} cannot reach $coord_ip:$port over the bridge"
    # The supervisor's own stderr (bash's "Killed" notices) goes to the worker's log too.
    supervise "$w" "$logs/$tag" 2>>"$logs/$tag/$w.log" &
    sup_pids+=("$!")
  done
}

stop_cluster() {
  touch "$stop_file"
  stop_processes
}

worker_pid() { # NAME -> the current worker process of NAME's restart loop (waits up to 10 s)
  local pid tries=0
  while [ $tries -lt 50 ]; do
    pid=$(cat "$run/$1.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && is_process_of "$pid" "$(basename "$worker_bin")"; then
      echo "$pid"
      return 0
    fi
    tries=$((tries + 1))
    sleep 0.2
  done
  return 1
}

restarts_of() { # NAME -> how many times the worker exited (and was restarted)
  if [ -f "$run/$1.exits" ]; then wc -l <"$run/$1.exits" | tr -d ' '; else echo 0; fi
}

job_id_from() { # SUBMIT_LOG
  sed -n 's/^submitted \([^[:space:]]*\).*/\1/p' "$1" | head -n 1
}

# --- 5. Fault-free reference ----------------------------------------------------------------

out_ref=$tmp/out-ref
journal_ref=$tmp/journal-ref
job_ref=$tmp/job-ref.toml
mkdir -p "$out_ref" "$journal_ref"
write_job "$out_ref" "$job_ref"

log "reference run: coordinator on $coord_ip:$port, workers on ${worker_ip[w1]} ${worker_ip[w2]} ${worker_ip[w3]}"
start_cluster ref "$journal_ref"
ref_t0=$SECONDS
rc=0
timeout "$job_timeout_s" ip netns exec "$ns_coord" "$coord_bin" submit --coordinator "$coord_url" \
  --config "$job_ref" >"$logs/ref/submit.log" 2>&1 || rc=$?
ref_s=$((SECONDS - ref_t0))
[ "$rc" -eq 0 ] || die "the reference job failed or timed out (submit exit $rc; log: $logs/ref/submit.log)"
ref_id=$(job_id_from "$logs/ref/submit.log")
[ -n "$ref_id" ] || die "no job id in $logs/ref/submit.log"
log "reference job $ref_id succeeded in ${ref_s}s"
ref_restarts="w1 $(restarts_of w1), w2 $(restarts_of w2), w3 $(restarts_of w3)"
stop_cluster

# --- 6. The same job under faults -----------------------------------------------------------

out_fault=$tmp/out-fault
journal_fault=$tmp/journal-fault
job_fault=$tmp/job-fault.toml
mkdir -p "$out_fault" "$journal_fault"
write_job "$out_fault" "$job_fault"

log "faulty run: fresh output and journal"
# The members of every formation after the first dial 0.5 s late, so that the stranger below
# finds the listeners open; results do not depend on timing.
export ARCHETYPE_DELAY=dial:500
start_cluster fault "$journal_fault"
fault_t0=$SECONDS
deadline=$((SECONDS + job_timeout_s))
ip netns exec "$ns_coord" "$coord_bin" submit --coordinator "$coord_url" --config "$job_fault" \
  --no-wait >"$logs/fault/submit.log" 2>&1 || die "submitting the faulty job failed (log: $logs/fault/submit.log)"
fault_id=$(job_id_from "$logs/fault/submit.log")
[ -n "$fault_id" ] || die "no job id in $logs/fault/submit.log"
job_journal=$out_fault/$fault_id/journal.json
job_entry=$journal_fault/jobs/$fault_id.json
log "faulty job $fault_id submitted"

# a. A stranger (no member, no secret) keeps connecting to every worker's timely port until
# the job ends: garbage that starts like a member index, silence, and a claim to be member 1
# with a made-up proof. Member 1 of each formation dials late (ARCHETYPE_DELAY, set on the
# faulty run's workers) so the listeners stay open long enough for it to land.
stranger_count=$tmp/stranger-connections
ip netns exec "${ns_of[x]}" python3 - "$stop_file" "$stranger_count" "$timely_port" \
  "${worker_ip[w1]}" "${worker_ip[w2]}" "${worker_ip[w3]}" >"$logs/fault/stranger.log" 2>&1 <<'PY' &
import os, socket, sys, threading, time
stop, count_file, port, hosts = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
n = 0
lock = threading.Lock()
def hammer(host, kind):
    global n
    while not os.path.exists(stop):
        try:
            s = socket.create_connection((host, port), timeout=0.3)
        except OSError:
            time.sleep(0.01)
            continue
        with lock:
            n += 1
        try:
            s.settimeout(0.5)
            if kind == 0:
                s.sendall(bytes([0, 0, 0, 0, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef]))
            elif kind == 1:
                time.sleep(0.7)
            else:
                s.recv(40)
                s.sendall((1).to_bytes(8, "big") + bytes([7]) * 64)
                s.recv(32)
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.01)
ts = [threading.Thread(target=hammer, args=(h, k)) for h in hosts for k in range(3)]
for t in ts:
    t.start()
for t in ts:
    t.join()
with open(count_file, "w") as f:
    f.write(str(n))
PY
stranger_pid=$!

job_finished() {
  case "$(json_state "$job_entry")" in
    succeeded | failed) return 0 ;;
    *) return 1 ;;
  esac
}

wait_for_phase() { # PHASE
  until json_done_has "$job_journal" "$1"; do
    job_finished && return 0
    [ $SECONDS -lt $deadline ] || die "timed out waiting for phase '$1' of job $fault_id"
    sleep 0.2
  done
}

# Each fault notes the job's journal entry state (queued/running: still in flight) when injected.
state_now() { local s; s=$(json_state "$job_entry"); echo "${s:-unknown}"; }

# b. SIGKILL worker w2 once aggregation is done.
wait_for_phase aggregate
w2_pid=$(worker_pid w2) || die "worker w2 is not running when it should be killed"
fault_kill_state=$(state_now)
kill -KILL "$w2_pid"
fault_kill_at=$((SECONDS - fault_t0))
log "fault 1: SIGKILLed worker w2 (pid $w2_pid) after 'aggregate' (job entry: $fault_kill_state)"

# c. Cut w3's link for twice the lease once ALS is done (VAE training runs).
wait_for_phase als
fault_cut_state=$(state_now)
ip link set "${veth_of[w3]}" down
fault_cut_at=$((SECONDS - fault_t0))
log "fault 2: link of w3 (${veth_of[w3]}) down for 6 s after 'als' (job entry: $fault_cut_state)"
sleep 6
ip link set "${veth_of[w3]}" up
log "fault 2: link of w3 up again"

# d. SIGKILL the coordinator and start it again on the same journal.
fault_coord_state=$(state_now)
is_process_of "$coord_pid" "$(basename "$coord_bin")" || die "the coordinator (pid $coord_pid) is not running"
kill -KILL "$coord_pid"
wait "$coord_wrapper" 2>/dev/null || true
fault_coord_at=$((SECONDS - fault_t0))
port_closed_by=$((SECONDS + 10))
while port_open_from w1; do
  [ $SECONDS -lt $port_closed_by ] || die "$coord_ip:$port still answers after the coordinator was killed"
  sleep 0.2
done
log "fault 3: SIGKILLed the coordinator (pid $coord_pid; job entry: $fault_coord_state); starting it again"
start_coordinator "$journal_fault" "$logs/fault/coordinator-restarted.log"
log "fault 3: coordinator answering again (pid $coord_pid)"

# e. Wait for the end.
until job_finished; do
  [ $SECONDS -lt $deadline ] || die "job $fault_id did not finish within ${job_timeout_s}s of its submission (state: $(state_now))"
  sleep 0.5
done
fault_s=$((SECONDS - fault_t0))
fault_state=$(json_state "$job_entry")
fault_restarts="w1 $(restarts_of w1), w2 $(restarts_of w2), w3 $(restarts_of w3)"
stranger_refused=$(cat "$logs/fault/"w?.log | grep -c "refused a connection to the timely port" || true)
resumed=no
grep -q "resuming from the job's journal" "$logs/fault/coordinator-restarted.log" && resumed=yes
# Losses the coordinators saw (a loss in a phase that the coordinator's kill interrupted is
# not in the journal's recoveries: those are recorded when a phase completes).
losses_logged=$(cat "$logs/fault/coordinator.log" "$logs/fault/coordinator-restarted.log" |
  grep -c "cluster member lost" || true)
stop_cluster

if [ "$fault_state" != succeeded ]; then
  if [ "$have_jq" = 1 ]; then
    jq -r '"error: " + (.error // "")' "$job_entry" >&2 || true
  fi
  die "the faulty job ended '$fault_state' ($job_entry)"
fi
log "faulty job $fault_id succeeded in ${fault_s}s"
wait "$stranger_pid" 2>/dev/null || true
stranger_tries=$(cat "$stranger_count" 2>/dev/null || echo 0)
[ "$stranger_refused" -gt 0 ] ||
  die "the stranger's $stranger_tries connections never reached a formation (no refusal in the workers' logs)"

# --- 7. Same results as the reference? ------------------------------------------------------

compare_out=$tmp/compare.txt
if ! python3 - "$out_ref/$ref_id" "$out_fault/$fault_id" >"$compare_out" 2>&1 <<'PY'; then
import json
import math
import sys

ref, got = sys.argv[1], sys.argv[2]
problems = []


def load(root, rel):
    with open(f"{root}/{rel}") as f:
        return json.load(f)


a, b = load(ref, "aggregate/summary.json"), load(got, "aggregate/summary.json")
for key in ("kept", "counters"):
    if a.get(key) != b.get(key):
        problems.append(f"aggregate/summary.json '{key}' differs: {a.get(key)} vs {b.get(key)}")

ra = load(ref, "report/report.json")["report"]["rows"]
rb = load(got, "report/report.json")["report"]["rows"]
na, nb = [r["name"] for r in ra], [r["name"] for r in rb]
if na != nb:
    problems.append(f"report rows differ: {na} vs {nb}")
else:
    for x, y in zip(ra, rb):
        mx, my = x["means"], y["means"]
        if len(mx) != len(my):
            problems.append(f"row {x['name']}: {len(mx)} vs {len(my)} means")
            continue
        for i, (u, v) in enumerate(zip(mx, my)):
            if not math.isclose(u, v, rel_tol=1e-6, abs_tol=1e-12):
                problems.append(f"row {x['name']} mean[{i}]: {u!r} vs {v!r}")

recoveries = (load(got, "journal.json").get("summary") or {}).get("recoveries") or []
print(f"rows compared: {len(na)} ({', '.join(na)}); means per row: "
      f"{len(ra[0]['means']) if ra else 0}; kept and counters equal: "
      f"{'yes' if not any('summary' in p for p in problems) else 'no'}")
print(f"recoveries recorded: {len(recoveries)}")
for r in recoveries:
    print(f"  - {r.get('phase')} attempt {r.get('attempt')}: lost {', '.join(r.get('lost', []))}; "
          f"re-formed in {r.get('reform_seconds', 0):.1f}s")
if not recoveries:
    problems.append("no recovery recorded in the faulty job's journal.json summary")
for p in problems:
    print(f"MISMATCH: {p}")
sys.exit(1 if problems else 0)
PY
  cat "$compare_out"
  die "the faulty run's results differ from the reference (or no recovery was recorded)"
fi

# --- 8. Report ------------------------------------------------------------------------------

fault_note() { # STATE -> note when the job had already ended
  case "$1" in
    succeeded | failed) echo " (NOTE: job had already ended; fault not exercised)" ;;
    *) echo "" ;;
  esac
}

echo
echo "================ netns multi-host fault test: PASSED ================"
echo "hosts:        coordinator $coord_ip (${ns_of[coord]}), workers ${worker_ip[w1]}-13 (${ns_of[w1]}..${ns_of[w3]}), bridge $bridge"
echo "data:         $events events; job: 3 workers x 1 thread, ALS 6 iterations, VAE 20 epochs"
echo "reference:    job $ref_id succeeded in ${ref_s}s (worker exits: $ref_restarts)"
echo "faults injected:"
echo "  1. worker w2 SIGKILLed (pid $w2_pid) after 'aggregate', at +${fault_kill_at}s, job entry $fault_kill_state$(fault_note "$fault_kill_state")"
echo "  2. link of w3 cut for 6 s (lease 3 s) after 'als', at +${fault_cut_at}s, job entry $fault_cut_state$(fault_note "$fault_cut_state")"
echo "  3. coordinator SIGKILLed and restarted on its journal at +${fault_coord_at}s, job entry $fault_coord_state$(fault_note "$fault_coord_state"); resumed from journal: $resumed"
echo "  4. a stranger at $stranger_ip hammered the workers' timely ports through the run: $stranger_tries connections, $stranger_refused refused by the members' handshake"
echo "survived:     yes: job $fault_id succeeded in ${fault_s}s (worker exits/restarts: $fault_restarts)"
echo "losses:       $losses_logged member loss(es) in the coordinators' logs"
sed 's/^/              /' "$compare_out" | sed '1s/^ *//; 1s/^/results:      /'
echo "time taken:   $((SECONDS - started_at))s in all"
echo "====================================================================="
