#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Bad input: every case must exit non-zero (2 for usage errors, 1 for the rest) with exactly one
# line on stderr, prefixed "shadowtap: " and naming the problem, nothing on stdout, and nothing
# left attached afterwards (no clsact, tc filter, XDP program, mirror interface or pins).
# Usage: errors_test.sh PATH_TO_SHADOWTAP
set -euo pipefail
# shellcheck source=tests/e2e/lib.sh
source "$(dirname "$0")/lib.sh"
e2e_init "${1:-}"

e2e_make_pair

# The unprivileged user must be able to execute the agent wherever the build tree lives (CI may
# build under a 0700 home), so it gets a world-readable copy.
chmod 711 "$E2E_TMP"
mkdir -m 755 "$E2E_TMP/bin"
install -m 755 "$AGENT" "$E2E_TMP/bin/shadowtap"
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)

CASES=0
# expect_error EXIT_CODE PATTERN -- COMMAND...: runs COMMAND (in the server namespace) and checks
# the exit code, the single stderr line (matching the extended regex PATTERN), empty stdout and a
# clean interface afterwards.
expect_error() {
  local want="$1" pattern="$2"
  shift 3
  local rc=0
  timeout 20 nsenter --net="/run/netns/$NS_SRV" "$@" >"$E2E_TMP/out" 2>"$E2E_TMP/err" || rc=$?
  local what="$*"
  what="'${what//"$AGENT"/shadowtap}'"
  what="${what//"$E2E_TMP/bin/shadowtap"/shadowtap}"
  [ "$rc" -ne 0 ] || fail "$what: exit status 0, expected $want"
  [ "$rc" -ne 124 ] || fail "$what: timed out"
  [ "$rc" -eq "$want" ] || fail "$what: exit status $rc, expected $want; stderr: $(cat "$E2E_TMP/err")"
  [ "$(wc -l <"$E2E_TMP/err")" -eq 1 ] || fail "$what: expected one stderr line, got: $(cat "$E2E_TMP/err")"
  grep -q '^shadowtap: ' "$E2E_TMP/err" || fail "$what: stderr not prefixed 'shadowtap: ': $(cat "$E2E_TMP/err")"
  grep -Eq -- "$pattern" "$E2E_TMP/err" || fail "$what: stderr does not match /$pattern/: $(cat "$E2E_TMP/err")"
  [ ! -s "$E2E_TMP/out" ] || fail "$what: unexpected stdout: $(cat "$E2E_TMP/out")"
  check_untapped "$NS_SRV" "$SRV_IF" 0 "after $what" >/dev/null
  CASES=$((CASES + 1))
  log "ok: $what -> exit $rc: $(cat "$E2E_TMP/err")"
}

RUN=("$AGENT" run --iface "$SRV_IF")

# Usage errors (exit 2).
expect_error 2 "unknown --iface 'nosuch0'" -- "$AGENT" run --iface nosuch0 --port 80
expect_error 2 "invalid port '0'" -- "${RUN[@]}" --port 0
expect_error 2 "invalid port '70000'" -- "${RUN[@]}" --port 70000
expect_error 2 "invalid --percent '-1'" -- "${RUN[@]}" --port 80 --percent -1
expect_error 2 "invalid --percent '101'" -- "${RUN[@]}" --port 80 --percent 101
expect_error 2 "invalid --percent 'abc'" -- "${RUN[@]}" --port 80 --percent abc
expect_error 2 "unrecognised option '--bogus'|unknown option" -- "${RUN[@]}" --port 80 --bogus
expect_error 2 "unknown --mirror-iface 'nosuch1'" -- "${RUN[@]}" --port 80 --mirror-iface nosuch1
expect_error 2 "missing --port" -- "${RUN[@]}"
expect_error 2 "invalid --mode 'foo'" -- "${RUN[@]}" --port 80 --mode foo
expect_error 2 "invalid --capture-buffer-mb: expected 8 to 1024" -- "${RUN[@]}" --port 80 --capture-buffer-mb 4
expect_error 2 "invalid --capture-buffer-mb: in xdp mode a power of two" -- "${RUN[@]}" --port 80 --mode xdp --capture-buffer-mb 24
expect_error 2 "invalid --replay-queue: expected 0 to 1000000" -- "${RUN[@]}" --port 80 --replay-queue 1000001
expect_error 2 "unknown command 'bogus'" -- "$AGENT" bogus --iface "$SRV_IF"
expect_error 2 "invalid port '0'" -- "$AGENT" set --iface "$SRV_IF" --port 0 --percent 10
expect_error 2 "invalid --percent '101'" -- "$AGENT" set --iface "$SRV_IF" --port 80 --percent 101

