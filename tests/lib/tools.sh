# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# tools.sh: starting the Python test tools (tests/tools/) and reading what they wrote.
# Every server there takes --ready-file and creates it once it listens: h_serve waits for it.

# h_serve NAME NS CMD...: CMD --ready-file $H_TMP/NAME.ready in namespace NS, in the background,
# output in $H_TMP/NAME.log; returns once it is ready (bounded), its pid in SERVE_PID.
h_serve() {
  local name="$1" ns="$2"
  shift 2
  local ready="$H_TMP/$name.ready"
  rm -f "$ready"
  h_bg ip netns exec "$ns" "$@" --ready-file "$ready" >"$H_TMP/$name.log" 2>&1
  SERVE_PID=$BG_PID
  h_wait_file "$ready" "$name" "$H_TMP/$name.log"
}

# h_st_load [PATH]: the load tool tests/tools/st_load.c, PATH if given, else built with cc into
# $H_TMP; its path in ST_LOAD.
h_st_load() {
  ST_LOAD="${1:-}"
  if [ -z "$ST_LOAD" ]; then
    command -v cc >/dev/null || fail "no st_load binary given and no cc to build it"
    cc -O2 -o "$H_TMP/st_load" "$H_TOOLS/st_load.c" || fail "cannot build tests/tools/st_load.c"
    ST_LOAD="$H_TMP/st_load"
  fi
  [ -x "$ST_LOAD" ] || fail "st_load '$ST_LOAD' is not executable"
}

# serve_http PORT: tests/tools/http_server.py (a real HTTP/1.1 service) in the server namespace.
serve_http() { h_serve "http.$1" "$NS_SRV" "$PYTHON" "$H_TOOLS/http_server.py" --port "$1"; }

# serve_recorder NAME OUT_JSONL ARGS...: tests/tools/recorder.py in the shadow namespace (ARGS: --port,
# --mode...); one JSON line per connection in OUT_JSONL; pid in RECORDER_PID.
serve_recorder() {
  local name="$1" out="$2"
  shift 2
  : >"$out"
  h_serve "rec.$name" "${RECORDER_NS:-$NS_SHD}" "$PYTHON" "$H_TOOLS/recorder.py" --out "$out" "$@"
  RECORDER_PID=$SERVE_PID
}

# http_client SUMMARY_JSON ARGS...: tests/tools/http_client.py in the client namespace, bounded; fails
# the script if any connection failed.
http_client() {
  local out="$1"
  shift
  if ! timeout 110 ip netns exec "$NS_CLI" "$PYTHON" "$H_TOOLS/http_client.py" "$@" >"$out" 2>"$out.err"; then
    fail "client $* failed: $(cat "$out" "$out.err" | head -c 2000)"
  fi
}

# compare_streams REPORT ARGS...: tests/tools/compare.py, failing the script with its report on any
# difference between what the clients sent and what the shadow received.
compare_streams() {
  local out="$1"
  shift
  if ! timeout 60 "$PYTHON" "$H_TOOLS/compare.py" "$@" >"$out" 2>&1; then
    fail "shadow streams differ from the client's ($*): $(head -c 3000 "$out")"
  fi
  log "compare: $(cat "$out")"
}

# count_lines FILE PATTERN: lines of FILE containing PATTERN (fixed string).
count_lines() { grep -cF -- "$2" "$1" 2>/dev/null || true; }

# wait_records FILE PATTERN COUNT SECONDS: waits (bounded) until COUNT lines match.
wait_records() {
  local file="$1" pat="$2" want="$3" limit="$4" n=0 i
  for ((i = 0; i < limit * 10; i++)); do
    n=$(count_lines "$file" "$pat")
    [ "$n" -ge "$want" ] && return 0
    sleep 0.1
  done
  log "waited ${limit}s for $want records matching '$pat' in $(basename "$file"): have $n"
  return 1
}

# serve_nginx NAME NS ADDR:PORT PAGE_BYTES: nginx (one worker, no access log, keep-alive without
# a request limit) serving a page of PAGE_BYTES bytes at / in namespace NS, its files in
# $H_TMP/NAME; returns once it answers (bounded), its pid in SERVE_PID. For the benchmarks and
# the resource probe: a real server whose cost does not blur the agent's.
serve_nginx() {
  local name="$1" ns="$2" listen="$3" dir="$H_TMP/$1" i
  mkdir -p "$dir/www"
  chmod 755 "$H_TMP" "$dir" "$dir/www"
  head -c "$4" /dev/zero | tr '\0' 'x' >"$dir/www/index.html"
  cat >"$dir/nginx.conf" <<NGINX
user root;
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $dir/cb;
  proxy_temp_path $dir/px;
  fastcgi_temp_path $dir/fc;
  uwsgi_temp_path $dir/uw;
  scgi_temp_path $dir/sc;
  server {
    listen $listen;
    root $dir/www;
    location = /nginx_status { stub_status; } # requests served, for the benchmarks' counts
  }
}
NGINX
  h_bg nsenter --net="/run/netns/$ns" nginx -c "$dir/nginx.conf" -e "$dir/error.log"
  SERVE_PID=$BG_PID
  for ((i = 0; i < 50; i++)); do
    in_ns "$ns" curl -fsS -o /dev/null "http://$listen/" 2>/dev/null && return 0
    sleep 0.1
  done
  fail "nginx $name did not answer on $listen within 5 s: $(cat "$dir/error.log" 2>/dev/null)"
}
