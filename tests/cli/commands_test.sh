#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `shadowtap --version` / `version` and `shadowtap check-config FILE`: output, stream and exit code.
# usage: commands_test.sh SHADOWTAP SOURCE_DIR PROJECT_VERSION
set -euo pipefail
AGENT=$1 SRC=$2 VERSION=$3
TMP=$(mktemp -d /tmp/st-cli.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect WANT_EXIT STDOUT_REGEX STDERR_REGEX -- COMMAND...: an empty regex means that stream must be
# empty; otherwise it must be exactly one line matching it.
expect() {
  local want=$1 out_re=$2 err_re=$3
  shift 4
  local rc=0 what="$*"
  what=${what//"$AGENT"/shadowtap}
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  [ "$rc" -eq "$want" ] || { fail "$what: exit $rc, expected $want ($(cat "$TMP/err"))"; return; }
  local stream re
  for stream in out err; do
    re=$out_re
    [ "$stream" = err ] && re=$err_re
    if [ -z "$re" ]; then
      [ ! -s "$TMP/$stream" ] || { fail "$what: unexpected std$stream: $(cat "$TMP/$stream")"; return; }
    elif [ "$(wc -l <"$TMP/$stream")" -ne 1 ] || ! grep -Eq -- "$re" "$TMP/$stream"; then
      fail "$what: std$stream is not one line matching /$re/: $(cat "$TMP/$stream")"
      return
    fi
  done
  echo "ok: $what -> exit $rc: $(cat "$TMP/out" "$TMP/err")"
}

V=${VERSION//./\\.}
expect 0 "^shadowtap $V( \(git [0-9a-f]{4,}\))?\$" "" -- "$AGENT" --version
expect 0 "^shadowtap $V( \(git [0-9a-f]{4,}\))?\$" "" -- "$AGENT" version
[ "$("$AGENT" --version)" = "$("$AGENT" version)" ] || fail "--version and version differ"
expect 2 "" "^shadowtap: unexpected argument 'now'" -- "$AGENT" version now

"$AGENT" --help >"$TMP/help"
for mention in "check-config" "shadowtap --version"; do
  grep -qF -- "$mention" "$TMP/help" || fail "--help does not mention $mention"
done
"$AGENT" check-config --help >"$TMP/help"
grep -q "^usage: shadowtap check-config FILE" "$TMP/help" || fail "check-config --help has no usage line"

# A good file: the shipped example (its shadow hosts do not resolve here: nothing is looked up).
expect 0 "^$SRC/deploy/shadowtap.yaml: ok\$" "" -- "$AGENT" check-config "$SRC/deploy/shadowtap.yaml"
# ${VAR}s expand as in run: set, the Kubernetes shape passes on a machine without that address...
printf 'interfaceFromAddress: "${ST_TEST_NODE_IP}"\nservices:\n  - port: 9080\n' >"$TMP/node.yaml"
expect 0 "^$TMP/node.yaml: ok\$" "" -- env ST_TEST_NODE_IP=192.0.2.1 "$AGENT" check-config "$TMP/node.yaml"
# ...unset, the file is refused like run would refuse it.
expect 1 "" "^shadowtap: $TMP/node.yaml:1: interfaceFromAddress: environment variable ST_TEST_NODE_IP is not set\$" \
  -- env -u ST_TEST_NODE_IP "$AGENT" check-config "$TMP/node.yaml"
# A refused file: FILE:LINE: KEY: message on stderr, exit 1.
printf 'interface: eth0\nservices:\n  - port: 80\n    mirrorPercentage: {value: 101}\n' >"$TMP/bad.yaml"
expect 1 "" "^shadowtap: $TMP/bad.yaml:4: services\[0\]\.mirrorPercentage\.value: invalid --percent '101'" \
  -- "$AGENT" check-config "$TMP/bad.yaml"
printf 'interface: eth0\nservices:\n  - port: 80\n    mirror: "reviews-v2"\n' >"$TMP/target.yaml"
expect 1 "" "^shadowtap: $TMP/target.yaml: services\[0\]\.mirror: invalid --shadow 'reviews-v2'" \
  -- "$AGENT" check-config "$TMP/target.yaml"
# Bad usage: exit 2.
expect 2 "" "^shadowtap: missing FILE" -- "$AGENT" check-config
expect 2 "" "^shadowtap: too many positional options" -- "$AGENT" check-config "$TMP/bad.yaml" "$TMP/node.yaml"
expect 2 "" "^shadowtap: unrecognised option '--bogus'" -- "$AGENT" check-config --bogus

[ "$failures" -eq 0 ] || { echo "FAIL: $failures case(s)" >&2; exit 1; }
echo "all command cases passed"
