#!/usr/bin/env python3
"""Soak test of `capsa serve` under mixed hostile load (issue #18). Python 3.11 stdlib only.

Starts a gateway on 127.0.0.1 (port 0) with a fresh data dir, deploys a JS, TS, Python and wasm
handler plus hostile ones, and for --duration drives it from --concurrency threads with well-behaved
calls, run-now, endless loops, memory bombs, output floods, slow and stalled clients, streams cut
mid-way, oversized bodies, deploys and alias flips under calls, and acknowledged KV writes. It samples
the gateway's RSS and open fds, then checks: no unexpected answer kind, no lost acknowledged deploy,
alias flip or KV write, RSS and fds flat after warm-up, /healthz always up, no "panicked" in the log,
and a clean exit on SIGTERM. Exit 0 only if every check passes, else 1 with one line per failure.

  python3 scripts/soak.py --capsa target/debug/capsa --duration 10m [--concurrency 16] [--report r.json]

Flatness: the samples of the first 20% of the run (at least 2) are warm-up. After it, the max RSS may
exceed the first post-warm-up sample by 25% + 64 MiB, and open fds by 64. Measured on 2 cores (debug
build, 16 workers): RSS ~450 MiB at start, then 500-590 MiB swinging by up to ~90 MiB between samples,
as up to 16 sandboxes of up to 32-64 MiB come and go; fds 42-44. 25% + 64 MiB (~190 MiB over a
~500 MiB baseline) stays clear of that swing yet fails a leak of ~5 KiB per request over 10 minutes
(~40k requests after warm-up); +64 fds is 4x the connections 16 workers can hold open, and fails a
leak of one fd per slow client or cut stream (hundreds of each).
"""
import argparse, hashlib, http.client, json, math, os, random, re, select, shutil, signal, socket
import subprocess, sys, tempfile, threading, time
from collections import Counter

TOKEN = "soak-token"
AUTH = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}
START_DEADLINE = 120.0  # s to listen, answer /healthz and be ready (/readyz: runtimes compiled)
SETUP_TIMEOUT = 600.0  # s for one setup deploy (the first of a language compiles its runtime)
HTTP_TIMEOUT = 30.0  # s for any one answer under load; longer is a hang
CLIENT_TIMEOUT = 2.0  # s, [server] client_timeout
MAX_BODY = 64 * 1024  # [server] max_body
SHUTDOWN_GRACE = 10.0  # s, [server] shutdown_grace; SIGKILL after it plus EXIT_SLACK
EXIT_SLACK = 20.0
KV_KEYS_PER_WORKER = 8  # each worker owns its keys, so the last acknowledged write per key is its own
KV_BATCH = 64  # keys read back per call of the Python reader
CONFIG = f"""
[limits]
timeout = "5s"
memory = "64MiB"
max_output = "1MiB"
[server]
max_body = "{MAX_BODY}B"
client_timeout = "{CLIENT_TIMEOUT:g}s"
shutdown_grace = "{SHUTDOWN_GRACE:g}s"
"""
HOSTILE = {"timeout": "1s", "memory": "32MiB", "max_output": "64KiB"}
WASM_OUT = '{"status":200,"body":"wasm ok"}'
WASM_OUT_WAT = WASM_OUT.replace('"', '\\"')  # escaped for a wat string
WAT = f"""(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "{WASM_OUT_WAT}")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const {len(WASM_OUT)}))
    (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"""
