# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# core.sh: what every script on the harness shares (sourced by harness.sh, not on its own).
#   ids        H_ID: pid (hex) + 16 random bits, <= 10 characters, so that names built from it
#              stay unique per run and interface names stay within 15 characters
#   logging    log, fail (the one way a script fails: one line on stderr, then the trap cleans up)
#   asserts    assert_eq, assert_gt, assert_ge, assert_le, assert_between
#   the trap   h_init installs ONE EXIT/INT/TERM trap (h_cleanup): background processes get
#              SIGTERM, a bounded wait, then SIGKILL; then the role files' clean-up hooks run
#              (detach a tap left behind, pins, /run/shadowtap files), host-wide settings are
#              restored (h_on_exit), namespaces deleted, the temporary directory removed
#   deadline   under ctest (HARNESS_TIMEOUT = the test's TIMEOUT, set in CMakeLists.txt) the
#              script sends itself SIGTERM before ctest's SIGKILL, which no trap would see
#   processes  h_bg (start and track), h_stop_pid (signal, bounded wait, SIGKILL)
#   waiting    h_wait_file, h_wait_until: every wait is bounded
#   JSON       jget / jtry / jlines: tests/tools/st_json.py, the one reader of JSON files
# Modes: a test (the default) fails on a signal and logs PASS at the end; a tool (h_init --tool:
# benchmarks, the demo, the deploy probes) says it was interrupted and exits 130/143.

H_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
H_ROOT="$(cd "$H_LIB_DIR/../.." && pwd)"
H_TOOLS="$H_ROOT/tests/tools" # the Python (and C) test tools
H_NAME="${H_NAME:-$(basename "$0" .sh)}"
H_ID=""
H_TMP=""
H_TOOL=0
H_FAILED=0
H_CLEANED=0
H_DEADLINE=""
H_BG_PIDS=()       # background processes: TERM, bounded wait, KILL on exit
H_NETNS=()         # namespaces deleted on exit
H_ON_EXIT=()       # commands (eval'd, last first) that undo host-wide settings
H_CLEANUP_HOOKS=() # functions the role files add (agent.sh: detach taps left behind)
H_FAIL_HOOKS=()    # functions that add context to a failure (agent.sh: the agent log's tail)
PYTHON="${PYTHON:-}"
export PYTHONDONTWRITEBYTECODE=1 # the tools import tests/tools/toollib.py: no __pycache__ in the tree

log() { printf '[%s %s] %s\n' "$H_NAME" "$(date +%T.%3N)" "$*"; }

fail() {
  H_FAILED=1
  printf '[%s] FAIL: %s\n' "$H_NAME" "$*" >&2
  local hook
  for hook in "${H_FAIL_HOOKS[@]}"; do "$hook" >&2 || true; done
  exit 1
}

assert_eq() { # what expected actual
  [ "$3" = "$2" ] || fail "$1: expected $2, got $3"
  log "ok: $1 = $3"
}
assert_gt() { # what floor actual
  [ "$3" -gt "$2" ] || fail "$1: expected > $2, got $3"
  log "ok: $1 = $3 (> $2)"
}
assert_ge() { # what floor actual
  [ "$3" -ge "$2" ] || fail "$1: expected >= $2, got $3"
  log "ok: $1 = $3 (>= $2)"
}
assert_le() { # what ceiling actual
  [ "$3" -le "$2" ] || fail "$1: expected <= $2, got $3"
  log "ok: $1 = $3 (<= $2)"
}
assert_between() { # what low high actual
  if [ "$4" -lt "$2" ] || [ "$4" -gt "$3" ]; then
    fail "$1: expected $2..$3, got $4"
  fi
  log "ok: $1 = $4 (bounds $2..$3)"
}

