#!/usr/bin/env bash
# Idle sessions parked in one gateway (issue #15: 1,000 idle sessions ≤ 2 GiB). Starts `capsa serve`,
# opens SESSIONS sessions over HTTP, runs one small exec in each (so each has a live sandbox with its own
# heap, not only a reservation), and prints the gateway's PSS and RSS before and after, per session, and
# the time to open and exec them all. `make bench-idle-sessions` runs it.
#
# Environment: SESSIONS (990: at most 1,000 sandboxes fit a gateway, docs/sessions.md), LANGUAGE (js;
# py for Python sessions), CAPSA (target/debug/capsa: the memory is the guests', the same in the test
# build and the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-990}
LANGUAGE=${LANGUAGE:-js}
capsa=${CAPSA:-$PWD/target/debug/capsa}
[ -x "$capsa" ] || make -s build

work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/capsa.toml" <<TOML
listen = "127.0.0.1:$port"
data_dir = "$work/data"
[auth]
tokens = ["bench-token"]
[sessions]
max_sessions = $((SESSIONS + 16))
max_per_token = $((SESSIONS + 16))
max_memory = "1024GiB"
ttl = "1h"
TOML
CAPSA_LOG=warn "$capsa" serve --quiet --config "$work/capsa.toml" 2>"$work/capsa.log" &
pid=$!

python3 - "$port" "$pid" "$SESSIONS" "$LANGUAGE" <<'PY' || { tail -20 "$work/capsa.log" >&2; exit 1; }
import http.client, json, os, sys, time
port, pid, n, language = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
code = {
    "js": "globalThis.rows = []; for (let i = 0; i < 100; i++) rows.push({i, s: 'row ' + i}); rows.length",
    "ts": "const rows: number[] = []; for (let i = 0; i < 100; i++) rows.push(i); rows.length",
    "py": "rows = [{'i': i, 's': f'row {i}'} for i in range(100)]\nlen(rows)",
}[language]

def memory():
    """(RSS, PSS) in bytes. RSS counts a page of the shared copy-on-write runtime image once per
    sandbox that maps it; PSS divides it among them, so PSS is what the sessions really cost."""
    seen = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                seen[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return seen["Rss"], seen["Pss"]

deadline = time.time() + 600
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        c.request("GET", "/readyz")
        r = c.getresponse()
        r.read()
        if r.status == 200:
            break
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("the gateway exited before it was ready (its log follows)")
    if time.time() > deadline:
        sys.exit("the gateway never became ready")
    time.sleep(0.1)

headers = {"Authorization": "Bearer bench-token", "Content-Type": "application/json"}
def post(path, body):
    c.request("POST", path, json.dumps(body), headers)
    r = c.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit(f"{path}: {r.status} {data[:300]!r}")
    return json.loads(data)

# A first session prepares the runtime (on a cold cache, the compile): not counted.
first = post("/v1/sessions", {"language": language})
post(f"/v1/sessions/{first['id']}/exec", {"code": code})
before = memory()
started = time.time()
for i in range(n):
    s = post("/v1/sessions", {"language": language})
    receipt = post(f"/v1/sessions/{s['id']}/exec", {"code": code})
    if receipt.get("outcome") != "ok":
        sys.exit(f"exec {i}: {receipt}")
took = time.time() - started
time.sleep(1)
after = memory()
mib = lambda b: b / (1 << 20)
for what, b, a in (("PSS", before[1], after[1]), ("RSS", before[0], after[0])):
    print(f"{n} idle {language} sessions: gateway {what} {mib(b):.0f} MiB before, {mib(a):.0f} MiB after "
          f"({(a - b) / n / 1024:.0f} KiB per session)")
print(f"opened and exec'd in {took:.1f} s ({took / n * 1000:.2f} ms per session)")
PY