FUNCTIONS = {
    "good-js": {"language": "js", "code": "function handler(r) { return {status: 200, body: 'js ' + (r.query.n ?? '')} }"},
    "good-ts": {"language": "ts", "code": "function handler(r: any): {status: number; body: string} { const n: string = r.query?.n ?? ''; return {status: 200, body: 'ts ' + n} }"},
    "good-py": {"language": "py", "code": "def handler(request):\n    return {'status': 200, 'body': 'py ' + request.query.get('n', '')}\n"},
    "good-wasm": {"language": "wasm", "code": WAT},
    "loop": {"language": "js", "code": "function handler() { for (;;) {} }", "limits": HOSTILE},
    "bomb": {"language": "js", "code": "function handler() { const a = []; for (;;) a.push(new Array(1e6).fill(1)) }", "limits": HOSTILE | {"timeout": "5s"}},
    "flood": {"language": "py", "code": "def handler(request):\n    while True:\n        print('x' * 1000)\n", "limits": HOSTILE | {"timeout": "5s"}},
    "chatty": {"language": "js", "code": "function handler(r) { const n = Number(r.query.n ?? 50); for (let i = 0; i < n; i++) { console.log('tick ' + i); const end = Date.now() + 20; while (Date.now() < end) {} } return 'done' }"},
    "kv": {"language": "js", "grants": {"kv": "soak"}, "code": "async function handler(r) { if (r.method === 'POST') { const w = JSON.parse(r.body); await kv.set(w.key, w.value); return {status: 200, body: 'ok'} } return {status: 200, body: JSON.stringify({value: await kv.get(r.query.key)})} }"},
    "kvread": {"language": "py", "grants": {"kv": "soak"}, "code": "import capsa, json\ndef handler(request):\n    return {'status': 200, 'body': json.dumps({k: capsa.kv.get(k) for k in request.json()})}\n"},
}
RUN_NOW = {  # traffic kind -> (language, code, limits)
    "run_js": ("js", "6 * 7", {}), "run_py": ("py", "6 * 7", {}),
    "loop_run_js": ("js", "for (;;) {}", {"timeout": "500ms"}),
    "loop_run_py": ("py", "while True:\n    pass", {"timeout": "500ms"}),
    "loop_run_wasm": ("wasm", '(module (func (export "_start") (loop (br 0))))', {"timeout": "500ms"}),
    "bomb_run_py": ("py", "xs = []\nwhile True:\n    xs.append(bytearray(10**6))", {"memory": "32MiB"}),
    "flood_run_js": ("js", "for (;;) console.log('x'.repeat(1000))", {"max_output": "64KiB"}),
}
HOST, PORT = "127.0.0.1", 0
REGISTRY_LOCK = threading.Lock()  # deploys and flips of `flip` happen one at a time: a defined order
REGISTRY = {"acked": {}, "attempts": 0, "alias": None, "alias_doubt": set()}


