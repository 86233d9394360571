#!/usr/bin/env bash
# Gateway benchmark (SPEC §9, issue #16): wrk against, in one run and on the same machine,
#   1. capsa serve with a hello JSON function (a Rust WASI command, the JSON contract), fresh sandbox per request;
#   2. capsa serve with the JavaScript and the Python hello handlers (examples/functions), a fresh
#      sandbox per request (standby instances off, the default);
#   3. capsa serve with the equivalent wasi:http/proxy component (crates/test-http-component, GET /hello);
#   4. wasmtime serve -Scli (wasmtime-cli 48 from crates.io, built into target/bench-tools if absent; -Scli
#      because the component, built with the `wasi` crate, imports wasi:cli too) with that same
#      component, with its default settings and with the pooling allocator;
#   5. nginx `return 200` as the floor of HTTP on this machine.
# Each at 1 and at 64 connections: requests/s, p50/p99 latency, and the ratios to wasmtime serve. Then
# `/healthz` at 1 connection while 64 connections run a CPU-bound JavaScript guest (guests run on
# their own runtime, apart from the one that accepts and parses HTTP). `make bench-gateway` runs it.
#
# Environment: CONNECTIONS ("1 64"), DURATION (10s), THREADS (2), WARMUP (2s).
# Needs wrk and nginx (apt-get install wrk nginx-light).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CONNECTIONS=${CONNECTIONS:-"1 64"}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2s}
WASMTIME_VERSION=48.0.8
tools=$root/target/bench-tools
capsa=$root/target/release/capsa
component=$root/target/wasm32-wasip2/guest/capsa_test_http_component.wasm
handler=$root/target/wasm32-wasip1/guest/hello_handler.wasm
functions=$root/examples/functions

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "nginx is missing: apt-get install nginx-light" >&2; exit 1; }
if [ ! -x "$tools/bin/wasmtime" ] || ! "$tools/bin/wasmtime" --version | grep -q "$WASMTIME_VERSION"; then
  echo "bench: building wasmtime-cli $WASMTIME_VERSION into $tools (once; several minutes)" >&2
  cargo install wasmtime-cli --version "=$WASMTIME_VERSION" --locked --root "$tools"
fi
[ -x "$capsa" ] && [ -f "$component" ] && [ -f "$handler" ] || make -s release guests

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits for a server however busy the machine is: up to 5 minutes, not a fixed pause.
wait_for() { for _ in $(seq 3000); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "bench: $1 never answered" >&2; exit 1; }

# A CPU-bound guest: about 50 ms of arithmetic per request on this machine.
cat > "$work/spin.js" <<'JS'
export default {
  fetch() {
    let x = 0;
    for (let i = 0; i < 300000; i++) x = (x * 31 + i) % 1000003;
    return Response.json({ x });
  },
};
JS

capsa_port=$(free_port)
cat > "$work/capsa.toml" <<TOML
listen = "127.0.0.1:$capsa_port"
data_dir = "$work/data"
[[route]]
path = "/json"
function = "$handler"
[[route]]
path = "/js"
function = "$functions/hello.js"
[[route]]
path = "/py"
function = "$functions/hello.py"
limits = { memory = "128MiB" }
[[route]]
path = "/hello"
function = "$component"
[[route]]
path = "/spin"
function = "$work/spin.js"
limits = { timeout = "10s" }
TOML
CAPSA_LOG=warn "$capsa" serve --config "$work/capsa.toml" 2>"$work/capsa.log" &
pids+=($!)
wt_port=$(free_port)
"$tools/bin/wasmtime" serve -Scli --addr "127.0.0.1:$wt_port" "$component" 2>"$work/wasmtime.log" &
pids+=($!)
wtp_port=$(free_port)
"$tools/bin/wasmtime" serve -Scli -O pooling-allocator=y --addr "127.0.0.1:$wtp_port" "$component" 2>"$work/wasmtime-pooling.log" &
pids+=($!)
nginx_port=$(free_port)
cat > "$work/nginx.conf" <<NGINX
daemon on;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx-body;
  server { listen 127.0.0.1:$nginx_port; location / { return 200 '{"hello":"ada"}'; } }
}
NGINX
"$nginx" -c "$work/nginx.conf" -p "$work"