# h_init [--tool] [--need TOOL...]: root, tools, the trap, ids, the temporary directory, the
# self-deadline. Call it before making anything.
h_init() {
  local need=(ip nsenter timeout python3)
  while [ $# -gt 0 ]; do
    case "$1" in
    --tool) H_TOOL=1 ;;
    --need)
      need+=("$2")
      shift
      ;;
    *) fail "h_init: unknown option $1" ;;
    esac
    shift
  done
  trap h_cleanup EXIT
  trap 'h_signal INT' INT
  trap 'h_signal TERM' TERM
  # Tests must really run in CI: no silent skip when not root or a tool is missing.
  [ "$(id -u)" -eq 0 ] || fail "must run as root (network namespaces, BPF)"
  local tool
  for tool in "${need[@]}"; do
    command -v "$tool" >/dev/null || fail "required tool '$tool' not found"
  done
  # The distribution's interpreter when there is one: a version manager's shim (pyenv) costs about
  # a second per start, and the scripts start python for every JSON value they read.
  if [ -z "$PYTHON" ]; then
    PYTHON="$(command -v python3)"
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
  fi
  SECONDS=0
  H_ID="$(printf '%x%04x' "$$" "$((RANDOM * 2 + RANDOM % 2))")"
  [ "${#H_ID}" -le 10 ] || H_ID="${H_ID: -10}"
  H_TMP="$(mktemp -d "/tmp/shadowtap-$H_NAME.XXXXXX")"
  if [ -n "${HARNESS_DEADLINE:-}" ]; then
    H_DEADLINE="$HARNESS_DEADLINE"
  elif [ -n "${HARNESS_TIMEOUT:-}" ]; then
    # Room for the clean-up (bounded waits of a few seconds, a detach, namespace deletion).
    local margin=$((HARNESS_TIMEOUT / 10))
    [ "$margin" -ge 20 ] || margin=20
    H_DEADLINE=$((HARNESS_TIMEOUT - margin))
  fi
  [ -z "$H_DEADLINE" ] || h_deadline "$H_DEADLINE"
  log "run id $H_ID, tmp $H_TMP${H_DEADLINE:+, self-deadline ${H_DEADLINE}s}"
}

# ctest ends a test past its TIMEOUT with SIGKILL, which no trap sees, and the namespaces would
# leak: so the script sends itself SIGTERM first, and the trap cleans up.
h_deadline() {
  local self=$$
  (
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    sleep "$1" &
    s=$!
    wait "$s"
    kill -TERM "$self"
  ) &
  H_BG_PIDS+=("$!")
}

h_signal() {
  if [ "$H_TOOL" = 1 ]; then
    echo >&2
    log "interrupted (SIG$1): cleaning up" >&2
    [ "$1" = INT ] && exit 130
    exit 143
  fi
  fail "interrupted by SIG$1${H_DEADLINE:+ (or the ${H_DEADLINE}s self-deadline)}"
}

h_on_exit() { H_ON_EXIT+=("$*"); }

# h_sysctl_host KEY VALUE: sets a host-wide sysctl for the script's duration; restored on exit.
h_sysctl_host() {
  local old
  old="$(sysctl -n "$1")" || fail "cannot read sysctl $1"
  h_on_exit "sysctl -qw $1=$old"
  sysctl -qw "$1=$2" || fail "cannot set sysctl $1=$2"
}

# h_cpu_limit PID PERCENT: the process (every thread) may use PERCENT % of one CPU, in a 20 ms
# period (short: it is slowed, never stopped for long; 5 % is a 1 ms slice, the v1 controller's
# smallest); its own cgroup, cgroup v2 or the v1 cpu controller, removed on exit.
h_cpu_limit() {
  local pid="$1" quota=$(($2 * 200)) dir
  if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
    dir="/sys/fs/cgroup/shadowtap-$H_NAME-$H_ID"
    mkdir "$dir" || fail "cannot make cgroup $dir"
    echo "$quota 20000" >"$dir/cpu.max" || fail "cannot limit $dir/cpu.max (cpu controller not enabled?)"
    h_on_exit "echo $pid >/sys/fs/cgroup/cgroup.procs 2>/dev/null; rmdir $dir"
  else
    dir="/sys/fs/cgroup/cpu/shadowtap-$H_NAME-$H_ID"
    mkdir "$dir" || fail "cannot make cgroup $dir (no cpu controller?)"
    echo 20000 >"$dir/cpu.cfs_period_us" && echo "$quota" >"$dir/cpu.cfs_quota_us" || fail "cannot set the quota of $dir"
    h_on_exit "echo $pid >/sys/fs/cgroup/cpu/cgroup.procs 2>/dev/null; rmdir $dir"
  fi
  echo "$pid" >"$dir/cgroup.procs" || fail "cannot move $pid into $dir"
}