# Environment errors (exit 1).
expect_error 1 "needs root" -- "${NOBODY[@]}" "$E2E_TMP/bin/shadowtap" run --iface "$SRV_IF" --port 80
expect_error 1 "needs root" -- "${NOBODY[@]}" "$E2E_TMP/bin/shadowtap" status --iface "$SRV_IF"
expect_error 1 "needs root" -- "${NOBODY[@]}" "$E2E_TMP/bin/shadowtap" detach --iface "$SRV_IF"
expect_error 1 "BTF" -- env SHADOWTAP_BTF_PATH=/nonexistent "${RUN[@]}" --port 80
expect_error 1 "bpffs.*/proc/version" -- "${RUN[@]}" --port 80 --bpffs /proc/version
expect_error 1 "bpffs.*/proc/shadowtap-e2e" -- "${RUN[@]}" --port 80 --bpffs /proc/shadowtap-e2e
expect_error 1 "no shadowtap tap found" -- "$AGENT" status --iface "$SRV_IF"
expect_error 1 "no shadowtap tap found" -- "$AGENT" status --iface "$SRV_IF" --json
expect_error 1 "no shadowtap tap found" -- "$AGENT" set --iface "$SRV_IF" --port 80 --percent 50
expect_error 1 "no shadowtap tap found" -- "$AGENT" set --iface "$SRV_IF" --disable

# Same input errors in xdp mode must not leave an XDP program behind either.
expect_error 2 "unknown --mirror-iface 'nosuch1'" -- "${RUN[@]}" --port 80 --mode xdp --mirror-iface nosuch1
expect_error 1 "BTF" -- env SHADOWTAP_BTF_PATH=/nonexistent "${RUN[@]}" --port 80 --mode xdp

# A shadow target that is the primary itself (a local address on a mirrored port) is a loop.
expect_error 2 "refusing --shadow 127.0.0.1:80: it is this host's own port 80" -- "${RUN[@]}" --port 80 --shadow 127.0.0.1:80
expect_error 2 "refusing --shadow $SRV4:80" -- "${RUN[@]}" --port 80 --shadow "$SRV4:80"
# A --pcap file that cannot be opened is refused before anything is attached.
expect_error 1 "failed to open pcap file /nonexistent/dir/x.pcap" -- "${RUN[@]}" --port 80 --mode xdp --pcap /nonexistent/dir/x.pcap
# HTTP mode (issue 4)
expect_error 2 "'ftp'" -- "${RUN[@]}" --port 80 --protocol ftp
expect_error 2 "need --protocol http" -- "${RUN[@]}" --port 80 --exclude-header 'end-user: bbo'
expect_error 2 "--exclude-header" -- "${RUN[@]}" --port 80 --protocol http --exclude-header 'no colon here'
expect_error 2 "Content-Length" -- "${RUN[@]}" --port 80 --protocol http --remove-header Content-Length
expect_error 2 "--request-percent" -- "${RUN[@]}" --port 80 --protocol http --request-percent 150
expect_error 1 "no agent endpoint recorded" -- "$AGENT" report --iface "$SRV_IF"
# check-config and --version (issues 16, 14): a refused file is a finding (1), no FILE bad usage (2)
printf 'interface: %s\nmode: tcp\nservices:\n  - port: 80\n' "$SRV_IF" >"$E2E_TMP/bad.yaml"
expect_error 1 "$E2E_TMP/bad.yaml:2: mode: invalid --mode 'tcp'" -- "$AGENT" check-config "$E2E_TMP/bad.yaml"
expect_error 1 "$E2E_TMP/none.yaml: cannot read the config file" -- "$AGENT" check-config "$E2E_TMP/none.yaml"
expect_error 2 "missing FILE" -- "$AGENT" check-config
expect_error 2 "unexpected argument 'extra'" -- "$AGENT" --version extra

log "$CASES error cases checked"
check_untapped "$NS_SRV" "$SRV_IF" 0 "after all error cases"
