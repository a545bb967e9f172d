#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's container image (deploy/Dockerfile), built and run for real, with podman (no Docker
# engine needed):
#
#   1. base     a Debian 12 root filesystem made with `mmdebstrap --variant=minbase bookworm` from
#               Debian's archive, imported as debian:bookworm and debian:bookworm-slim (the
#               Dockerfile's two FROMs), so nothing is pulled from a container registry;
#   2. build    `podman build --pull=never --isolation=chroot -f deploy/Dockerfile` from the
#               repository root (chroot isolation: the default OCI isolation fails on hosts with
#               hybrid cgroups);
#   3. check    the image's `--version`; then the agent runs in a container the way the DaemonSet
#               runs it: the network namespace of the "node" (ns:/run/netns/...), every capability
#               dropped but BPF, PERFMON, NET_ADMIN, NET_RAW, read-only root filesystem, the host's
#               /sys/fs/bpf, the default command (`run --config /etc/shadowtap/shadowtap.yaml`) with
#               the ConfigMap's config mounted (interfaceFromAddress/metricsAddress from NODE_IP),
#               its service and mirror target pointed at the test topology (tests/lib/harness.sh):
#                 [client ns] -> [node ns: HTTP service, NIC tapped by the container] -> [shadow ns]
#               N connections must reach the shadow (tests/tools/recorder.py) byte-identical, the
#               agent's own counters (`status` run inside the container, /metrics) must agree, and
#               SIGTERM (`podman stop`) must detach everything and exit 0.
#
# By default everything lives in a private podman storage under a temporary directory (the bases,
# the build cache, the image, the container), removed at the end whatever way the script ends:
# nothing is left in the host's podman storage, and runs next to other podman users never meet.
#
# usage: scripts/image.sh [--tag NAME] [--keep] [--save FILE] [--base-tar FILE] [--no-check]
#                         [--load FILE] [--connections N]
#   --tag NAME       image name (default shadowtap:dev)
#   --keep           build in the host's podman storage and leave the image there, e.g. to
#                    `podman push` it afterwards (with the base images debian:bookworm and
#                    debian:bookworm-slim, retagged from mmdebstrap's, and the build stage's layers)
#   --save FILE      also write the image as a docker-archive tar (`docker load`, `podman load`,
#                    `kind load image-archive`, `ctr images import`)
#   --base-tar FILE  the mmdebstrap tarball (FILE.tar) to use; made there (and kept) if missing
#   --no-check       build only
#   --load FILE      no base, no build: check the image of this docker-archive (from --save)
#   --connections N  connections replayed in the check (default 10)
# Needs root, podman, runc, mmdebstrap (scripts/deps.sh installs them) and Debian's archive.
# Prints how long each step took. Under ctest (tests/deploy, label `image`) it is a test.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=tests/lib/harness.sh
source "$ROOT/tests/lib/harness.sh"

TAG=shadowtap:dev
KEEP=0
SAVE=""
BASE_TAR=""
CHECK=1
LOAD=""
CONNS=10
while [ $# -gt 0 ]; do
  case "$1" in
  --tag) TAG="$2"; shift ;;
  --keep) KEEP=1 ;;
  --save) SAVE="$(realpath -m "$2")"; shift ;;
  --base-tar)
    BASE_TAR="$(realpath -m "$2")"
    [[ "$BASE_TAR" == *.tar ]] || { echo "image.sh: --base-tar wants a FILE.tar" >&2; exit 2; }
    shift
    ;;
  --no-check) CHECK=0 ;;
  --load) LOAD="$(realpath -m "$2")"; shift ;;
  --connections) CONNS="$2"; shift ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "image.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$CONNS" =~ ^[1-9][0-9]*$ ]] || { echo "image.sh: --connections wants a positive number" >&2; exit 2; }