# h_bg CMD...: starts CMD in the background and tracks it (pid in BG_PID). CMD must be a program,
# never a shell function: $! would be a subshell, not the process, and signals would miss it.
# Redirections given to h_bg apply to CMD.
h_bg() {
  "$@" &
  BG_PID=$!
  H_BG_PIDS+=("$BG_PID")
}

# h_stop_pid PID SIGNAL SECONDS: signal, wait (bounded), then SIGKILL. Exit status in STOP_RC
# (also when the process had already exited; 127 for a process that is not our child).
h_stop_pid() {
  local pid="$1" sig="$2" secs="$3" i
  STOP_RC=""
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Braces with 2>/dev/null: bash's own "Killed" job notice is noise, not a finding.
  if { wait "$pid"; } 2>/dev/null; then STOP_RC=0; else STOP_RC=$?; fi
}

h_cleanup() {
  local rc=$?
  [ "$H_CLEANED" = 1 ] && return 0
  H_CLEANED=1
  set +e
  # A second Ctrl-C (or a signal to the whole group) must not cut the clean-up short.
  trap '' INT TERM
  trap - EXIT
  [ "$rc" -ne 0 ] && H_FAILED=1
  local pid alive i
  for pid in "${H_BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  # Bounded wait (3 s) for a graceful exit, so an agent gets to detach itself; then force.
  for ((i = 0; i < 30; i++)); do
    alive=0
    for pid in "${H_BG_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${H_BG_PIDS[@]}"; do
    kill -KILL "$pid" 2>/dev/null
    { wait "$pid"; } 2>/dev/null
  done
  local hook
  for hook in "${H_CLEANUP_HOOKS[@]}"; do "$hook"; done
  for ((i = ${#H_ON_EXIT[@]} - 1; i >= 0; i--)); do eval "${H_ON_EXIT[$i]}"; done
  local ns
  for ns in "${H_NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [ -n "$H_TMP" ] && [ -d "$H_TMP" ]; then
    if [ "$H_FAILED" -ne 0 ] && [ -n "${E2E_KEEP:-}" ]; then
      echo "[$H_NAME] keeping $H_TMP for inspection (E2E_KEEP set)" >&2
    else
      rm -rf "$H_TMP"
    fi
  fi
  [ "$H_TOOL" = 0 ] && [ "$H_FAILED" -eq 0 ] && [ "$rc" -eq 0 ] && log "PASS (${SECONDS}s)"
  exit "$rc"
}

# h_wait_file FILE WHAT [LOG] [SECONDS=5]: waits (bounded) until FILE exists.
h_wait_file() {
  local i limit="${4:-5}"
  for ((i = 0; i < limit * 20; i++)); do
    [ -e "$1" ] && return 0
    sleep 0.05
  done
  fail "$2 did not start within ${limit}s${3:+: $(cat "$3" 2>/dev/null)}"
}

# h_wait_until WHAT SECONDS CMD...: polls CMD every 0.5 s until it succeeds; false after SECONDS.
h_wait_until() {
  local what="$1" limit="$2" i
  shift 2
  for ((i = 0; i < limit * 2; i++)); do
    "$@" && return 0
    sleep 0.5
  done
  log "$what: not reached within ${limit}s"
  return 1
}

# jget FILE EXPR: one value out of a JSON file, EXPR is a Python expression on `j`; fails the
# script when the file or the expression is bad. jtry: the same, prints nothing instead.
# jlines FILE EXPR: EXPR on `s`, the list of the JSON lines of FILE.
jget() {
  "$PYTHON" "$H_TOOLS/st_json.py" get "$1" "$2" || fail "cannot read '$2' from $1: $(head -c 400 "$1")"
}
jtry() { "$PYTHON" "$H_TOOLS/st_json.py" get "$1" "$2" 2>/dev/null || true; }
jlines() {
  "$PYTHON" "$H_TOOLS/st_json.py" lines "$1" "$2" || fail "cannot evaluate '$2' over the lines of $1"
}