def req(method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
    """One request on a fresh connection → (status, lower-cased headers, body bytes)."""
    conn = http.client.HTTPConnection(HOST, PORT, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def kind_of(status, headers, body):
    """`STATUS CODE`: the code from x-capsa-outcome (the receipt's outcome for run-now) or the error body."""
    code = headers.get("x-capsa-outcome")
    if not code:
        m = re.search(rb'"code"\s*:\s*"(\w+)"', body or b"")
        code = m.group(1).decode() if m else ""
    return f"{status} {code}".strip()


def t_good(lang):
    def run(w):
        n = w.rng.randrange(10**6)
        status, headers, body = req("GET", f"/run/good-{lang}?n={n}")
        kind = kind_of(status, headers, body)
        want = "wasm ok" if lang == "wasm" else f"{lang} {n}"
        return "200 wrong_body" if kind == "200 ok" and body.decode() != want else kind
    return run


def t_run_now(name):
    language, code, limits = RUN_NOW[name]
    def run(w):
        payload = json.dumps({"language": language, "code": code, "limits": limits})
        status, headers, body = req("POST", "/v1/run", payload, AUTH)
        kind = kind_of(status, headers, body)
        if kind == "200 ok" and json.loads(body).get("result") != 42:
            return "200 wrong_result"
        return kind
    return run


def t_call(name):
    return lambda w: kind_of(*req("GET", f"/run/{name}"))


def raw_answer(sock):
    """Reads what the gateway sends until it closes → `STATUS CODE`, `closed` (nothing), or `hang`."""
    data, deadline = b"", time.monotonic() + HTTP_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if not select.select([sock], [], [], max(0, deadline - time.monotonic()))[0]:
                return "hang"
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:  # reset: the gateway dropped the connection
        pass
    if not data:
        return "closed"
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(l.lower().split(": ", 1) for l in lines[1:] if ": " in l)
    return kind_of(int(lines[0].split()[1]), headers, body)


def slow_body(total, pace, path):
    """Headers at once, then the body one byte per `pace` s until sent or the gateway answers."""
    def run(w):
        with socket.create_connection((HOST, PORT), timeout=HTTP_TIMEOUT) as s:
            s.sendall(f"POST {path} HTTP/1.1\r\nhost: soak\r\ncontent-length: {total}\r\n"
                      "connection: close\r\n\r\n".encode())
            try:
                for _ in range(total):
                    if select.select([s], [], [], pace)[0]:  # pacing; an early answer ends it
                        break
                    s.send(b"x")
            except OSError:
                return "closed"
            return raw_answer(s)
    return run


def t_stalled_headers(w):
    """Half a request's headers, then nothing: cut off after client_timeout."""
    with socket.create_connection((HOST, PORT), timeout=HTTP_TIMEOUT) as s:
        s.sendall(b"GET /run/good-js HTTP/1.1\r\nhost: soak\r\n")
        return raw_answer(s)


def t_oversized(w):
    """A body over max_body, with a Content-Length or chunked: 413 either way."""
    with socket.create_connection((HOST, PORT), timeout=HTTP_TIMEOUT) as s:
        body = b"x" * (MAX_BODY + 4096)
        if w.rng.random() < 0.5:
            head = f"content-length: {len(body)}\r\n"
        else:
            head, body = "transfer-encoding: chunked\r\n", b"".join(
                b"1000\r\n" + body[i:i + 4096] + b"\r\n" for i in range(0, len(body), 4096)) + b"0\r\n\r\n"
        try:
            s.sendall(f"POST /run/good-js HTTP/1.1\r\nhost: soak\r\n{head}connection: close\r\n\r\n".encode() + body)
        except OSError:
            pass  # the gateway may answer and close before taking the whole body
        return raw_answer(s)


def t_sse(cut):
    """An SSE stream of `chatty`: read one event and close the socket, or read it all."""
    def run(w):
        conn = http.client.HTTPConnection(HOST, PORT, timeout=HTTP_TIMEOUT)
        try:
            conn.request("GET", f"/run/chatty?n={50 if cut else 5}", headers={"accept": "text/event-stream"})
            r = conn.getresponse()
            if r.status != 200 or not r.getheader("content-type", "").startswith("text/event-stream"):
                return kind_of(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
            if cut:
                for _ in range(20):
                    if r.readline().startswith(b"event:"):
                        return "200 sse_cut"
                return "200 sse_no_event"
            events = re.findall(r"event: (\w+)\ndata: (.*)\n", r.read().decode())
            if not events or events[-1][0] != "result":
                return "200 sse_no_result"
            return f"200 sse_{json.loads(events[-1][1]).get('outcome')}"
        finally:
            conn.close()
    return run


def t_deploy(w):
    with REGISTRY_LOCK:
        REGISTRY["attempts"] += 1
        code = f"function handler() {{ return {{v: {REGISTRY['attempts']}}} }}"
        status, headers, body = req("PUT", "/v1/functions/flip", json.dumps({"language": "js", "code": code}), AUTH)
        if status == 201:
            answer = json.loads(body)
            if answer.get("digest") != "sha256:" + hashlib.sha256(code.encode()).hexdigest():
                return "201 wrong_digest"
            REGISTRY["acked"][answer["version"]] = answer["digest"]
        return kind_of(status, headers, body)


def t_alias_flip(w):
    with REGISTRY_LOCK:
        version = w.rng.choice(list(REGISTRY["acked"]))
        try:
            status, headers, body = req("PUT", "/v1/functions/flip/aliases/live", json.dumps({"version": version}), AUTH)
        except Exception:
            REGISTRY["alias_doubt"].add(version)
            raise
        if status == 200:
            REGISTRY["alias"], REGISTRY["alias_doubt"] = version, set()
        elif status != 503:
            REGISTRY["alias_doubt"].add(version)
        return kind_of(status, headers, body)


def t_call_flip(w):
    status, headers, body = req("GET", "/run/flip" + w.rng.choice(["", "@live"]))
    kind = kind_of(status, headers, body)
    if kind == "200 ok" and not (isinstance(json.loads(body).get("v"), int) and headers.get("x-capsa-version")):
        return "200 wrong_body"
    return kind


def t_kv_write(w):
    key = f"w{w.wid}-k{w.rng.randrange(KV_KEYS_PER_WORKER)}"
    w.seq += 1
    value = f"{w.wid}:{w.seq}:{w.rng.getrandbits(32):08x}"
    state = w.kv.setdefault(key, {"acked": None, "doubt": []})
    try:
        status, headers, body = req("POST", "/run/kv", json.dumps({"key": key, "value": value}))
    except Exception:
        state["doubt"].append(value)  # it may have been written: either value may be the last
        raise
    if 200 <= status < 300:
        state["acked"], state["doubt"] = value, []
    elif status != 503:  # busy is refused before the call runs: nothing written
        state["doubt"].append(value)
    return kind_of(status, headers, body)


def t_kv_read(w):
    """Read-your-writes on one of this worker's keys, through the JS handler."""
    if not w.kv:
        return t_kv_write(w)
    key, state = w.rng.choice(list(w.kv.items()))
    status, headers, body = req("GET", f"/run/kv?key={key}")
    kind = kind_of(status, headers, body)
    if kind == "200 ok" and json.loads(body)["value"] not in [state["acked"], *state["doubt"]]:
        return "200 stale_value"
    return kind


TRAFFIC = {  # kind -> (weight, function, expected answer kinds; `503 busy` is always allowed)
    **{f"good_{l}": (4, t_good(l), {"200 ok"}) for l in ["js", "ts", "py", "wasm"]},
    "run_js": (2, t_run_now("run_js"), {"200 ok"}),
    "run_py": (2, t_run_now("run_py"), {"200 ok"}),
    **{k: (1, t_run_now(k), {"200 timeout"}) for k in ["loop_run_js", "loop_run_py", "loop_run_wasm"]},
    "loop_call": (1, t_call("loop"), {"504 timeout"}),
    "bomb_call": (1, t_call("bomb"), {"500 memory_limit_exceeded"}),
    "bomb_run_py": (1, t_run_now("bomb_run_py"), {"200 memory_limit_exceeded"}),
    "flood_call": (1, t_call("flood"), {"500 output_limit_exceeded"}),
    "flood_run_js": (1, t_run_now("flood_run_js"), {"200 output_limit_exceeded"}),
    "slow_body_ok": (1, slow_body(10, 0.08, "/run/good-js?n=slow"), {"200 ok"}),
    "slow_body_stall": (1, slow_body(64, 0.25, "/run/good-js"), {"408 invalid_input", "closed"}),
    "stalled_headers": (1, t_stalled_headers, {"408", "408 invalid_input", "closed"}),
    "sse_cut": (1, t_sse(True), {"200 sse_cut"}),
    "sse_full": (1, t_sse(False), {"200 sse_ok"}),
    "oversized": (1, t_oversized, {"413 payload_too_large"}),
    "deploy": (1, t_deploy, {"201"}),
    "alias_flip": (1, t_alias_flip, {"200"}),
    "call_flip": (3, t_call_flip, {"200 ok"}),
    "kv_write": (4, t_kv_write, {"200 ok"}),
    "kv_read": (2, t_kv_read, {"200 ok"}),
    "metrics": (1, lambda w: kind_of(*req("GET", "/metrics")), {"200"}),
}


class Worker(threading.Thread):
    def __init__(self, wid, deadline, counts, slowest, unexpected, lock):
        super().__init__(daemon=True)
        self.wid, self.deadline, self.rng, self.seq, self.kv = wid, deadline, random.Random(wid), 0, {}
        self.counts, self.slowest, self.unexpected, self.lock = counts, slowest, unexpected, lock

    def run(self):
        names = list(TRAFFIC)
        weights = [TRAFFIC[n][0] for n in names]
        while time.monotonic() < self.deadline:
            name = self.rng.choices(names, weights)[0]
            started = time.monotonic()
            try:
                kind = TRAFFIC[name][1](self)
            except Exception as e:  # a refused or reset connection, a timeout, a bad JSON body
                kind = f"error {type(e).__name__}: {e}"[:120]
            with self.lock:
                self.counts[(name, kind)] += 1
                self.slowest[name] = max(self.slowest.get(name, 0), round(time.monotonic() - started, 2))
                if kind not in TRAFFIC[name][2] | {"503 busy"}:
                    self.unexpected.append({"traffic": name, "kind": kind, "at_s": round(started - T0, 1)})


def sample(proc):
    pid = proc.pid
    with open(f"/proc/{pid}/status") as f:
        rss_kib = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    try:
        health = kind_of(*req("GET", "/healthz", timeout=10))
    except Exception as e:
        health = f"error {type(e).__name__}"
    return {"t_s": round(time.monotonic() - T0, 1), "rss_mib": round(rss_kib / 1024, 1),
            "fds": len(os.listdir(f"/proc/{pid}/fd")), "healthz": health}


def start_gateway(capsa, tmp, log):
    global PORT
    config = os.path.join(tmp, "capsa.toml")
    with open(config, "w") as f:
        f.write(CONFIG)
    env = dict(os.environ, CAPSA_TOKEN=TOKEN)
    env.pop("CAPSA_LOG", None)
    proc = subprocess.Popen([capsa, "serve", "--config", config, "--listen", "127.0.0.1:0",
                             "--data", os.path.join(tmp, "data")],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
    # Polls the log for the port, then /healthz (up) and /readyz (routes and runtimes compiled: the
    # gateway listens before it compiles, and answers 503 busy until then).
    deadline, probes = time.monotonic() + START_DEADLINE, ["/healthz", "/readyz"]
    while time.monotonic() < deadline and proc.poll() is None:
        with open(log.name) as f:
            m = re.search(r"capsa: gateway listening on http://[\d.]+:(\d+)", f.read())
        if m:
            PORT = int(m.group(1))
            try:
                while probes and req("GET", probes[0], timeout=5)[0] == 200:
                    probes.pop(0)
                if not probes:
                    return proc
            except OSError:
                pass
        time.sleep(0.05)
    proc.kill()
    sys.exit(f"soak: the gateway did not start within {START_DEADLINE:g}s; log: {log.name}")


class Setup:
    rng = random.Random(0)


def setup():
    try:
        for name, deployment in FUNCTIONS.items():
            status, _, body = req("PUT", f"/v1/functions/{name}", json.dumps(deployment), AUTH, SETUP_TIMEOUT)
            if status != 201:
                return f"setup: deploying `{name}` answered {status}: {body[:300]!r}"
        if t_deploy(None) != "201" or t_alias_flip(Setup()) != "200":
            return "setup: the first deploy or alias flip of `flip` failed"
    except Exception as e:
        return f"setup: {type(e).__name__}: {e}"
    return None


def check_registry():
    _, _, body = req("GET", "/v1/functions/flip/versions", headers=AUTH)
    listed = {v["version"]: v["digest"] for v in json.loads(body)["versions"]}
    lost = [v for v, d in REGISTRY["acked"].items() if listed.get(v) != d]
    _, _, body = req("GET", "/v1/functions/flip", headers=AUTH)
    alias = json.loads(body)["aliases"].get("live")
    problems = [f"{len(lost)} acknowledged versions missing or changed: {lost[:10]}"] if lost else []
    if alias != REGISTRY["alias"] and alias not in REGISTRY["alias_doubt"]:
        problems.append(f"alias `live` is {alias}, the last acknowledged flip was {REGISTRY['alias']}")
    return problems, f"{len(REGISTRY['acked'])} acknowledged versions, alias live = {alias}"


def check_kv(workers):
    states = {k: s for w in workers for k, s in w.kv.items() if s["acked"] is not None or s["doubt"]}
    keys, lost = sorted(states), []
    for i in range(0, len(keys), KV_BATCH):
        status, _, body = req("POST", "/run/kvread", json.dumps(keys[i:i + KV_BATCH]), timeout=SETUP_TIMEOUT)
        if status != 200:
            return [f"reading KV back answered {status}: {body[:200]!r}"], ""
        got = json.loads(body)
        lost += [k for k in keys[i:i + KV_BATCH] if got.get(k) not in [states[k]["acked"], *states[k]["doubt"]]]
    acked = sum(w.seq for w in workers)
    return ([f"{len(lost)} keys lost their last acknowledged write: {lost[:10]}"] if lost else [],
            f"{len(keys)} keys read back (of {acked} writes attempted)")


def flat(samples, what, pct, slack, duration, interval):
    skip = max(2, math.ceil(0.2 * duration / interval))  # warm-up: 20% of the run, at least 2 samples
    tail = samples[skip:]
    if len(tail) < 2:
        return [f"{what}: only {len(tail)} samples after warm-up; run longer"], ""
    base, top = tail[0][what], max(s[what] for s in tail)
    limit = base * (1 + pct / 100) + slack
    note = f"first after warm-up {base}, max {top}, allowed {limit:.1f}"
    return ([f"{what} grew: {note}"] if top > limit else []), note


def parse_duration(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text}")
    return float(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--capsa", required=True, help="the capsa binary")
    p.add_argument("--duration", type=parse_duration, default=600, help="load time, e.g. 60s, 10m (default 10m)")
    p.add_argument("--concurrency", type=int, default=16, help="worker threads (default 16)")
    p.add_argument("--sample", type=parse_duration, default=10, help="RSS/fd sample interval (default 10s)")
    p.add_argument("--rss-growth-pct", type=float, default=25, help="RSS may exceed its first post-warm-up sample by this %% ... (default 25)")
    p.add_argument("--rss-growth-mib", type=float, default=64, help="... plus this many MiB (default 64)")
    p.add_argument("--fd-growth", type=int, default=64, help="open fds may exceed their first post-warm-up sample by this many (default 64)")
    p.add_argument("--report", help="write the report as JSON to this file")
    args = p.parse_args()

    tmp = tempfile.mkdtemp(prefix="capsa-soak-")
    log = open(os.path.join(tmp, "gateway.log"), "w")
    proc = start_gateway(os.path.abspath(args.capsa), tmp, log)
    try:
        report = soak(args, proc, log)
    finally:
        if proc.poll() is None:  # an exception or ^C: never leave the gateway behind
            proc.kill()
            proc.wait()
    print_report(args, report)
    if report["failures"]:
        print(f"soak: kept the gateway's data and log in {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if report["failures"] else 0)


def soak(args, proc, log):
    """The load, the sampling and every check → the report."""
    global T0
    failures, notes = [], {}
    if error := setup():
        failures.append(error)
    counts, slowest, unexpected, lock, samples = Counter(), {}, [], threading.Lock(), []
    T0 = time.monotonic()
    workers = [Worker(i, T0 + args.duration, counts, slowest, unexpected, lock) for i in range(args.concurrency if not failures else 0)]
    for w in workers:
        w.start()
    stop = threading.Event()
    def sampler():
        while proc.poll() is None:
            try:
                samples.append(sample(proc))
            except OSError:  # the process went away between poll and /proc
                return
            if stop.wait(args.sample):  # pacing of the samples
                return
    sampling = threading.Thread(target=sampler, daemon=True)
    sampling.start()
    for w in workers:
        w.join()
    stop.set()
    sampling.join()
    alive = proc.poll() is None
    if not alive:
        failures.append(f"the gateway died during the load (exit status {proc.returncode})")
    elif not failures:
        samples.append(sample(proc))
        for name, check in [("deploys", check_registry), ("kv", lambda: check_kv(workers))]:
            try:
                problems, notes[name] = check()
            except Exception as e:
                problems = [f"{name} check failed: {type(e).__name__}: {e}"]
            failures += problems
        for what, pct, slack in [("rss_mib", args.rss_growth_pct, args.rss_growth_mib), ("fds", 0, args.fd_growth)]:
            problems, notes[what] = flat(samples, what, pct, slack, args.duration, args.sample)
            failures += problems
    if unexpected:
        kinds = Counter((u["traffic"], u["kind"]) for u in unexpected)
        failures.append(f"{len(unexpected)} unexpected answers: " + "; ".join(f"{t} -> {k} x{n}" for (t, k), n in kinds.most_common(5)))
    if bad := [s for s in samples if s["healthz"] != "200"]:
        failures.append(f"/healthz failed in {len(bad)} samples: {bad[:3]}")
    if alive:
        proc.send_signal(signal.SIGTERM)
        try:
            if (rc := proc.wait(SHUTDOWN_GRACE + EXIT_SLACK)) != 0:
                failures.append(f"the gateway exited with status {rc} on SIGTERM")
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            failures.append(f"the gateway did not exit within {SHUTDOWN_GRACE + EXIT_SLACK:g}s of SIGTERM (killed)")
    log.close()
    with open(log.name, errors="replace") as f:
        panics = [l.strip() for l in f if "panicked" in l]
    if panics:
        failures.append(f"{len(panics)} panics in the gateway log, first: {panics[0][:300]}")
    return {"duration_s": args.duration, "concurrency": args.concurrency, "requests": sum(counts.values()),
            "counts": {f"{t} | {k}": n for (t, k), n in sorted(counts.items())}, "slowest_s": slowest,
            "samples": samples, "notes": notes, "unexpected": unexpected,
            "failures": failures, "passed": not failures}


def print_report(args, report):
    total, samples = report["requests"], report["samples"]
    print(f"capsa soak: {args.duration:g}s, {args.concurrency} workers, {total} requests ({total / args.duration:.1f}/s)")
    for name in TRAFFIC:
        kinds = ", ".join(f"{key.split(' | ', 1)[1]} x{n}" for key, n in report["counts"].items() if key.startswith(name + " | "))
        print(f"  {name:16} {kinds}  (slowest {report['slowest_s'].get(name, 0):g}s)")
    print("  samples (t s, RSS MiB, fds): " + " ".join(f"({s['t_s']:g}, {s['rss_mib']:g}, {s['fds']})" for s in samples))
    for name, note in report["notes"].items():
        print(f"  {name}: {note}")
    for u in report["unexpected"][:20]:
        print(f"  unexpected: {u}")
    failures = report["failures"]
    print("PASS: every check passed" if not failures else "\n".join(f"FAIL: {f}" for f in failures))
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report, f, indent=2)


T0 = time.monotonic()
if __name__ == "__main__":
    main()
