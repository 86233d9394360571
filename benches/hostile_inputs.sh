#!/usr/bin/env bash
# Host cost of hostile inputs (issue 12): wall time and peak RSS of one `capsa` process per input, so a
# limit that stops working shows up as seconds and gigabytes again. Usage:
#   bash benches/hostile_inputs.sh [path/to/capsa]     (default: target/release/capsa)
set -euo pipefail
CAPSA=${1:-target/release/capsa}
PROBE=target/wasm32-wasip1/guest/probe.wasm
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CAPSA_CACHE_DIR=$work/cache

python3 - "$work" <<'PY'
import sys
d = sys.argv[1]
start = '(func (export "_start"))'
open(f"{d}/fn-50000.wat", "w").write("(module " + start + "(func)" * 49_999 + ")")
open(f"{d}/fn-1000000.wat", "w").write("(module " + start + "(func)" * 1_000_000 + ")")
open(f"{d}/nest-10000.wat", "w").write('(module (func (export "_start") ' + "(block " * 10_000 + ")" * 10_000 + "))")
open(f"{d}/nest-1000000.wat", "w").write('(module (func (export "_start") ' + "(block " * 1_000_000 + ")" * 1_000_000 + "))")

def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)

def section(id, payload):
    return bytes([id]) + leb(len(payload)) + payload

def binary(bodies):
    # One type () -> (), every function of it, `_start` exporting the first.
    types = section(1, leb(1) + b"\x60\x00\x00")
    funcs = section(3, leb(len(bodies)) + b"\x00" * len(bodies))
    export = section(7, leb(1) + leb(6) + b"_start" + b"\x00" + leb(0))
    code = section(10, leb(len(bodies)) + b"".join(leb(len(b)) + b for b in bodies))
    return b"\x00asm\x01\x00\x00\x00" + types + funcs + export + code

empty = b"\x00\x0b"
open(f"{d}/fn-1000000.wasm", "wb").write(binary([empty] * 1_000_000))
open(f"{d}/nest-1000000.wasm", "wb").write(binary([b"\x00" + b"\x02\x40" * 1_000_000 + b"\x0b" * 1_000_001]))
# One 30 MiB active data segment (under the 32 MiB module cap) in a 480-page memory.
data = b"\x00" + b"\x41\x00\x0b" + leb(30 << 20) + b"\x07" * (30 << 20)
mem = section(5, leb(1) + b"\x00" + leb(480))
open(f"{d}/data-30MiB.wasm", "wb").write(
    b"\x00asm\x01\x00\x00\x00" + section(1, leb(1) + b"\x60\x00\x00") + section(3, leb(1) + b"\x00")
    + mem + section(7, leb(1) + leb(6) + b"_start" + b"\x00" + leb(0))
    + section(10, leb(1) + leb(len(empty)) + empty) + section(11, leb(1) + data))
for n in (20_000, 80_000):
    open(f"{d}/if-{n}.ts", "w").write("if(1) " * n + "1;")
PY

# measure LABEL STDIN-COMMAND CAPSA-ARGS...: one row of the table.
measure() {
  local label=$1 feed=$2
  shift 2
  bash -c "$feed" 2>/dev/null | /usr/bin/time -o "$work/time" -f '%e %M' "$CAPSA" "$@" \
    >/dev/null 2>"$work/err" || true
  local secs kb code
  read -r secs kb < <(tail -1 "$work/time")
  code=$(grep -o 'error\[[a-z_]*\]' "$work/err" | head -1 || true)
  printf '| %s | %s s | %d MiB | %s |\n' "$label" "$secs" $((kb / 1024)) "${code:-ok}"
}

# Prepare the JavaScript runtime first, so the TypeScript rows measure stripping, not its compile.
"$CAPSA" run -c '1' --lang js >/dev/null 2>&1
echo '| input | wall | peak RSS | outcome |'
echo '|---|---|---|---|'
measure '50,000 empty functions (at the cap)' true run "$work/fn-50000.wat" --timeout 1s
measure '1,000,000 empty functions (wat, 7 MB)' true run "$work/fn-1000000.wat" --timeout 1s
measure '1,000,000 empty functions (binary, 4 MB)' true run "$work/fn-1000000.wasm" --timeout 1s
measure '10,000 nested blocks (at the cap)' true run "$work/nest-10000.wat" --timeout 1s
measure '1,000,000 nested blocks (wat)' true run "$work/nest-1000000.wat" --timeout 1s
measure '1,000,000 nested blocks (binary, 3 MB)' true run "$work/nest-1000000.wasm" --timeout 1s
measure 'one 30 MiB data segment (under the size cap)' true run "$work/data-30MiB.wasm" --timeout 1s
measure 'TypeScript `if(1) ` x 20,000' true run "$work/if-20000.ts" --timeout 2s
measure 'TypeScript `if(1) ` x 80,000' true run "$work/if-80000.ts" --timeout 2s
measure '`sleep 3 \|` a script that never reads stdin' 'sleep 3' run -c '1+1' --lang js --timeout 1s
measure '`yes \|` a guest reading stdin (64 MiB memory)' yes run "$PROBE" --memory 64MiB -- stdin
measure '`yes \|` a `--handler` script' yes run -c '1' --lang js --handler --timeout 5s