targets=(
  "capsa, JSON-contract wasm function|http://127.0.0.1:$capsa_port/json?name=ada"
  "capsa, JavaScript handler|http://127.0.0.1:$capsa_port/js?name=ada"
  "capsa, Python handler|http://127.0.0.1:$capsa_port/py?name=ada"
  "capsa, wasi:http component|http://127.0.0.1:$capsa_port/hello?name=ada"
  "wasmtime serve, same component|http://127.0.0.1:$wt_port/hello?name=ada"
  "wasmtime serve -O pooling-allocator, same component|http://127.0.0.1:$wtp_port/hello?name=ada"
  "nginx return 200 (HTTP floor)|http://127.0.0.1:$nginx_port/"
)
for t in "${targets[@]}"; do wait_for "${t#*|}"; done
echo "check: $(curl -s "http://127.0.0.1:$capsa_port/json?name=ada") $(curl -s "http://127.0.0.1:$capsa_port/py?name=ada") $(curl -s "http://127.0.0.1:$wt_port/hello?name=ada")"

# wrk's latency distribution is in us/ms/s; convert to milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }
declare -A rps p50 p99 errors
measure() { # key connections url
  local key=$1 c=$2 url=$3 threads=$THREADS out
  [ "$c" -lt "$threads" ] && threads=$c
  wrk -t"$threads" -c"$c" -d"$WARMUP" "$url" >/dev/null
  out=$(wrk -t"$threads" -c"$c" -d"$DURATION" --latency "$url")
  rps[$key]=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  p50[$key]=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99[$key]=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  errors[$key]=$(awk '/Non-2xx|Socket errors/ { $1 = $1; printf "%s; ", $0 }' <<<"$out")
}

base="wasmtime serve, same component"
for c in $CONNECTIONS; do
  for t in "${targets[@]}"; do measure "${t%%|*}@$c" "$c" "${t#*|}"; done
  printf '\n%-52s %10s %9s %9s %8s\n' "server ($c connections, $DURATION, $(nproc) cores)" "req/s" "p50 ms" "p99 ms" "vs wt"
  for t in "${targets[@]}"; do
    key="${t%%|*}@$c"
    ratio=$(awk -v a="${rps[$key]}" -v b="${rps[$base@$c]}" 'BEGIN { printf "%.2fx", a / b }')
    printf '%-52s %10s %9s %9s %8s %s\n' "${t%%|*}" "${rps[$key]}" "${p50[$key]}" "${p99[$key]}" "$ratio" "${errors[$key]}"
  done
done

# /healthz while the guests' runtime is saturated by a CPU-bound guest.
wait_for "http://127.0.0.1:$capsa_port/spin"
# (Durations are in seconds, `10s`: the spinning lasts past the warm-up and the measurement.)
wrk -t1 -c64 -d"$(( ${WARMUP%s} + ${DURATION%s} + 2 ))s" "http://127.0.0.1:$capsa_port/spin" >"$work/spin.out" &
spin=$!
sleep 1
measure healthz 1 "http://127.0.0.1:$capsa_port/healthz"
wait "$spin"
spin_rps=$(awk '/^Requests\/sec/ { print $2 }' "$work/spin.out")
printf '\n%-52s %10s %9s %9s\n' "/healthz (1 connection) beside 64 spinning" "req/s" "p50 ms" "p99 ms"
printf '%-52s %10s %9s %9s %s\n' "capsa /healthz" "${rps[healthz]}" "${p50[healthz]}" "${p99[healthz]}" "${errors[healthz]}"
printf '%-52s %10s\n' "capsa CPU-bound JS guest, 64 connections" "$spin_rps"