case "$TAG" in */*) ;; *) TAG="localhost/$TAG" ;; esac

H_NAME=image
h_init --tool --need podman --need runc --need mmdebstrap --need curl

# ---- podman: a private storage by default, the host's with --keep ---------------------------------
PODMAN_GLOBAL=(--runtime runc --cgroup-manager cgroupfs --events-backend file)
if [ "$KEEP" = 0 ]; then
  # Short paths: overlay mount options (lowerdir=...) are limited to a page.
  STORE="$(mktemp -d /var/tmp/st-img.XXXXXX)"
  PODMAN_GLOBAL+=(--root "$STORE/root" --runroot "$STORE/run" --tmpdir "$STORE/tmp" --storage-driver overlay)
  # The build's per-RUN directories (buildahNNN) go to $TMPDIR, /var/tmp by default: into the
  # private storage too, so that a killed build leaves nothing behind either.
  mkdir -p "$STORE/tmp"
  export TMPDIR="$STORE/tmp"
fi
pm() { podman "${PODMAN_GLOBAL[@]}" "$@"; }

CONTAINER="st-img-$H_ID"
image_cleanup() {
  pm rm -f -t 5 "$CONTAINER" >/dev/null 2>&1
  if [ "$KEEP" = 0 ] && [ -n "${STORE:-}" ]; then
    # Images first (unmounts their layers), then the storage itself.
    # (Not `system reset`: it would also remove the host's podman networks.)
    pm rmi -a -f >/dev/null 2>&1
    grep -o " ${STORE}[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$STORE"
  fi
  [ -n "${BASE_TMP:-}" ] && rm -f "$BASE_TMP"
  return 0
}
# First: the container must stop (and detach) before agent.sh's hook removes the pins.
H_CLEANUP_HOOKS=(image_cleanup "${H_CLEANUP_HOOKS[@]}")

declare -A TOOK=()
STEPS=()
step_start() { STEP_T0=$(date +%s%N); log "== $1"; }
step_end() {
  TOOK[$1]=$((($(date +%s%N) - STEP_T0 + 500000000) / 1000000000))
  STEPS+=("$1")
  log "== $1: ${TOOK[$1]} s"
}

if [ -n "$LOAD" ]; then
  step_start load
  [ -s "$LOAD" ] || fail "--load: no image archive at $LOAD"
  loaded=$(pm load -q -i "$LOAD") || fail "podman load of $LOAD failed: $loaded"
  TAG=$(sed -n 's/^Loaded image: //p' <<<"$loaded" | head -n1)
  [ -n "$TAG" ] || fail "podman load of $LOAD named no image: $loaded"
  log "load: $TAG from $LOAD"
  step_end load
else
  # ---- 1. base ---------------------------------------------------------------------------------------
  step_start base
  if [ -n "$BASE_TAR" ] && [ -s "$BASE_TAR" ]; then
    log "base: using $BASE_TAR"
    tar_file="$BASE_TAR"
  else
    if [ -n "$BASE_TAR" ]; then
      tar_file="$BASE_TAR"
    else
      BASE_TMP="$H_TMP/bookworm-minbase.tar"
      tar_file="$BASE_TMP"
    fi
    log "base: mmdebstrap --variant=minbase bookworm (Debian's archive)"
    # (mmdebstrap picks the output format from the name: the partial file must end in .tar too.)
    part="$(dirname "$tar_file")/.$(basename "$tar_file" .tar).part.tar"
    h_bg mmdebstrap --quiet --variant=minbase bookworm "$part" >"$H_TMP/mmdebstrap.log" 2>&1
    wait "$BG_PID" || { rm -f "$part"; fail "mmdebstrap failed: $(tail -n 20 "$H_TMP/mmdebstrap.log")"; }
    mv "$part" "$tar_file"
  fi
  pm import --quiet --change 'CMD ["bash"]' "$tar_file" localhost/debian:bookworm >/dev/null ||
    fail "podman import of $tar_file failed"
  pm tag localhost/debian:bookworm localhost/debian:bookworm-slim
  log "base: $(du -h "$tar_file" | cut -f1) tarball imported as debian:bookworm and debian:bookworm-slim"
  [ -n "${BASE_TMP:-}" ] && rm -f "$BASE_TMP"
  step_end base

  # ---- 2. build --------------------------------------------------------------------------------------
  step_start build
  log "build: podman build -f deploy/Dockerfile -t $TAG $ROOT (log: $H_TMP/build.log)"
  cd "$ROOT"
  h_bg podman "${PODMAN_GLOBAL[@]}" build --pull=never --isolation=chroot --ignorefile deploy/Dockerfile.dockerignore \
    -f deploy/Dockerfile -t "$TAG" . >"$H_TMP/build.log" 2>&1
  wait "$BG_PID" || fail "podman build failed: $(tail -n 30 "$H_TMP/build.log")"
  size=$(pm image inspect --format '{{.Size}}' "$TAG")
  log "build: $TAG, $((size / 1024 / 1024)) MiB"
  step_end build
fi

if [ -n "$SAVE" ]; then
  step_start save
  pm save --quiet --format docker-archive -o "$SAVE" "$TAG" || fail "podman save to $SAVE failed"
  log "save: $SAVE ($(du -h "$SAVE" | cut -f1))"
  step_end save
fi

# ---- 3. check --------------------------------------------------------------------------------------
if [ "$CHECK" = 1 ]; then
  step_start check
  # podman's default rlimits (nofile 1048576, nproc 4194304) exceed what runc may set here: the
  # host's hard limits, nproc no higher than kernel.pid_max (more processes cannot exist anyway).
  nproc=$(ulimit -Hu)
  pid_max=$(cat /proc/sys/kernel/pid_max)
  { [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pid_max" ]; } && nproc=$pid_max
  nofile=$(ulimit -Hn)
  [ "$nofile" = unlimited ] && nofile=1048576
  RUN_OPTS=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")

  want_version=$(sed -n 's/^project(shadowtap VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
  version=$(pm run --rm "${RUN_OPTS[@]}" --network none --read-only "$TAG" --version 2>&1) ||
    fail "the image's --version failed: $version"
  [[ "$version" =~ ^shadowtap\ ${want_version//./\\.}( |$) ]] ||
    fail "the image's --version printed '$version', expected 'shadowtap $want_version...'"
  log "ok: --version in the container: $version"

  PORT=18080
  SHADOW=19001
  h_topology img --shadow
  serve_http "$PORT"
  serve_recorder main "$H_TMP/shadow.jsonl" --port "$SHADOW"

  # The ConfigMap's config, with its service and mirror target pointed at this topology.
  "$PYTHON" - "$ROOT/deploy/kubernetes/configmap.yaml" "$PORT" "$SHD4" "$SHADOW" >"$H_TMP/shadowtap.yaml" <<'PY' ||
import sys, yaml
cm = yaml.safe_load(open(sys.argv[1]))
cfg = yaml.safe_load(cm["data"]["shadowtap.yaml"])
assert cfg["interfaceFromAddress"] == "${NODE_IP}" and cfg["metricsAddress"] == "${NODE_IP}:9477", cfg
cfg["excludeClients"] = []
cfg["services"] = [{"name": "image-check", "port": int(sys.argv[2]), "mirrorPercentage": {"value": 100},
                    "mirror": {"host": sys.argv[3], "port": int(sys.argv[4])}, "copies": 1}]
print(yaml.safe_dump(cfg, sort_keys=False))
PY
    fail "cannot derive the check's config from deploy/kubernetes/configmap.yaml"
  chmod 644 "$H_TMP/shadowtap.yaml"

  # As the DaemonSet runs it (deploy/kubernetes/daemonset.yaml): the node's network, four
  # capabilities, no seccomp filter (seccompProfile: Unconfined: podman's default profile, like
  # older runtimes', allows bpf(2) only with CAP_SYS_ADMIN, so loading fails with EPERM), read-only
  # root, the host's bpffs, NODE_IP, the config file mounted.
  h_tap_register "$NS_SRV" "$SRV_IF" # pins left by a killed container are removed on exit
  pm run -d --name "$CONTAINER" "${RUN_OPTS[@]}" --network "ns:/run/netns/$NS_SRV" \
    --cap-drop=ALL --cap-add=BPF,PERFMON,NET_ADMIN,NET_RAW --security-opt seccomp=unconfined --read-only \
    -v /sys/fs/bpf:/sys/fs/bpf -v "$H_TMP/shadowtap.yaml:/etc/shadowtap/shadowtap.yaml:ro" \
    -e "NODE_IP=$SRV4" "$TAG" >/dev/null || fail "podman run failed"
  healthz() { in_srv curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$SRV4:9477/healthz" 2>/dev/null || true; }
  for ((i = 0; i < 300; i++)); do
    [ "$(pm inspect -f '{{.State.Running}}' "$CONTAINER")" = true ] ||
      fail "the container exited during start-up: $(pm logs "$CONTAINER" 2>&1 | tail -n 20)"
    [ "$(healthz)" = 200 ] && break
    sleep 0.1
  done
  [ "$(healthz)" = 200 ] || fail "the agent in the container was not ready within 30 s: $(pm logs "$CONTAINER" 2>&1 | tail -n 20)"
  log "ok: the containerised agent is ready (/healthz 200 on $SRV4:9477)"

  http_client "$H_TMP/client.json" --host "$SRV4" --port "$PORT" --id img --conns "$CONNS" --reqs 3 \
    --body 2000 --out-conns "$H_TMP/conns.jsonl"
  wait_records "$H_TMP/shadow.jsonl" '"event": "close"' "$CONNS" 20 || true
  compare_streams "$H_TMP/compare.json" --client "$H_TMP/conns.jsonl" --shadow "$H_TMP/shadow.jsonl" --port "$SHADOW"
  assert_eq "connections replayed byte-identical to the shadow" "$CONNS" "$(jget "$H_TMP/compare.json" 'j["identical_streams"]')"

  # The agent's own view, from inside the container (`status` reads the pins and the endpoint).
  for ((i = 0; i < 40; i++)); do
    pm exec "$CONTAINER" shadowtap status --iface "$SRV_IF" --json >"$H_TMP/status.json" 2>"$H_TMP/status.err" ||
      fail "shadowtap status in the container failed: $(cat "$H_TMP/status.err")"
    [ "$(jget "$H_TMP/status.json" "j['pipeline']['replay']['targets'][0]['completed']")" = "$CONNS" ] && break
    sleep 0.25
  done
  assert_eq "status (in the container): replays completed" "$CONNS" \
    "$(jget "$H_TMP/status.json" "j['pipeline']['replay']['targets'][0]['completed']")"
  assert_eq "status (in the container): capture kernel_drops" 0 "$(jget "$H_TMP/status.json" "j['pipeline']['capture']['kernel_drops']")"
  in_srv curl -sf --max-time 5 "http://$SRV4:9477/metrics" >"$H_TMP/metrics.txt" || fail "/metrics from the container failed"
  assert_eq "/metrics: shadowtap_replay_completed_total for $SHD4:$SHADOW" "$CONNS" \
    "$(awk -v t="target=\"$SHD4:$SHADOW\"" '/^shadowtap_replay_completed_total\{/ && index($0, t) {print $2}' "$H_TMP/metrics.txt")"

  # SIGTERM (podman stop): the agent detaches and exits 0 within the DaemonSet's grace period.
  pm stop -t 30 "$CONTAINER" >/dev/null || fail "podman stop failed"
  assert_eq "the agent's exit status after SIGTERM" 0 "$(pm inspect -f '{{.State.ExitCode}}' "$CONTAINER")"
  check_untapped "$NS_SRV" "$SRV_IF" 0 "after podman stop"
  pm rm "$CONTAINER" >/dev/null
  step_end check
fi

summary=""
for s in "${STEPS[@]}"; do summary+="$s ${TOOK[$s]} s, "; done
log "ok: image $TAG $([ -n "$LOAD" ] && echo loaded || echo built)$([ "$CHECK" = 1 ] && echo ", $CONNS of $CONNS connections replayed byte-identical from the container"); ${summary}total ${SECONDS} s"
if [ "$KEEP" = 1 ]; then
  log "kept: $TAG (and localhost/debian:bookworm, localhost/debian:bookworm-slim) in podman's storage"
fi
