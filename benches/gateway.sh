#!/usr/bin/env bash
# Gateway benchmark (SPEC §9): wrk against, in one run and on the same machine,
#   1. capsa serve with a hello JSON function (a Rust WASI command, the JSON contract), fresh sandbox per request;
#   2. capsa serve with the equivalent wasi:http/proxy component (crates/test-http-component, GET /hello);
#   3. wasmtime serve -Scli (wasmtime-cli 48 from crates.io, built into target/bench-tools if absent; -Scli
#      because the component, built with the `wasi` crate, imports wasi:cli too) with that same
#      component, with its default settings and with the pooling allocator.
# Prints requests/s and p50/p99 latency of each, and the ratios to wasmtime serve. `make bench-gateway` runs it.
#
# Environment: CONNECTIONS (64), DURATION (10s), THREADS (2), WARMUP (2s).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2s}
WASMTIME_VERSION=48.0.8
tools=$root/target/bench-tools
capsa=$root/target/release/capsa
component=$root/target/wasm32-wasip2/guest/capsa_test_http_component.wasm
handler=$root/target/wasm32-wasip1/guest/hello_handler.wasm

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
if [ ! -x "$tools/bin/wasmtime" ] || ! "$tools/bin/wasmtime" --version | grep -q "$WASMTIME_VERSION"; then
  echo "bench: building wasmtime-cli $WASMTIME_VERSION into $tools (once; several minutes)" >&2
  cargo install wasmtime-cli --version "=$WASMTIME_VERSION" --locked --root "$tools"
fi
[ -x "$capsa" ] && [ -f "$component" ] && [ -f "$handler" ] || make -s build

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 300); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "bench: $1 never answered" >&2; exit 1; }

capsa_port=$(free_port)
cat > "$work/capsa.toml" <<TOML
listen = "127.0.0.1:$capsa_port"
data_dir = "$work/data"
[[route]]
path = "/json"
function = "$handler"
[[route]]
path = "/hello"
function = "$component"
TOML
CAPSA_LOG=warn "$capsa" serve --config "$work/capsa.toml" 2>"$work/capsa.log" &
pids+=($!)
wt_port=$(free_port)
"$tools/bin/wasmtime" serve -Scli --addr "127.0.0.1:$wt_port" "$component" 2>"$work/wasmtime.log" &
pids+=($!)
wtp_port=$(free_port)
"$tools/bin/wasmtime" serve -Scli -O pooling-allocator=y --addr "127.0.0.1:$wtp_port" "$component" 2>"$work/wasmtime-pooling.log" &
pids+=($!)

targets=(
  "capsa, JSON-contract wasm function|http://127.0.0.1:$capsa_port/json?name=ada"
  "capsa, wasi:http component|http://127.0.0.1:$capsa_port/hello?name=ada"
  "wasmtime serve, same component|http://127.0.0.1:$wt_port/hello?name=ada"
  "wasmtime serve -O pooling-allocator, same component|http://127.0.0.1:$wtp_port/hello?name=ada"
)
for t in "${targets[@]}"; do wait_for "${t#*|}"; done
echo "check: $(curl -s "http://127.0.0.1:$capsa_port/json?name=ada") $(curl -s "http://127.0.0.1:$wt_port/hello?name=ada")"

# wrk's latency distribution is in us/ms/s; convert to milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }
declare -A rps p50 p99 errors
for t in "${targets[@]}"; do
  name=${t%%|*}; url=${t#*|}
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
  rps[$name]=$(awk '/^Requests\/sec/ { print $2 }' <<<"$out")
  p50[$name]=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  p99[$name]=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
  errors[$name]=$(awk '/Non-2xx|Socket errors/ { $1 = $1; printf "%s; ", $0 }' <<<"$out")
done

base="wasmtime serve, same component"
printf '\n%-52s %10s %9s %9s %8s\n' "server ($CONNECTIONS connections, $DURATION, $(nproc) cores)" "req/s" "p50 ms" "p99 ms" "vs wt"
for t in "${targets[@]}"; do
  name=${t%%|*}
  ratio=$(awk -v a="${rps[$name]}" -v b="${rps[$base]}" 'BEGIN { printf "%.2fx", a / b }')
  printf '%-52s %10s %9s %9s %8s %s\n' "$name" "${rps[$name]}" "${p50[$name]}" "${p99[$name]}" "$ratio" "${errors[$name]}"
done
