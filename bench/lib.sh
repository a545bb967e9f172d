# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# What the benchmarks share: their command line, their setup (root, the agent binary, the harness,
# a client/server/shadow topology for the load benchmarks, a loopback byte sink for those of the
# pipeline alone) and the section they write into docs/benchmarks.md. Sourced, not run; the caller sets ROOT first.

# bench_args DURATION OPT VAR DEFAULT ARGS...: the command line
#   [--duration S] [OPT "DEFAULT"] [--doc FILE|--no-doc]
# into DURATION (default DURATION), VAR (default DEFAULT) and DOC (default docs/benchmarks.md, "" for
# --no-doc). Anything else prints the usage and exits 2.
# shellcheck disable=SC2034 # DURATION and DOC are the caller's (and PORT, SHADOW_PORT below)
bench_args() {
  local opt="$2" var="$3" usage="[--duration S] [$2 \"$4\"] [--doc FILE|--no-doc]"
  DURATION="$1"
  printf -v "$var" '%s' "$4"
  DOC="$ROOT/docs/benchmarks.md"
  shift 4
  while [ $# -gt 0 ]; do
    case "$1" in
    --duration) DURATION="$2"; shift ;;
    "$opt") printf -v "$var" '%s' "$2"; shift ;;
    --doc) DOC="$2"; shift ;;
    --no-doc) DOC="" ;;
    *) echo "usage: $0 $usage" >&2; exit 2 ;;
    esac
    shift
  done
}

# bench_init NAME NET PAGE SHADOW_PORT [TOOL...]: must run as root; BIN = the agent ($SHADOWTAP, or the build
# tree's, built if missing); the harness (tests/lib/: unique names, and one trap that removes
# everything on any exit) with wrk, nginx and curl; the client, server and shadow namespaces NAME-*
# on H_NET=NET; the primary, nginx serving a PAGE-byte page on $SRV4:$PORT (8080) in the server
# namespace; and the port the caller's shadow will listen on, $SHD4:$SHADOW_PORT. TOOLs: more
# programs the caller needs (checked like wrk).
bench_init() {
  [ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
  BIN=${SHADOWTAP:-$ROOT/${BUILD_DIR:-build}/agent/shadowtap}
  [ -x "$BIN" ] || bash "$ROOT/scripts/build.sh"
  # shellcheck source=tests/lib/harness.sh
  source "$ROOT/tests/lib/harness.sh"
  local tool needs=(--need wrk --need nginx --need curl)
  for tool in "${@:5}"; do needs+=(--need "$tool"); done
  h_init --tool "${needs[@]}"
  h_agent "$BIN"
  H_NET=$2
  h_topology "$1" --shadow
  PORT=8080 SHADOW_PORT=$4
  serve_nginx primary "$NS_SRV" "$SRV4:$PORT" "$3"
}

# bench_not_taken STATUS_JSON: every connection the shadow did not take whole, by stage and reason,
# from the wire-to-shadow ledger of `status --json` ("none" if there is none): shed_overload
# (refused at the SYN), lost_in_capture (admitted at the SYN, never followed: the SYN's frame was
# lost in capture; the kernel's count minus the agent's), then each stage's reasons (but `pooled`:
# those connections' requests went over a pool connection, --http-pool), then requests shed at a
# pool (pool_shed).
bench_not_taken() {
  jget "$1" '" ".join(["shed_overload=%d" % j["counters"]["shed_overload"]] * (j["counters"]["shed_overload"] > 0) + ["%s=%d" % ("lost_in_capture" if r["stage"] == "followed by the agent" else "unexplained", r["unexplained"]) for r in j["ledger"] if r["unexplained"]] + ["%s=%d" % (k, v) for r in j["ledger"] for k, v in r["short"].items() if v and k != "pooled"] + ["pool_shed=%d" % sum(t["pool_shed"] for t in j["pipeline"]["replay"]["targets"])] * (sum(t["pool_shed"] for t in j["pipeline"]["replay"]["targets"]) > 0)) or "none"'
}
# bench_perf_agent FILE SECONDS: with PERF_OUT=DIR set, profiles the agent ($AGENT_PID) for SECONDS
# into DIR/FILE in the background (perf record -g, or PERF_ARGS instead of -g: a dwarf call graph,
# sched_switch events); PERF_PID is perf's pid, "" without PERF_OUT. For experiments.
bench_perf_agent() {
  PERF_PID=""
  [ -n "${PERF_OUT:-}" ] || return 0
  # shellcheck disable=SC2086 # PERF_ARGS: perf's flags, word-split on purpose
  perf record -q ${PERF_ARGS:--g} -p "$AGENT_PID" -o "$PERF_OUT/$1" -- sleep "$2" >/dev/null 2>&1 &
  PERF_PID=$!
}
# bench_doc_section NAME SECTION: SECTION (which starts with <!-- NAME:begin --> and ends with
# <!-- NAME:end -->) replaces that section of $DOC, or is appended when $DOC has none yet.
bench_doc_section() {
  local name="$1" section="$2"
  if grep -q "<!-- $name:begin -->" "$DOC" 2>/dev/null; then
    "$PYTHON" - "$DOC" "$section" "$name" <<'PY'
import re, sys
doc, new, name = sys.argv[1], sys.argv[2], re.escape(sys.argv[3])
text = open(doc).read()
text = re.sub(r"<!-- %s:begin -->.*?<!-- %s:end -->" % (name, name), lambda m: new, text, flags=re.S)
open(doc, "w").write(text)
PY
  else
    printf '\n%s\n' "$section" >>"$DOC"
  fi
  echo "results written to $DOC"
}

# bench_sink_init TAG SINK [TOOL...]: for the benchmarks of the pipeline alone (pipeline.sh,
# replay_rate.sh): root, BIN (built if missing), the harness with cc (and TOOLs), a namespace
# $NS (TAG-<id>) with only loopback up, and tests/tools/st_load.c serving as a byte sink on SINK
# in it. sink KEY reads its stats; sink_has BEFORE BYTES: it read BYTES more since BEFORE.
bench_sink_init() {
  local tag="$1" tool needs=(--need cc)
  SINK="$2"
  for tool in "${@:3}"; do needs+=(--need "$tool"); done
  [ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
  BIN=${SHADOWTAP:-$ROOT/${BUILD_DIR:-build}/agent/shadowtap}
  [ -x "$BIN" ] || bash "$ROOT/scripts/build.sh"
  # shellcheck source=tests/lib/harness.sh
  source "$ROOT/tests/lib/harness.sh"
  h_init --tool "${needs[@]}"
  NS="$tag-$H_ID"
  h_netns_add "$NS"
  ip -n "$NS" link set lo up
  h_st_load
  h_bg ip netns exec "$NS" "$ST_LOAD" serve --listen "$SINK" --stats "$H_TMP/sink.json" >"$H_TMP/sink.log" 2>&1
  h_wait_file "$H_TMP/sink.json" "byte sink" "$H_TMP/sink.log"
}
sink() { jget "$H_TMP/sink.json" "j['$1']"; }
sink_has() { [ $(($(sink bytes) - $1)) -ge "$2" ]; }
