#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `cmake --install BUILD --prefix TMP` gives: TMP/sbin/shadowtap (runs), TMP/<libdir>/shadowtap/
# shadowtap.bpf.o (a BPF ELF object), TMP/lib/systemd/system/shadowtap.service and
# TMP/etc/shadowtap/shadowtap.yaml (the shipped files, unchanged). Nothing outside TMP.
# usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
BUILD=$1 SRC=$2
fail() { echo "FAIL: install: $*" >&2; exit 1; }
TMP=$(mktemp -d /tmp/st-install.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
cmake --install "$BUILD" --prefix "$TMP/prefix" >"$TMP/install.log" 2>&1 || fail "cmake --install: $(cat "$TMP/install.log")"
P=$TMP/prefix
if grep -E '^-- (Installing|Up-to-date): ' "$TMP/install.log" | grep -v -- "$P/" ; then
  fail "files installed outside the prefix"
fi

[ -x "$P/sbin/shadowtap" ] || fail "no executable $P/sbin/shadowtap"
"$P/sbin/shadowtap" --help >"$TMP/help" 2>&1 || fail "sbin/shadowtap --help: exit $?: $(cat "$TMP/help")"
grep -q '^usage: shadowtap' "$TMP/help" || fail "sbin/shadowtap --help printed: $(head -3 "$TMP/help")"
"$P/sbin/shadowtap" run --help >/dev/null 2>&1 || fail "sbin/shadowtap run --help failed"
if ldd "$P/sbin/shadowtap" | grep -q 'not found'; then fail "missing libraries: $(ldd "$P/sbin/shadowtap" | grep 'not found')"; fi
echo "ok: sbin/shadowtap runs (--help)"

mapfile -t objs < <(find "$P" -name shadowtap.bpf.o)
[ "${#objs[@]}" -eq 1 ] || fail "expected one shadowtap.bpf.o, found ${#objs[@]}: ${objs[*]}"
case ${objs[0]#"$P"/} in
  lib/shadowtap/shadowtap.bpf.o | lib64/shadowtap/shadowtap.bpf.o | lib/*-linux-gnu*/shadowtap/shadowtap.bpf.o) ;;
  *) fail "BPF object at an unexpected place: ${objs[0]#"$P"/}" ;;
esac
# ELF magic, and e_machine (offset 18, little-endian) = 247 (EM_BPF).
[ "$(od -An -c -N4 "${objs[0]}" | tr -d ' ')" = "177ELF" ] || fail "${objs[0]} is not an ELF file"
[ "$(od -An -tu2 -j18 -N2 "${objs[0]}" | tr -d ' ')" = 247 ] || fail "${objs[0]} is not a BPF object (e_machine)"
echo "ok: ${objs[0]#"$P"/} is a BPF ELF object"

cmp -s "$P/lib/systemd/system/shadowtap.service" "$SRC/deploy/systemd/shadowtap.service" ||
  fail "lib/systemd/system/shadowtap.service missing or not the shipped unit"
echo "ok: lib/systemd/system/shadowtap.service"
cmp -s "$P/etc/shadowtap/shadowtap.yaml" "$SRC/deploy/shadowtap.yaml" ||
  fail "etc/shadowtap/shadowtap.yaml missing or not deploy/shadowtap.yaml"
echo "ok: etc/shadowtap/shadowtap.yaml"
echo "install: layout OK under $P"
