#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Static checks of the deployment files in deploy/ (ctest label `unit`, no root, no cluster).

usage: deploy_checks.py kubernetes DEPLOY_DIR BINARY     (BINARY: the built shadowtap, for check-config)
       deploy_checks.py config BINARY FILE...           (shadowtap --config files, by `BINARY check-config`)
       deploy_checks.py systemd UNIT BINARY K8S_DIR     (directives + `systemd-analyze verify`)
       deploy_checks.py dockerfile DEPLOY_DIR DEPS_SH [BINARY]

Each prints what it checked and exits 1 with one line per problem found. Only the Python standard
library and PyYAML (Debian: python3-yaml).
"""
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

# The capability set measured with tests/deploy/caps_probe.sh (see deploy/README-section.md).
CAPS = {"BPF", "PERFMON", "NET_ADMIN", "NET_RAW"}
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
CONFIG_PATH = "/etc/shadowtap/shadowtap.yaml"
BINARY_PATH = "/usr/sbin/shadowtap"
METRICS_PORT = 9477

problems = []
checked = []


def bad(msg):
    problems.append(msg)


def ok(msg):
    checked.append(msg)


def finish(what):
    for c in checked:
        print("ok:", c)
    for p in problems:
        print("FAIL: %s: %s" % (what, p), file=sys.stderr)
    if problems:
        sys.exit(1)
    print("%s: all %d checks passed" % (what, len(checked)))


def get(obj, *path, default=None):
    for key in path:
        if isinstance(obj, dict) and key in obj:
            obj = obj[key]
        elif isinstance(obj, list) and isinstance(key, int) and -len(obj) <= key < len(obj):
            obj = obj[key]
        else:
            return default
    return obj


# --- shadowtap --config files ----------------------------------------------------------------------

# Checked by the agent itself (`shadowtap check-config`: the parser and checks `run` uses, no name
# or interface lookup), so there is no second copy of the schema to keep in step. ${NODE_IP} comes
# from the downward API in the DaemonSet; a documentation address (TEST-NET-1) stands in for it.
PLACEHOLDER_ENV = {"NODE_IP": "192.0.2.1"}


def agent_check_config(binary, path, where, shown_path=None):
    """Runs `shadowtap check-config PATH`; its error (FILE:LINE: KEY: ...) becomes the problem."""
    r = subprocess.run([binary, "check-config", path], capture_output=True, text=True,
                       env=dict(os.environ, **PLACEHOLDER_ENV))
    out = (r.stderr.strip() or r.stdout.strip())
    if shown_path:
        out = out.replace(path, shown_path)
    if r.returncode != 0:
        bad("%s: shadowtap check-config (exit %d): %s" % (where, r.returncode, out))
    else:
        ok("%s: shadowtap check-config: ok" % where)


def cmd_config(binary, files):
    for f in files:
        agent_check_config(binary, f, os.path.basename(f))
    finish("config")


# --- Kubernetes manifests --------------------------------------------------------------------------

def load_manifests(kdir):
    docs = []
    files = sorted(f for f in os.listdir(kdir) if f.endswith((".yaml", ".yml")))
    if not files:
        bad("no YAML files in %s" % kdir)
    for f in files:
        try:
            with open(os.path.join(kdir, f)) as fh:
                loaded = [d for d in yaml.safe_load_all(fh) if d is not None]
        except yaml.YAMLError as e:
            bad("%s does not parse: %s" % (f, e))
            continue
        for d in loaded:
            if not (isinstance(d, dict) and d.get("apiVersion") and d.get("kind") and get(d, "metadata", "name")):
                bad("%s: a document without apiVersion/kind/metadata.name" % f)
                continue
            docs.append((f, d))
        ok("%s parses (%s)" % (f, ", ".join(d["kind"] for d in loaded if isinstance(d, dict))))
    return docs


def quantity(q, cpu):
    """Kubernetes quantity -> float (cores or bytes)."""
    s = str(q)
    m = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?", s)
    if not m:
        bad("invalid quantity %r" % s)
        return 0.0
    v = float(m.group(1))
    mult = {None: 1, "m": 0.001, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
            "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}[m.group(2)]
    if cpu and m.group(2) not in (None, "m"):
        bad("cpu quantity %r" % s)
    return v * mult


def cmd_kubernetes(kdir, binary):
    docs = load_manifests(kdir)
    by_kind = {}
    for f, d in docs:
        by_kind.setdefault(d["kind"], []).append((f, d))

    rbac = [(f, d["kind"]) for f, d in docs if d["kind"] in RBAC_KINDS]
    if rbac:
        bad("RBAC objects present (the agent needs no API rights): %s" % rbac)
    else:
        ok("no Role/ClusterRole/RoleBinding/ClusterRoleBinding")

    ns = [d for _, d in by_kind.get("Namespace", [])]
    ns_name = get(ns, 0, "metadata", "name")
    if len(ns) != 1:
        bad("expected one Namespace, found %d" % len(ns))
    elif get(ns[0], "metadata", "labels", "pod-security.kubernetes.io/enforce") != "privileged":
        bad("Namespace %s: Pod Security Admission would reject hostNetwork/hostPath/capabilities "
            "(label pod-security.kubernetes.io/enforce: privileged)" % ns_name)
    else:
        ok("Namespace %s (PSA enforce=privileged)" % ns_name)

    ds_list = by_kind.get("DaemonSet", [])
    if len(ds_list) != 1:
        bad("expected one DaemonSet, found %d" % len(ds_list))
        finish("kubernetes")
    ds = ds_list[0][1]
    pod = get(ds, "spec", "template", "spec", default={})
    meta = get(ds, "spec", "template", "metadata", default={})
    if get(ds, "metadata", "namespace") != ns_name:
        bad("DaemonSet is not in namespace %s" % ns_name)
    sel = get(ds, "spec", "selector", "matchLabels", default={})
    if not sel or any(get(meta, "labels", k) != v for k, v in sel.items()):
        bad("DaemonSet selector %r does not match the pod labels" % sel)
    if get(ds, "spec", "updateStrategy", "rollingUpdate", "maxSurge") not in (None, 0):
        bad("DaemonSet maxSurge would run two agents on one node (already tapped)")

    # Service account: exists, no token.
    sa_name = pod.get("serviceAccountName")
    sas = {get(d, "metadata", "name"): d for _, d in by_kind.get("ServiceAccount", [])}
    if sa_name not in sas:
        bad("serviceAccountName %r is not defined by a ServiceAccount manifest" % sa_name)
    elif sas[sa_name].get("automountServiceAccountToken") is not False:
        bad("ServiceAccount %s: automountServiceAccountToken must be false" % sa_name)
    elif pod.get("automountServiceAccountToken") is not False:
        bad("pod spec: automountServiceAccountToken must be false")
    else:
        ok("serviceAccountName %s, no token mounted" % sa_name)

    if pod.get("hostNetwork") is not True:
        bad("hostNetwork must be true")
    else:
        ok("hostNetwork: true")
    if pod.get("dnsPolicy") != "ClusterFirstWithHostNet":
        bad("dnsPolicy must be ClusterFirstWithHostNet (cluster Service names as mirror targets)")
    else:
        ok("dnsPolicy: ClusterFirstWithHostNet")
    if pod.get("hostPID") or pod.get("hostIPC"):
        bad("hostPID/hostIPC are not needed")
    tgp = pod.get("terminationGracePeriodSeconds")
    if not (isinstance(tgp, int) and 10 <= tgp <= 120):
        bad("terminationGracePeriodSeconds %r: 10-120 s lets the agent detach" % tgp)
    else:
        ok("terminationGracePeriodSeconds: %d" % tgp)
    if not any(t.get("operator") == "Exists" and "key" not in t and "effect" not in t
               for t in pod.get("tolerations", []) or []):
        bad("tolerations: an `operator: Exists` toleration (every node, every taint) is missing")
    else:
        ok("tolerates every taint")

    ann = meta.get("annotations", {}) or {}
    if ann.get("prometheus.io/scrape") != "true" or str(ann.get("prometheus.io/port")) != str(METRICS_PORT):
        bad("pod annotations prometheus.io/scrape \"true\" and prometheus.io/port \"%d\" missing" % METRICS_PORT)
    else:
        ok("prometheus.io annotations (port %d)" % METRICS_PORT)

    containers = pod.get("containers", []) or []
    if len(containers) != 1:
        bad("expected one container, found %d" % len(containers))
        finish("kubernetes")
    c = containers[0]
    argv = (c.get("command") or []) + (c.get("args") or [])
    if argv[:1] != [BINARY_PATH] or argv[1:2] != ["run"] or \
            "--config" not in argv or argv[argv.index("--config") + 1:][:1] != [CONFIG_PATH]:
        bad("container must run `%s run --config %s`, runs %r" % (BINARY_PATH, CONFIG_PATH, argv))
    else:
        ok("runs %s" % " ".join(argv))

    sc = c.get("securityContext", {}) or {}
    caps = get(sc, "capabilities", default={}) or {}
    add = caps.get("add") or []
    if sorted(add) != sorted(CAPS) or len(add) != len(set(add)):
        bad("capabilities.add must be exactly %s, is %s" % (sorted(CAPS), add))
    else:
        ok("capabilities.add = %s" % add)
    if caps.get("drop") != ["ALL"]:
        bad("capabilities.drop must be [ALL], is %r" % caps.get("drop"))
    else:
        ok("capabilities.drop = [ALL]")
    for key, want in (("privileged", False), ("runAsUser", 0), ("readOnlyRootFilesystem", True),
                      ("allowPrivilegeEscalation", False)):
        if sc.get(key) != want:
            bad("securityContext.%s must be %r, is %r" % (key, want, sc.get(key)))
    if get(pod, "securityContext", "privileged"):
        bad("pod securityContext must not be privileged")
    ok("securityContext: privileged false, runAsUser 0, readOnlyRootFilesystem, no escalation")

    env = {e.get("name"): e for e in c.get("env", []) or []}
    if get(env, "NODE_IP", "valueFrom", "fieldRef", "fieldPath") != "status.hostIP":
        bad("env NODE_IP must come from the downward API fieldRef status.hostIP")
    else:
        ok("NODE_IP from status.hostIP")

    for probe in ("livenessProbe", "readinessProbe"):
        h = get(c, probe, "httpGet", default={}) or {}
        if h.get("path") != "/healthz" or h.get("port") not in (METRICS_PORT, "metrics") or h.get("host") not in (None,):
            bad("%s must be httpGet :%d/healthz on the pod (node) IP, is %r" % (probe, METRICS_PORT, get(c, probe)))
        else:
            ok("%s: httpGet :%d/healthz" % (probe, METRICS_PORT))

    res = c.get("resources", {}) or {}
    for kind in ("cpu", "memory"):
        req, lim = get(res, "requests", kind), get(res, "limits", kind)
        if req is None or lim is None:
            bad("resources.requests.%s and resources.limits.%s are both required" % (kind, kind))
            continue
        if quantity(req, kind == "cpu") > quantity(lim, kind == "cpu"):
            bad("resources: %s request %s above its limit %s" % (kind, req, lim))
        else:
            ok("resources %s: request %s, limit %s" % (kind, req, lim))

    vols = {v.get("name"): v for v in pod.get("volumes", []) or []}
    mounts = {m.get("mountPath"): m for m in c.get("volumeMounts", []) or []}
    bpf = mounts.get("/sys/fs/bpf")
    if not bpf or get(vols, bpf.get("name"), "hostPath", "path") != "/sys/fs/bpf":
        bad("/sys/fs/bpf must be mounted from hostPath /sys/fs/bpf")
    elif bpf.get("readOnly"):
        bad("/sys/fs/bpf must be writable (pins)")
    elif bpf.get("mountPropagation") == "Bidirectional" and not sc.get("privileged"):
        bad("mountPropagation Bidirectional is only allowed for privileged containers")
    else:
        ok("/sys/fs/bpf from the host (%s)" % bpf.get("mountPropagation", "None"))
    run = mounts.get("/run/shadowtap")
    if not run or not (get(vols, run.get("name"), "emptyDir") is not None or get(vols, run.get("name"), "hostPath")):
        bad("/run/shadowtap must be a writable emptyDir or hostPath (read-only root filesystem)")
    else:
        ok("/run/shadowtap writable")

    # The config: a ConfigMap volume that puts a key at /etc/shadowtap/shadowtap.yaml.
    cms = {get(d, "metadata", "name"): d for _, d in by_kind.get("ConfigMap", [])}
    cfg_text = None
    for path, m in mounts.items():
        v = vols.get(m.get("name"), {})
        cm_name = get(v, "configMap", "name")
        if not cm_name:
            continue
        items = get(v, "configMap", "items") or []
        if m.get("subPath"):
            files = {path: m["subPath"]}
        elif items:
            files = {path.rstrip("/") + "/" + it["path"]: it["key"] for it in items}
        else:
            files = {path.rstrip("/") + "/" + k: k for k in get(cms, cm_name, "data", default={}) or {}}
        if CONFIG_PATH in files:
            if cm_name not in cms:
                bad("configMap %s is not defined by a manifest" % cm_name)
            elif get(cms[cm_name], "metadata", "namespace") != ns_name:
                bad("ConfigMap %s is not in namespace %s" % (cm_name, ns_name))
            else:
                cfg_text = get(cms[cm_name], "data", files[CONFIG_PATH])
                cfg_source = "ConfigMap %s key %s" % (cm_name, files[CONFIG_PATH])
                ok("%s from ConfigMap %s key %s" % (CONFIG_PATH, cm_name, files[CONFIG_PATH]))
    if not isinstance(cfg_text, str):
        bad("no ConfigMap volume provides %s as text" % CONFIG_PATH)
    else:
        # The agent checks it as the file it will be in the pod.
        with tempfile.TemporaryDirectory(prefix="st-configmap.") as tmp:
            path = os.path.join(tmp, os.path.basename(CONFIG_PATH))
            with open(path, "w") as fh:
                fh.write(cfg_text)
            agent_check_config(binary, path, cfg_source, CONFIG_PATH)  # its errors as the pod would log them
        try:
            cfg = yaml.safe_load(cfg_text)
        except yaml.YAMLError:
            cfg = None  # check-config has said why
        if cfg is not None:
            if isinstance(cfg, dict) and cfg.get("interfaceFromAddress") != "${NODE_IP}":
                bad("the ConfigMap's config must tap interfaceFromAddress \"${NODE_IP}\"")
            # Every mirror target is a Service of the example shadow deployment (FQDN, port).
            services = {"%s.%s.svc.cluster.local" % (get(d, "metadata", "name"), get(d, "metadata", "namespace")):
                        {p.get("port") for p in get(d, "spec", "ports", default=[])}
                        for _, d in by_kind.get("Service", [])}
            for s in (cfg or {}).get("services", []) if isinstance(cfg, dict) else []:
                ts = s.get("mirror") if isinstance(s.get("mirror"), list) else [s.get("mirror")]
                for t in ts:
                    if isinstance(t, dict) and t.get("port") not in services.get(t.get("host"), set()):
                        bad("mirror target %s:%s is not a Service port defined in %s" % (t.get("host"), t.get("port"), kdir))
                    elif isinstance(t, dict):
                        ok("mirror target %s:%s is the example shadow Service" % (t["host"], t["port"]))

    deps = [d for _, d in by_kind.get("Deployment", [])]
    if not deps:
        bad("no shadow Deployment example")
    for d in deps:
        labels = get(d, "spec", "template", "metadata", "labels", default={})
        if not any(all(labels.get(k) == v for k, v in (get(s, "spec", "selector") or {}).items())
                   for _, s in by_kind.get("Service", [])):
            bad("Deployment %s is not selected by any Service" % get(d, "metadata", "name"))
    finish("kubernetes")


# --- systemd unit ------------------------------------------------------------------------------------

def parse_unit(path):
    sections, cur = {}, None
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                cur = sections.setdefault(line[1:-1], {})
                continue
            k, _, v = line.partition("=")
            cur.setdefault(k.strip(), []).append(v.strip())
    return sections


def cmd_systemd(unit, binary, kdir):
    s = parse_unit(unit).get("Service", {})

    def one(key):
        v = s.get(key, [])
        return v[-1] if v else None

    want_exec = "%s run --config %s --replace-stale" % (BINARY_PATH, CONFIG_PATH)
    if one("ExecStart") != want_exec:
        bad("ExecStart must be %r, is %r" % (want_exec, one("ExecStart")))
    else:
        ok("ExecStart=%s" % want_exec)
    if one("ExecReload") != "/bin/kill -HUP $MAINPID":
        bad("ExecReload must send SIGHUP")
    caps = {"CAP_" + c for c in CAPS}
    for key in ("CapabilityBoundingSet", "AmbientCapabilities"):
        got = set(" ".join(s.get(key, [])).split())
        if got != caps:
            bad("%s must be exactly %s, is %s" % (key, sorted(caps), sorted(got)))
        else:
            ok("%s=%s" % (key, " ".join(sorted(got))))
    expect = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "ProtectKernelModules": "yes", "ProtectControlGroups": "yes", "LockPersonality": "yes",
        "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native", "Restart": "on-failure",
        "RuntimeDirectory": "shadowtap", "LimitNOFILE": "1048576",
    }
    for k, v in expect.items():
        if one(k) != v:
            bad("%s=%s expected, got %r" % (k, v, one(k)))
        else:
            ok("%s=%s" % (k, v))
    fams = set(" ".join(s.get("RestrictAddressFamilies", [])).split())
    if fams != {"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET"}:
        bad("RestrictAddressFamilies must be AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET, is %s" % sorted(fams))
    rw = [p.lstrip("-") for p in " ".join(s.get("ReadWritePaths", [])).split()]
    for p in ("/sys/fs/bpf", "/run/shadowtap"):
        if p not in rw:
            bad("ReadWritePaths must include %s" % p)
    ok("ReadWritePaths=%s" % " ".join(rw))

    # systemd-analyze verify on a copy whose ExecStart points at the built binary (the installed path
    # does not exist here); everything else is verified exactly as shipped. Any output is a failure:
    # verify exits 0 on unknown keys and bad values and only prints them.
    tool = shutil.which("systemd-analyze")
    if not tool:
        bad("systemd-analyze not found (Debian package: systemd)")
        finish("systemd")
    with tempfile.TemporaryDirectory(prefix="st-unit.") as tmp:
        copy = os.path.join(tmp, os.path.basename(unit))
        with open(unit) as fh:
            text = fh.read()
        with open(copy, "w") as fh:
            fh.write(text.replace(BINARY_PATH, os.path.abspath(binary)))
        r = subprocess.run([tool, "verify", "--man=no", copy], capture_output=True, text=True,
                           env=dict(os.environ, SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="cat"))
        out = (r.stdout + r.stderr).strip()
        if r.returncode != 0 or out:
            bad("systemd-analyze verify (exit %d): %s" % (r.returncode, out))
        else:
            ok("systemd-analyze verify: clean")
    finish("systemd")


# --- Dockerfile ----------------------------------------------------------------------------------------

BUILD_TOOLS = re.compile(r"^(build-essential|cmake|clang(-\d+)?|llvm(-\d+)?|gcc(-\d+)?|g\+\+(-\d+)?|make|"
                         r"bpftool|pkg-config|pkgconf|git|.*-dev)$")
BASE_RUNTIME = {"libc6", "libgcc-s1", "libstdc++6"}  # in every Debian image


def dockerfile_instructions(path):
    text = open(path).read()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        out.append((op.upper(), rest.strip()))
    return out


def apt_packages(run):
    pkgs = []
    for part in re.split(r"&&|;", run):
        words = shlex.split(part)
        if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
            pkgs += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def deps_build_packages(deps_sh):
    text = open(deps_sh).read()
    m = re.search(r"PACKAGES=\((.*?)\n\)", text, re.S)
    section, pkgs = None, []
    for line in (m.group(1) if m else "").splitlines():
        line = line.strip()
        if line.startswith("#"):
            section = line.lstrip("# ").split()[0] if line.lstrip("# ") else None
            continue
        if section == "build":
            pkgs += line.split()
    return pkgs


def cmd_dockerfile(ddir, deps_sh, binary=None):
    path = os.path.join(ddir, "Dockerfile")
    ins = dockerfile_instructions(path)
    stages = []
    for op, rest in ins:
        if op == "FROM":
            words = rest.split()
            words = [w for w in words if not w.startswith("--platform")]
            stages.append({"image": words[0], "name": words[2] if len(words) > 2 and words[1].upper() == "AS" else None,
                           "ins": []})
        elif op != "ARG" or stages:
            if not stages:
                bad("instruction %s before the first FROM" % op)
                continue
            stages[-1]["ins"].append((op, rest))
    if len(stages) < 2:
        bad("multi-stage build expected, found %d stage(s)" % len(stages))
        finish("dockerfile")
    ok("%d stages: %s" % (len(stages), ", ".join("%s AS %s" % (s["image"], s["name"]) for s in stages)))
    for s in stages:
        if not re.fullmatch(r"(docker\.io/)?(library/)?debian:bookworm(-slim)?(@sha256:[0-9a-f]{64})?", s["image"]):
            bad("stage %s: FROM %s is not Debian 12 (debian:bookworm)" % (s["name"], s["image"]))
    if not stages[0]["image"].split("@")[0].endswith("debian:bookworm"):
        bad("the build stage must be FROM debian:bookworm")
    build, final = stages[0], stages[-1]

    b_pkgs = [p for op, r in build["ins"] if op == "RUN" for p in apt_packages(r)]
    missing = [p for p in deps_build_packages(deps_sh) if p not in b_pkgs]
    if not deps_build_packages(deps_sh):
        bad("no build section found in %s" % deps_sh)
    elif missing:
        bad("build stage lacks build packages of scripts/deps.sh: %s" % missing)
    else:
        ok("build stage installs every build package of scripts/deps.sh")
    b_run = " ".join(r for op, r in build["ins"] if op == "RUN")
    for needle in ("cmake -S", "-DBTF_VMLINUX=", "-DBUILD_TESTING=OFF", "cmake --build", "cmake --install"):
        if needle not in b_run:
            bad("build stage: %r not found in its RUN steps" % needle)
    if not any(op == "ARG" and r.startswith("BTF_VMLINUX") for op, r in build["ins"]):
        bad("build stage: ARG BTF_VMLINUX (a BTF file when /sys/kernel/btf/vmlinux is missing) not found")
    else:
        ok("build stage: cmake with -DBTF_VMLINUX from ARG BTF_VMLINUX")

    f_pkgs = [p for op, r in final["ins"] if op == "RUN" for p in apt_packages(r)]
    tools = [p for p in f_pkgs if BUILD_TOOLS.match(p)]
    if tools:
        bad("final stage installs build tools: %s" % tools)
    else:
        ok("final stage: no build tools (%s)" % " ".join(f_pkgs))
    for op, r in final["ins"]:
        if op in ("COPY", "ADD"):
            if "--from=" in r:
                src = r.split()[1] if r.split()[0].startswith("--from=") else r.split()[0]
                if src.rstrip("/") in ("/src", "/build", "/stage", "/") or src.startswith("/build"):
                    bad("final stage copies a whole build tree: COPY %s" % r)
            elif re.search(r"(^|\s)\.(\s|$)", r):
                bad("final stage copies the whole build context: COPY %s" % r)
    copies = " ".join(r for op, r in final["ins"] if op == "COPY")
    if "--from=build" not in copies or "/usr/sbin/shadowtap" not in copies:
        bad("final stage must COPY --from=build the agent to /usr/sbin/shadowtap")
    if "shadowtap.bpf.o" not in copies and "/usr/lib/shadowtap/" not in copies:
        bad("final stage must carry the compiled BPF object")
    ok("final stage: COPY --from=build agent + BPF object")
    for lib in ("libbpf1", "libxdp1", "libelf1", "zlib1g", "libboost-program-options", "libspdlog", "libfmt"):
        if not any(p.startswith(lib) for p in f_pkgs):
            bad("final stage lacks runtime library %s" % lib)
    entry = [r for op, r in final["ins"] if op == "ENTRYPOINT"]
    if not entry or '"%s"' % BINARY_PATH not in entry[-1]:
        bad("ENTRYPOINT must be [\"%s\"]" % BINARY_PATH)
    else:
        ok("ENTRYPOINT %s" % entry[-1])

    # Every shared library the built agent needs is installed in the final stage (dpkg -S on ldd).
    if binary and shutil.which("ldd") and shutil.which("dpkg"):
        r = subprocess.run(["ldd", binary], capture_output=True, text=True)
        libs = re.findall(r"=>\s+(/\S+)", r.stdout)
        # One dpkg -S for every path (one call per library took ~0.5 s each, and the mutation
        # test runs this check several times).
        cands = sorted({c for lib in libs for c in (os.path.realpath(lib), lib)})
        owner = {}
        if cands:
            q = subprocess.run(["dpkg", "-S"] + cands, capture_output=True, text=True)
            for line in q.stdout.splitlines():
                if ": /" not in line or line.startswith("diversion "):
                    continue
                pkgs, path = line.split(": /", 1)
                owner["/" + path.strip()] = pkgs.split(",")[0].split(":")[0].strip()
        needed = set()
        for lib in libs:
            for cand in (os.path.realpath(lib), lib):
                if cand in owner:
                    needed.add(owner[cand])
                    break
            else:
                bad("no Debian package owns %s (needed by %s)" % (lib, binary))
        lack = sorted(needed - BASE_RUNTIME - set(f_pkgs))
        if lack:
            bad("final stage lacks packages the built agent links against: %s" % lack)
        else:
            ok("final stage has every library the built agent links (%s)" % " ".join(sorted(needed)))

    ignores = [os.path.join(ddir, ".dockerignore"), os.path.join(ddir, "Dockerfile.dockerignore")]
    texts = []
    for ig in ignores:
        if not os.path.isfile(ig):
            bad("%s missing" % ig)
            continue
        texts.append(open(ig).read())
        entries = {l.strip() for l in texts[-1].splitlines() if l.strip() and not l.startswith("#")}
        for e in (".git", "build", "build-*"):
            if e not in entries:
                bad("%s does not exclude %s" % (os.path.basename(ig), e))
    if len(texts) == 2 and texts[0] != texts[1]:
        bad(".dockerignore and Dockerfile.dockerignore differ")
    ok("ignore files exclude .git and build trees")
    finish("dockerfile")


def main(argv):
    if len(argv) == 4 and argv[1] == "kubernetes":
        cmd_kubernetes(argv[2], argv[3])
    elif len(argv) >= 4 and argv[1] == "config":
        cmd_config(argv[2], argv[3:])
    elif len(argv) == 5 and argv[1] == "systemd":
        cmd_systemd(argv[2], argv[3], argv[4])
    elif len(argv) in (4, 5) and argv[1] == "dockerfile":
        cmd_dockerfile(argv[2], argv[3], argv[4] if len(argv) == 5 else None)
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
