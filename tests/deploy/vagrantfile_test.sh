#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Vagrantfile is valid Ruby, boots Debian 12, and `vagrant up` provisions (scripts/deps.sh),
# builds, runs the test suite and the demo (test/demo provisioners not run: "never" by default).
# usage: vagrantfile_test.sh VAGRANTFILE [RUBY]
set -euo pipefail
VF=$1 RUBY=${2:-ruby}
fail() { echo "FAIL: vagrantfile: $*" >&2; exit 1; }
command -v "$RUBY" >/dev/null 2>&1 || [ -x "$RUBY" ] || fail "ruby not found (Debian package: ruby)"
out=$("$RUBY" -c "$VF" 2>&1) || fail "ruby -c: $out"
[ "$out" = "Syntax OK" ] || fail "ruby -c: $out"
echo "ok: ruby -c: Syntax OK"
grep -q 'config.vm.box = "debian/bookworm64"' "$VF" || fail "box is not debian/bookworm64"
for s in scripts/deps.sh scripts/build.sh scripts/test.sh scripts/demo.sh; do
  grep -q "bash $s" "$VF" || fail "does not run $s"
done
echo "ok: runs deps.sh, build.sh, test.sh, demo.sh"
# test and demo run on the first `vagrant up` unless SHADOWTAP_SKIP_TESTS is set.
for p in test demo; do
  line=$(grep -E "config.vm.provision \"$p\"" "$VF") || fail "no \"$p\" provisioner"
  case $line in
    *'run: "never"'*) fail "\"$p\" provisioner never runs on vagrant up" ;;
  esac
done
"$RUBY" -e '
  skip = !ENV.fetch("SHADOWTAP_SKIP_TESTS", "").empty?
  exit(skip ? 1 : 0)' || fail "SHADOWTAP_SKIP_TESTS is set in this environment"
grep -q 'run: (SKIP_TESTS ? "never" : "once")' "$VF" || fail "test/demo must run once on vagrant up"
echo "ok: vagrant up runs the test suite and the demo"
