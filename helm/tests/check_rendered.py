#!/usr/bin/env python3
"""Checks the properties that matter on a `helm template` rendering of helm/archetype.

usage: check_rendered.py --name NAME --rendered FILE [--values FILE]... [--expect FEATURE,...]

FEATURES (what the values set turns on; anything not named is expected to be off):
  gpu, token, tls, certmanager, retrain, metrics, servicemonitor, probes, workerpdb, coordpdb

Prints one line per check, "PASS <name> <check>" or "FAIL <name> <check>: <why>", and exits 1
when a check failed. validate.sh counts these lines. Needs PyYAML and jsonschema (the
kubernetes-validate venv has both).
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import tomllib

import jsonschema
import yaml

FEATURES = {
    "gpu", "token", "tls", "certmanager", "retrain", "metrics", "servicemonitor", "probes",
    "workerpdb", "coordpdb",
}

# Small schemas for the custom resources kubernetes-validate does not know (CRDs). They hold
# the fields this chart writes; additionalProperties: false catches typos in them.
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "jobLabel": {"type": "string"},
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": {"type": "object",
                                        "additionalProperties": {"type": "string"}},
                        "matchExpressions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["key", "operator"],
                                "additionalProperties": False,
                                "properties": {
                                    "key": {"type": "string"},
                                    "operator": {"enum": ["In", "NotIn", "Exists",
                                                          "DoesNotExist"]},
                                    "values": {"type": "array",
                                               "items": {"type": "string"}},
                                },
                            },
                        },
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["port"],
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string",
                                         "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                            "scrapeTimeout": {"type": "string",
                                              "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                            "honorLabels": {"type": "boolean"},
                            "relabelings": {"type": "array", "items": {"type": "object"}},
                            "metricRelabelings": {"type": "array",
                                                  "items": {"type": "object"}},
                        },
                    },
                },
            },
        },
    },
}

CERTIFICATE_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "cert-manager.io/v1"},
        "kind": {"const": "Certificate"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["secretName", "issuerRef"],
            "additionalProperties": False,
            "anyOf": [{"required": ["commonName"]}, {"required": ["dnsNames"]}],
            "properties": {
                "secretName": {"type": "string", "minLength": 1},
                "secretTemplate": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"labels": {"type": "object"},
                                   "annotations": {"type": "object"}},
                },
                "commonName": {"type": "string", "minLength": 1, "maxLength": 64},
                "dnsNames": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "usages": {
                    "type": "array",
                    "items": {"enum": [
                        "signing", "digital signature", "content commitment",
                        "key encipherment", "key agreement", "data encipherment",
                        "cert sign", "crl sign", "encipher only", "decipher only", "any",
                        "server auth", "client auth", "code signing", "email protection",
                        "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user",
                        "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc"]},
                },
                "duration": {"type": "string"},
                "renewBefore": {"type": "string"},
                "privateKey": {
                    "type": "object", "additionalProperties": False,
                    "properties": {
                        "algorithm": {"enum": ["RSA", "ECDSA", "Ed25519"]},
                        "size": {"type": "integer"},
                        "encoding": {"enum": ["PKCS1", "PKCS8"]},
                        "rotationPolicy": {"enum": ["Never", "Always"]},
                    },
                },
                "issuerRef": {
                    "type": "object", "required": ["name"], "additionalProperties": False,
                    "properties": {"name": {"type": "string", "minLength": 1},
                                   "kind": {"type": "string"},
                                   "group": {"type": "string"}},
                },
            },
        },
    },
}


class Checker:
    def __init__(self, name: str):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, what: str, ok: bool, why: str = "") -> bool:
        if ok:
            self.passed += 1
            print(f"PASS {self.name} {what}")
        else:
            self.failed += 1
            print(f"FAIL {self.name} {what}: {why}")
        return ok


def load(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def pod_templates(docs):
    """(owner kind/name, pod spec, pod labels) for every workload."""
    out = []
    for d in docs:
        k = d["kind"]
        n = f'{k}/{d["metadata"]["name"]}'
        if k in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            t = d["spec"]["template"]
        elif k == "CronJob":
            t = d["spec"]["jobTemplate"]["spec"]["template"]
        elif k == "Pod":
            t = d
        else:
            continue
        out.append((n, t["spec"], t.get("metadata", {}).get("labels", {}) or {}))
    return out


def selects(selector: dict, labels: dict) -> bool:
    """Label selector semantics (matchLabels + matchExpressions), or a plain map."""
    if selector is None:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return all(labels.get(k) == v for k, v in selector.items())
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        op, key, vals = e["operator"], e["key"], e.get("values") or []
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and labels.get(key) in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def env_map(container: dict) -> dict:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


def flag(args: list[str], name: str):
    """Value following `name` in an argument list, or None."""
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def mount_source(spec: dict, container: dict, path: str):
    """The volume (dict) a file path lives on in this container, and the path inside it."""
    best = None
    for m in container.get("volumeMounts") or []:
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best[1]):
                best = (m, mp)
    if best is None:
        return None, None
    vol = next((v for v in spec.get("volumes") or [] if v["name"] == best[0]["name"]), None)
    return vol, path[len(best[1]):].lstrip("/")


def secret_file_source(spec, container, path):
    """(secretName, key) a mounted file comes from, or (None, None)."""
    vol, rel = mount_source(spec, container, path)
    if not vol or "secret" not in vol:
        return None, None
    s = vol["secret"]
    for item in s.get("items") or []:
        if item["path"] == rel:
            return s["secretName"], item["key"]
    if not s.get("items"):
        return s["secretName"], rel
    return s["secretName"], None


def quantity_is_one(v) -> bool:
    return str(v) == "1"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--rendered", required=True)
    ap.add_argument("--values", action="append", default=[])
    ap.add_argument("--expect", default="")
    a = ap.parse_args()
    expect = {x for x in a.expect.split(",") if x}
    unknown = expect - FEATURES
    if unknown:
        print(f"unknown features {sorted(unknown)}", file=sys.stderr)
        return 2
    on = lambda f: f in expect  # noqa: E731

    c = Checker(a.name)
    docs = load(a.rendered)
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    pods = pod_templates(docs)

    def component(kind, comp):
        return [d for d in by_kind.get(kind, [])
                if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == comp]

    deps = component("Deployment", "coordinator")
    stss = component("StatefulSet", "worker")
    crons = by_kind.get("CronJob", [])
    c.check("one coordinator Deployment", len(deps) == 1, f"found {len(deps)}")
    c.check("one worker StatefulSet", len(stss) == 1, f"found {len(stss)}")
    c.check("CronJob present iff retrain", (len(crons) == 1) == on("retrain"),
            f"{len(crons)} CronJob(s), retrain expected={on('retrain')}")
    if not deps or not stss:
        print(f"# {c.name}: {c.passed} passed, {c.failed} failed")
        return 1
    dep, sts = deps[0], stss[0]
    dspec = dep["spec"]["template"]["spec"]
    wspec = sts["spec"]["template"]["spec"]
    coord = dspec["containers"][0]
    worker = wspec["containers"][0]
    cargs = list(coord.get("command") or []) + list(coord.get("args") or [])
    wenv = env_map(worker)
    cron = crons[0] if crons else None
    cspec = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"] if cron else None
    submit = cspec["containers"][0] if cron else None
    sargs = (list(submit.get("command") or []) + list(submit.get("args") or [])) if cron else []

    # -- worker ingress: the member links admit only this release's workers ----------------
    wlabels = sts["spec"]["template"]["metadata"].get("labels") or {}
    nps = [d for d in by_kind.get("NetworkPolicy", [])
           if selects(d["spec"].get("podSelector") or {}, wlabels)]
    c.check("one NetworkPolicy selects the worker pods", len(nps) == 1, f"found {len(nps)}")

    def workers_only(froms):
        return bool(froms) and all(
            set(f) == {"podSelector"} and selects(f["podSelector"], wlabels) for f in froms)

    for rule in (nps[0]["spec"].get("ingress") or []) if nps else []:
        names = {p.get("port") for p in rule.get("ports") or []}
        open_ports = rule.get("ports") is None or not names <= {"health", "metrics"}
        c.check(f"worker ingress {sorted(map(str, names)) or 'all ports'} from workers only "
                "unless health/metrics", not open_ports or workers_only(rule.get("from")),
                str(rule))

    # -- every pod: non-root, read-only root filesystem, no privilege escalation ------------
    for owner, spec, _ in pods:
        psc = spec.get("securityContext") or {}
        c.check(f"{owner} automountServiceAccountToken false",
                spec.get("automountServiceAccountToken") is False, "not false")
        for ct in (spec.get("initContainers") or []) + spec["containers"]:
            sc = ct.get("securityContext") or {}
            nonroot = sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True
            uid = sc.get("runAsUser", psc.get("runAsUser"))
            c.check(f"{owner}/{ct['name']} non-root", nonroot and uid not in (None, 0),
                    f"runAsNonRoot={nonroot} runAsUser={uid}")
            c.check(f"{owner}/{ct['name']} readOnlyRootFilesystem",
                    sc.get("readOnlyRootFilesystem") is True, str(sc))
            c.check(f"{owner}/{ct['name']} no privilege escalation",
                    sc.get("allowPrivilegeEscalation") is False and not sc.get("privileged")
                    and "ALL" in ((sc.get("capabilities") or {}).get("drop") or []), str(sc))
            vol, _ = mount_source(spec, ct, "/tmp/x")
            c.check(f"{owner}/{ct['name']} writable /tmp emptyDir",
                    bool(vol) and "emptyDir" in vol, f"/tmp volume {vol}")
            res = ct.get("resources") or {}
            c.check(f"{owner}/{ct['name']} memory request and limit",
                    "memory" in (res.get("requests") or {}) and "memory" in (res.get("limits") or {}),
                    str(res))

    # -- probes on the health port ---------------------------------------------------------
    def ports(ct):
        return {p["name"]: p["containerPort"] for p in ct.get("ports") or [] if "name" in p}

    for label, ct, kinds in (("coordinator", coord, ("readinessProbe", "livenessProbe")),
                             ("worker", worker, ("readinessProbe", "livenessProbe",
                                                 "startupProbe"))):
        hp = ports(ct).get("health")
        if not on("probes"):
            c.check(f"{label} has no probes (probes off)",
                    not any(ct.get(k) for k in ("readinessProbe", "livenessProbe", "startupProbe")),
                    "probes present")
            continue
        c.check(f"{label} has a health port", hp is not None, str(ct.get("ports")))
        for k in kinds:
            p = ct.get(k) or {}
            g = p.get("grpc") or {}
            c.check(f"{label} {k} is a gRPC probe on the health port",
                    "grpc" in p and g.get("port") == hp and hp is not None
                    and hp != ports(ct).get("grpc"), f"{k}={p} health={hp}")
        want = "archetype.v1.Coordinator" if label == "coordinator" else "archetype.v1.Worker"
        c.check(f"{label} liveness probe asks for {want}",
                (ct.get("livenessProbe") or {}).get("grpc", {}).get("service") == want,
                str(ct.get("livenessProbe")))
    hl = flag(cargs, "--health-listen")
    c.check("coordinator --health-listen on the health port",
            hl is not None and hl.endswith(f":{ports(coord).get('health')}"), f"{hl}")
    whl = wenv.get("ARCHETYPE_HEALTH_LISTEN")
    c.check("worker ARCHETYPE_HEALTH_LISTEN on the health port",
            whl is not None and whl.endswith(f":{ports(worker).get('health')}"), f"{whl}")
    wtg = wspec.get("terminationGracePeriodSeconds", 30)
    c.check("worker grace period covers a checkpoint write (>= 60 s)", wtg >= 60, str(wtg))

    # -- GPU --------------------------------------------------------------------------------
    wres = worker.get("resources") or {}
    gpu_req = (wres.get("requests") or {}).get("nvidia.com/gpu")
    gpu_lim = (wres.get("limits") or {}).get("nvidia.com/gpu")
    if on("gpu"):
        c.check("GPU worker requests and limits nvidia.com/gpu: 1",
                quantity_is_one(gpu_req) and quantity_is_one(gpu_lim), f"{gpu_req}/{gpu_lim}")
        c.check("GPU worker ARCHETYPE_DEVICE=cuda", wenv.get("ARCHETYPE_DEVICE") == "cuda",
                str(wenv.get("ARCHETYPE_DEVICE")))
        ptx = wenv.get("ARCHETYPE_PTX_CACHE")
        vol, _ = mount_source(wspec, worker, (ptx or "/nonexistent") + "/x")
        c.check("GPU worker ARCHETYPE_PTX_CACHE on a writable emptyDir",
                ptx is not None and vol is not None and "emptyDir" in vol, f"{ptx} -> {vol}")
        c.check("GPU worker image is the -gpu image",
                worker["image"].endswith("-gpu"), worker["image"])
        c.check("GPU worker has tolerations and a node selector",
                bool(wspec.get("tolerations")) and bool(wspec.get("nodeSelector")),
                f"{wspec.get('tolerations')} {wspec.get('nodeSelector')}")
    else:
        c.check("CPU worker requests no GPU", gpu_req is None and gpu_lim is None,
                f"{gpu_req}/{gpu_lim}")
        c.check("CPU worker ARCHETYPE_DEVICE is cpu or auto",
                wenv.get("ARCHETYPE_DEVICE") in ("cpu", "auto"), str(wenv.get("ARCHETYPE_DEVICE")))

    # -- no credential in a ConfigMap, an argument or an env value ---------------------------
    secrets: set[str] = set()
    for s in by_kind.get("Secret", []):
        for v in (s.get("data") or {}).values():
            secrets.add(base64.b64decode(v).decode("utf-8", "replace"))
        for v in (s.get("stringData") or {}).values():
            secrets.add(str(v))
    for vf in a.values:
        with open(vf, encoding="utf-8") as f:
            vals = yaml.safe_load(f) or {}
        for v in ((vals.get("objectStore") or {}).get("env") or {}).values():
            secrets.add(str(v))
    secrets = {s for s in secrets if len(s) >= 8}
    exposed = []
    for cm in by_kind.get("ConfigMap", []):
        for k, v in (cm.get("data") or {}).items():
            exposed.append((f"ConfigMap/{cm['metadata']['name']}:{k}", str(v)))
    for owner, spec, _ in pods:
        for ct in (spec.get("initContainers") or []) + spec["containers"]:
            for x in (ct.get("command") or []) + (ct.get("args") or []):
                exposed.append((f"{owner}/{ct['name']} argument", str(x)))
            for e in ct.get("env") or []:
                if "value" in e:
                    exposed.append((f"{owner}/{ct['name']} env {e['name']}", str(e["value"])))
    leaks = [where for where, text in exposed for s in secrets if s in text]
    c.check(f"no Secret value ({len(secrets)} checked) in a ConfigMap, argument or env value",
            not leaks, ", ".join(leaks))
    sensitive = re.compile(r"(TOKEN|SECRET|PASSWORD|CREDENTIAL|ACCESS_KEY)", re.I)
    bad_env = []
    for owner, spec, _ in pods:
        for ct in spec["containers"]:
            for e in ct.get("env") or []:
                if sensitive.search(e["name"]) and not e["name"].endswith("_FILE") \
                        and "value" in e:
                    bad_env.append(f"{owner} {e['name']}")
    c.check("no credential-named env var with a literal value (tokens are files)",
            not bad_env, ", ".join(bad_env))
    configs = [cm for cm in by_kind.get("ConfigMap", [])
               if "job.toml" in (cm.get("data") or {})]
    c.check("job config ConfigMap holds job.toml", len(configs) == 1, f"{len(configs)}")
    if configs:
        try:
            parsed = tomllib.loads(configs[0]["data"]["job.toml"])
            c.check("job.toml parses as TOML", True)
            c.check("job.toml has [promotion] and [output].url",
                    "promotion" in parsed and "url" in parsed.get("output", {}), str(parsed.keys()))
        except tomllib.TOMLDecodeError as e:
            c.check("job.toml parses as TOML", False, str(e))

    # -- token -----------------------------------------------------------------------------
    if on("token"):
        tf = flag(cargs, "--token-file")
        csec = secret_file_source(dspec, coord, tf) if tf else (None, None)
        c.check("coordinator --token-file is a file from a Secret", csec[0] is not None
                and csec[1] is not None, f"{tf} -> {csec}")
        wtf = wenv.get("ARCHETYPE_TOKEN_FILE")
        wsec = secret_file_source(wspec, worker, wtf) if wtf else (None, None)
        c.check("worker ARCHETYPE_TOKEN_FILE is the same Secret key",
                wsec == csec and wsec[0] is not None, f"{wtf} -> {wsec} vs {csec}")
        c.check("worker has no ARCHETYPE_TOKEN value", "ARCHETYPE_TOKEN" not in wenv, "set")
        created = {s["metadata"]["name"]: s for s in by_kind.get("Secret", [])}
        if csec[0] in created:
            data = created[csec[0]].get("data") or {}
            tok = base64.b64decode(data.get(csec[1], "")).decode()
            c.check("chart-created token is random and >= 32 characters",
                    len(tok) >= 32 and tok.isalnum(), f"length {len(tok)}")
        else:
            c.check("token Secret is an existing one (not rendered)", csec[0] is not None,
                    str(csec))
        if cron:
            stf = flag(sargs, "--token-file")
            ssec = secret_file_source(cspec, submit, stf) if stf else (None, None)
            c.check("CronJob `archetype submit --token-file` from the same Secret",
                    ssec == csec and ssec[0] is not None, f"{stf} -> {ssec}")
    else:
        c.check("no token flag or env when the token is off",
                flag(cargs, "--token-file") is None and "ARCHETYPE_TOKEN_FILE" not in wenv,
                "present")

    # -- TLS -------------------------------------------------------------------------------
    url = wenv.get("ARCHETYPE_COORDINATOR", "")
    coord_svc_name = dep["metadata"]["name"]
    c.check("worker ARCHETYPE_COORDINATOR names the coordinator Service and port",
            re.fullmatch(rf"https?://{re.escape(coord_svc_name)}:{ports(coord).get('grpc')}", url)
            is not None, url)
    cert_secrets = {}
    for cert in by_kind.get("Certificate", []):
        cert_secrets[cert["spec"]["secretName"]] = cert
    if on("tls"):
        c.check("coordinator URL is https", url.startswith("https://"), url)
        srv = {}
        for fl in ("--tls-cert", "--tls-key", "--tls-ca"):
            p = flag(cargs, fl)
            srv[fl] = secret_file_source(dspec, coord, p) if p else (None, None)
            c.check(f"coordinator {fl} is a file from a Secret", srv[fl][0] is not None
                    and srv[fl][1] is not None, f"{p} -> {srv[fl]}")
        c.check("coordinator TLS cert/key/CA come from one kubernetes.io/tls-shaped Secret",
                {v[0] for v in srv.values()} == {srv["--tls-cert"][0]}
                and [v[1] for v in srv.values()] == ["tls.crt", "tls.key", "ca.crt"], str(srv))
        cli = {}
        for ev in ("ARCHETYPE_TLS_CERT", "ARCHETYPE_TLS_KEY", "ARCHETYPE_TLS_CA"):
            p = wenv.get(ev)
            cli[ev] = secret_file_source(wspec, worker, p) if p else (None, None)
            c.check(f"worker {ev} is a file from a Secret", cli[ev][0] is not None, f"{p}")
        c.check("worker presents the client Secret, not the server's",
                cli["ARCHETYPE_TLS_CERT"][0] not in (None, srv["--tls-cert"][0]),
                f"{cli['ARCHETYPE_TLS_CERT']} vs {srv['--tls-cert']}")
        if cron:
            ok = True
            for fl, key in (("--tls-ca", "ca.crt"), ("--tls-cert", "tls.crt"),
                            ("--tls-key", "tls.key")):
                p = flag(sargs, fl)
                src = secret_file_source(cspec, submit, p) if p else (None, None)
                ok = ok and src == (cli["ARCHETYPE_TLS_CERT"][0], key)
            c.check("CronJob `archetype submit` passes --tls-ca/--tls-cert/--tls-key of the client Secret",
                    ok, str(sargs))
            c.check("CronJob submits to the https coordinator URL",
                    flag(sargs, "--coordinator") == url, f"{flag(sargs, '--coordinator')} vs {url}")
        if on("certmanager"):
            for cert in by_kind.get("Certificate", []):
                errs = sorted(jsonschema.Draft7Validator(CERTIFICATE_SCHEMA).iter_errors(cert),
                              key=str)
                c.check(f"Certificate/{cert['metadata']['name']} matches the cert-manager schema subset",
                        not errs, "; ".join(e.message for e in errs[:3]))
            sc = cert_secrets.get(srv["--tls-cert"][0])
            ns_fqdn = f"{coord_svc_name}."  # any namespace-qualified name
            c.check("server Certificate writes the coordinator's Secret with server auth",
                    sc is not None and "server auth" in sc["spec"].get("usages", []), str(sc))
            if sc:
                names = sc["spec"].get("dnsNames", [])
                c.check("server Certificate names the Service (short and FQDN)",
                        coord_svc_name in names and any(n.startswith(ns_fqdn)
                                                         and n.endswith(".svc.cluster.local")
                                                         for n in names), str(names))
            cc = cert_secrets.get(cli["ARCHETYPE_TLS_CERT"][0])
            c.check("client Certificate writes the workers' Secret with client auth",
                    cc is not None and "client auth" in cc["spec"].get("usages", []), str(cc))
            if sc and cc:
                c.check("both Certificates come from one issuer",
                        sc["spec"]["issuerRef"] == cc["spec"]["issuerRef"], "different issuers")
        else:
            c.check("no Certificate without cert-manager", not by_kind.get("Certificate"),
                    "Certificate rendered")
    else:
        c.check("coordinator URL is http without TLS", url.startswith("http://"), url)
        c.check("no TLS flags without TLS",
                flag(cargs, "--tls-cert") is None and "ARCHETYPE_TLS_CA" not in wenv, "present")
        c.check("no Certificate without TLS", not by_kind.get("Certificate"), "present")

    # -- CronJob ---------------------------------------------------------------------------
    if cron:
        c.check("CronJob runs `archetype submit`", sargs[:2] == ["archetype", "submit"],
                str(sargs[:2]))
        cfg = flag(sargs, "--config")
        vol, rel = mount_source(cspec, submit, cfg or "/nonexistent")
        c.check("CronJob --config is job.toml from the job ConfigMap",
                bool(vol) and "configMap" in vol and rel == "job.toml" and configs
                and vol["configMap"]["name"] == configs[0]["metadata"]["name"], f"{cfg} -> {vol}")
        replicas = sts["spec"]["replicas"]
        c.check("CronJob sets cluster.workers to the worker replicas",
                f"cluster.workers={replicas}" in sargs, str(sargs))
        c.check("CronJob sets cluster.spawn_local_workers=false",
                "cluster.spawn_local_workers=false" in sargs, str(sargs))
        c.check("CronJob pod restartPolicy Never", cspec.get("restartPolicy") == "Never",
                str(cspec.get("restartPolicy")))

    # -- Services: headless peers, selectors, target ports ---------------------------------
    services = by_kind.get("Service", [])
    headless = [s for s in services if s["spec"].get("clusterIP") == "None"]
    c.check("one headless worker Service", len(headless) == 1, f"{len(headless)}")
    if headless:
        h = headless[0]
        c.check("headless Service publishes not-ready addresses",
                h["spec"].get("publishNotReadyAddresses") is True, str(h["spec"]))
        c.check("StatefulSet serviceName is the headless Service",
                sts["spec"]["serviceName"] == h["metadata"]["name"], sts["spec"]["serviceName"])
        c.check("workers advertise <pod>.<headless Service>",
                f".{h['metadata']['name']}." in wenv.get("ARCHETYPE_ADVERTISE_HOST", ""),
                str(wenv.get("ARCHETYPE_ADVERTISE_HOST")))
    for s in services:
        sel = s["spec"].get("selector") or {}
        matched = [(o, sp) for o, sp, lab in pods if selects(sel, lab) and "CronJob" not in o]
        c.check(f"Service/{s['metadata']['name']} selects exactly one workload",
                len(matched) == 1, str([o for o, _ in matched]))
        for p in s["spec"].get("ports") or []:
            tp = p.get("targetPort")
            found = any(tp in ports(ct) or tp in ports(ct).values()
                        for _, sp in matched for ct in sp["containers"])
            c.check(f"Service/{s['metadata']['name']} port {p.get('name')} targets a container port",
                    found, f"targetPort {tp}")

    # -- PodDisruptionBudgets --------------------------------------------------------------
    pdbs = by_kind.get("PodDisruptionBudget", [])
    wl = sts["spec"]["template"]["metadata"]["labels"]
    cl = dep["spec"]["template"]["metadata"]["labels"]
    wp = [p for p in pdbs if selects(p["spec"]["selector"], wl)]
    cp = [p for p in pdbs if selects(p["spec"]["selector"], cl)]
    c.check("worker PDB selects the worker pods" if on("workerpdb") else "no worker PDB",
            len(wp) == (1 if on("workerpdb") else 0), f"{len(wp)} PDB(s)")
    c.check("coordinator PDB selects the coordinator pod" if on("coordpdb") else "no coordinator PDB",
            len(cp) == (1 if on("coordpdb") else 0), f"{len(cp)} PDB(s)")
    for p in pdbs:
        n = sum(selects(p["spec"]["selector"], lab) for _, _, lab in pods)
        c.check(f"PDB/{p['metadata']['name']} selects exactly one workload", n == 1,
                f"selects {n}")

    # -- metrics and the ServiceMonitor ----------------------------------------------------
    if on("metrics"):
        ml = flag(cargs, "--metrics-listen")
        c.check("coordinator --metrics-listen on its metrics port",
                ml is not None and ml.endswith(f":{ports(coord).get('metrics')}"), str(ml))
        wml = wenv.get("ARCHETYPE_METRICS_LISTEN")
        c.check("worker ARCHETYPE_METRICS_LISTEN on its metrics port",
                wml is not None and wml.endswith(f":{ports(worker).get('metrics')}"), str(wml))
    else:
        c.check("no metrics listener when metrics are off",
                flag(cargs, "--metrics-listen") is None and "ARCHETYPE_METRICS_LISTEN" not in wenv,
                "present")
    sms = by_kind.get("ServiceMonitor", [])
    c.check("ServiceMonitor present iff enabled", (len(sms) == 1) == on("servicemonitor"),
            f"{len(sms)}")
    for sm in sms:
        errs = sorted(jsonschema.Draft7Validator(SERVICE_MONITOR_SCHEMA).iter_errors(sm), key=str)
        c.check("ServiceMonitor matches the monitoring.coreos.com/v1 schema subset", not errs,
                "; ".join(e.message for e in errs[:3]))
        selected = [s for s in services
                    if selects(sm["spec"]["selector"], s["metadata"].get("labels") or {})]
        comps = sorted(s["metadata"]["labels"].get("app.kubernetes.io/component") for s in selected)
        c.check("ServiceMonitor selects the coordinator and worker Services",
                comps == ["coordinator", "worker"], str(comps))
        for ep in sm["spec"]["endpoints"]:
            for s in selected:
                names = [p.get("name") for p in s["spec"].get("ports") or []]
                c.check(f"ServiceMonitor port {ep['port']} exists on Service/{s['metadata']['name']}",
                        ep["port"] in names, str(names))

    # -- labels ----------------------------------------------------------------------------
    unlabelled = [f"{d['kind']}/{d['metadata']['name']}" for d in docs
                  if "app.kubernetes.io/instance" not in (d["metadata"].get("labels") or {})]
    c.check("every resource has the instance label", not unlabelled, ", ".join(unlabelled))

    print(f"# {c.name}: {c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
