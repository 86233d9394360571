#!/usr/bin/env bash
# Idle sessions parked in one gateway (issue #15: 1,000 idle sessions ≤ 2 GiB RSS). Starts `capsa serve`,
# opens SESSIONS sessions over HTTP, runs one small exec in each (so each has a live sandbox with its own
# heap, not only a reservation), and prints the gateway's RSS before and after, per session, and the time
# to open and exec them all. `make bench-idle-sessions` runs it.
#
# Environment: SESSIONS (1000), LANGUAGE (js; py for Python sessions), CAPSA (target/debug/capsa: RSS is
# the guests' memory, the same in the test build and the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-1000}
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
max_memory = "1TiB"
ttl = "1h"
TOML
CAPSA_LOG=warn "$capsa" serve --quiet --config "$work/capsa.toml" 2>"$work/capsa.log" &
pid=$!

python3 - "$port" "$pid" "$SESSIONS" "$LANGUAGE" <<'PY'
import http.client, json, sys, time
port, pid, n, language = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
code = {
    "js": "globalThis.rows = []; for (let i = 0; i < 100; i++) rows.push({i, s: 'row ' + i}); rows.length",
    "ts": "const rows: number[] = []; for (let i = 0; i < 100; i++) rows.push(i); rows.length",
    "py": "rows = [{'i': i, 's': f'row {i}'} for i in range(100)]\nlen(rows)",
}[language]

def rss():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

deadline = time.time() + 600
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        c.request("GET", "/readyz")
        if c.getresponse().status == 200:
            break
    except OSError:
        pass
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
before = rss()
started = time.time()
for i in range(n):
    s = post("/v1/sessions", {"language": language})
    receipt = post(f"/v1/sessions/{s['id']}/exec", {"code": code})
    if receipt.get("outcome") != "ok":
        sys.exit(f"exec {i}: {receipt}")
took = time.time() - started
time.sleep(1)
after = rss()
mib = lambda b: b / (1 << 20)
print(f"{n} idle {language} sessions: gateway RSS {mib(before):.0f} MiB before, {mib(after):.0f} MiB after "
      f"({(after - before) / n / 1024:.0f} KiB per session); opened and exec'd in {took:.1f} s "
      f"({took / n * 1000:.2f} ms per session)")
PY
