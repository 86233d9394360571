"""capsa's Python runtime: the `run` export of the component that componentize-py builds.

componentize-py runs this module at build time and snapshots the interpreter, so everything imported
here (the promised standard library, see `stdlib.py`) is in the component, and nothing else is. Each
call of `run` takes one JSON request from the host and returns one JSON answer (the same protocol as
the JavaScript runtime; see crates/capsa/src/lang/python.rs).
"""

import ast
import asyncio
import base64
import builtins
import gc
import inspect
import io
import json
import linecache
import math
import os
import random
import sys
import time
import traceback

import capsa
import stdlib  # noqa: F401  (imported for its side effect: the standard library in the snapshot)
from wit_world.imports import host as _host

# Frames of these files are the runtime's, not the user's: tracebacks leave them out.
_RUNTIME_FILES = {__file__, capsa.__file__}
_ASYNCIO_DIR = os.path.dirname(asyncio.__file__)

# Names of modules the sandbox cannot offer, with the reason.
_UNAVAILABLE = {
    "socket": "there are no sockets; use capsa.http.fetch for granted hosts",
    "ssl": "there are no sockets; use capsa.http.fetch for granted hosts",
    "_socket": "there are no sockets; use capsa.http.fetch for granted hosts",
    "_ssl": "there are no sockets; use capsa.http.fetch for granted hosts",
    "select": "there are no sockets or pipes to wait on",
    "selectors": "there are no sockets or pipes to wait on",
    "subprocess": "a sandbox cannot start processes",
    "multiprocessing": "a sandbox cannot start processes",
    "ctypes": "a sandbox cannot load native code",
    "_ctypes": "a sandbox cannot load native code",
}


class _Unavailable:
    """Refuses modules the sandbox cannot offer, with a reason."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        reason = _UNAVAILABLE.get(name.partition(".")[0])
        if reason:
            raise ModuleNotFoundError(
                f"module '{name}' is not available in capsa's sandbox: {reason}", name=name
            )
        return None


class _NotBundled:
    """Last on the meta path: says why a module is missing instead of just that it is."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if path is not None:
            return None  # a submodule: its package's own finder answers
        raise ModuleNotFoundError(
            f"No module named '{name}': capsa's Python has the standard library listed in "
            "docs/python.md and cannot install packages",
            name=name,
        )


# Some of them are in the snapshot because the standard library imports them (asyncio imports socket
# and subprocess): forgotten here, so the user's `import` reaches the finder and its reason.
for _name in list(sys.modules):
    if _name.partition(".")[0] in _UNAVAILABLE:
        del sys.modules[_name]

sys.meta_path.insert(0, _Unavailable)
sys.meta_path.append(_NotBundled)


# --- the standard streams -----------------------------------------------------------------------
# componentize-py's stdout and stderr are text wrappers straight over the raw file descriptors, and a
# raw write may be partial (the host takes 64 KiB at a time): big writes would lose their tail. Buffered
# writers retry until everything is written. Both flush at every line, so output written before a
# limit ends the call (and live output) is not lost in a buffer; the runtime flushes the rest when a
# call ends.
sys.stdout = io.TextIOWrapper(
    io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
    encoding="utf-8",
    errors="backslashreplace",
    line_buffering=True,
)
sys.stderr = io.TextIOWrapper(
    io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
    encoding="utf-8",
    errors="backslashreplace",
    line_buffering=True,
)
sys.__stdout__, sys.__stderr__ = sys.stdout, sys.stderr


# --- recursion ------------------------------------------------------------------------------------
# Python frames live on the heap: a recursion limit of millions lets a runaway recursion fill the whole
# memory limit and then take seconds to unwind. Deeper than this is never what a program meant.
MAX_RECURSION_LIMIT = 100_000
_setrecursionlimit = sys.setrecursionlimit


def _capped_setrecursionlimit(limit):
    _setrecursionlimit(min(limit, MAX_RECURSION_LIMIT))


sys.setrecursionlimit = _capped_setrecursionlimit


# --- asyncio --------------------------------------------------------------------------------------
# The stock event loops wait on sockets, which WASI lacks. This one waits on the host: for one of the
# host calls in flight (`capsa.rpc`) or, with none in flight, for the next timer.


class _HostSelector:
    def __init__(self, loop):
        self._loop = loop

    def select(self, timeout):
        waiting = self._loop._capsa_waiting
        handles = [handle for handle, future in waiting.items() if not future.done()]
        if not handles:
            if timeout is None:
                raise RuntimeError(
                    "the event loop has nothing left to wait for: a coroutine awaits something "
                    "that no host call or timer will complete"
                )
            if timeout > 0:
                time.sleep(timeout)
            return []
        ready = _host.wait_any(handles, None if timeout is None else int(timeout * 1e9))
        if ready is not None:
            future = waiting.pop(ready)
            try:
                future.set_result(capsa._finish(ready))
            except BaseException as exc:  # noqa: BLE001  (the awaiting coroutine gets it)
                future.set_exception(exc)
        return []

    def close(self):
        pass


class EventLoop(asyncio.BaseEventLoop):
    """An asyncio event loop for the sandbox: timers, tasks, and host calls awaited concurrently."""

    def __init__(self):
        super().__init__()
        self._selector = _HostSelector(self)
        self._capsa_waiting = {}

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        pass

    async def _capsa_wait(self, handle):
        future = self.create_future()
        self._capsa_waiting[handle] = future
        try:
            return await future
        finally:
            self._capsa_waiting.pop(handle, None)
            if not future.done() or future.cancelled():
                # Cancelled (a timeout, a task cancelled): the host call is abandoned and its
                # handle freed, so retries cannot pile up against the host-call limits.
                _host.call_drop(handle)

    def _capsa_abandon(self):
        """At the end of an evaluation the host abandons the calls still in flight: whatever awaits
        them (a task left running in a session) gets an error instead of a dead handle."""
        waiting, self._capsa_waiting = self._capsa_waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(
                    capsa.HostError(
                        "host_error", "the host call was abandoned: the evaluation that started it ended"
                    )
                )


# `asyncio.run`, `asyncio.new_event_loop`, `asyncio.EventLoop` and the policy's loops are capsa's.
asyncio.new_event_loop = asyncio.events.new_event_loop = asyncio.EventLoop = EventLoop
try:
    type(asyncio.events._get_event_loop_policy())._loop_factory = EventLoop
except AttributeError:  # pragma: no cover  (a CPython without policies)
    pass

_loop = None


def _run_coroutine(coroutine):
    """Runs a coroutine of top-level `await` code or an async handler on the session's loop."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = EventLoop()
    asyncio.events._set_running_loop(None)
    return _loop.run_until_complete(coroutine)


# --- evaluation -----------------------------------------------------------------------------------

_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def _new_namespace():
    return {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}


_namespace = _new_namespace()


def _run_code(code, namespace):
    result = eval(code, namespace)  # noqa: S307  (this is the sandbox's job)
    if code.co_flags & inspect.CO_COROUTINE:
        result = _run_coroutine(result)
    return result


def _execute(code, file):
    """Runs a cell: its statements, then the value of its final expression statement. `__file__`
    is the cell's file name, as for a script run by `python3 FILE`."""
    linecache.cache[file] = (len(code), None, code.splitlines(True), file)
    _namespace["__file__"] = file
    try:
        tree = ast.parse(code, filename=file, mode="exec")
    except SyntaxError as exc:
        # The parser's own frames are not the user's: the error's location is the whole story.
        exc._capsa_syntax = True
        raise exc.with_traceback(None) from None
    # The final expression statement becomes an assignment to a hidden name, so the cell stays one
    # code object: with any `await` in it, all of it runs on the event loop.
    has_value = bool(tree.body) and isinstance(tree.body[-1], ast.Expr)
    if has_value:
        last = tree.body[-1]
        target = ast.Name(id=_RESULT_NAME, ctx=ast.Store())
        tree.body[-1] = ast.copy_location(ast.Assign(targets=[target], value=last.value), last)
        ast.fix_missing_locations(tree)
    try:
        compiled = compile(tree, file, "exec", flags=_FLAGS, dont_inherit=True)
    except SyntaxError as exc:
        # Found by the compiler (`return` outside a function and the like): the source does not parse.
        exc._capsa_syntax = True
        raise exc.with_traceback(None) from None
    try:
        _run_code(compiled, _namespace)
        return _namespace.get(_RESULT_NAME) if has_value else None
    finally:
        _namespace.pop(_RESULT_NAME, None)


_RESULT_NAME = "__capsa_cell_value__"


class _NotJson(Exception):
    pass


def _jsonable(value, depth=0):
    """`value` as JSON data, or `_NotJson`. Integers beyond 64 bits become decimal strings, which JSON
    readers keep exactly."""
    if depth > 200:
        raise _NotJson
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value) if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJson
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, depth + 1) for item in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, bool) or key is None:
                key = json.dumps(key)
            elif isinstance(key, (int, float)):
                key = str(_jsonable(key, depth + 1))
            elif not isinstance(key, str):
                raise _NotJson
            if key in out:
                raise _NotJson  # {1: .., "1": ..}: JSON would keep only one
            out[key] = _jsonable(item, depth + 1)
        return out
    raise _NotJson


def _result(value):
    """The JSON result of a cell: its value when that is JSON data, else its `repr`."""
    try:
        return _jsonable(value)
    except _NotJson:
        return repr(value)


class Request(dict):
    """The request context of a handler call (docs/contract.md): a dict, whose keys are also
    attributes (`request.method`), with the body as `text()`, `bytes()` and `json()`."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            if name in ("route", "query", "headers"):
                return {}
            if name in ("method", "path", "body", "body_base64", "client"):
                return None
            raise AttributeError(name) from None

    def bytes(self):
        if self.get("body_base64") is not None:
            return base64.b64decode(self["body_base64"])
        return (self.get("body") or "").encode()

    def text(self):
        return self.bytes().decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.bytes())


def _response(value):
    """What a handler returned, as the response of the contract: `{status, headers, body | body_base64}`."""
    if isinstance(value, dict) and "status" in value and (
        "body" in value or "headers" in value or "body_base64" in value
    ):
        status = value["status"]
        if isinstance(status, bool) or (isinstance(status, int) and not 100 <= status <= 999):
            raise ValueError(f"a response status must be a number from 100 to 999, not {status!r}")
        # A status that is not a number, or `body` beside `body_base64`, goes to the host as
        # written: the host checks every response (its 502), whatever this runtime lets through.
        if not isinstance(status, (int, float, str)):
            status = repr(status)
        out = {"status": status, "headers": _headers(value.get("headers") or {})}
        body = value.get("body")
        if value.get("body_base64") is not None:
            out["body_base64"] = str(value["body_base64"])
            if body is not None:
                out["body"] = body if isinstance(body, str) else repr(body)
        elif isinstance(body, (bytes, bytearray, memoryview)):
            out["body_base64"] = base64.b64encode(bytes(body)).decode()
        elif isinstance(body, str):
            out["body"] = body
        else:
            out["body"] = "" if body is None else json.dumps(_result(body), ensure_ascii=False)
        return out
    if isinstance(value, str):
        return {"status": 200, "headers": {"content-type": "text/plain; charset=utf-8"}, "body": value}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {
            "status": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body_base64": base64.b64encode(bytes(value)).decode(),
        }
    return {
        "status": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(_result(value), ensure_ascii=False),
    }


def _headers(headers):
    out = {}
    for name, value in dict(headers).items():
        name, value = str(name), str(value)
        if any(c in name + value for c in "\r\n\0"):
            raise ValueError(f"response header {name!r} holds a line break or NUL")
        out[name] = value
    return out


def _call(fn, *args):
    result = fn(*args)
    if inspect.isawaitable(result):
        result = _run_coroutine(_awaited(result))
    return result


async def _awaited(awaitable):
    return await awaitable


def _handle(code, file, context):
    _execute(code, file)
    handler = _namespace.get("handler")
    if not callable(handler):
        raise TypeError("no handler: define `def handler(request)` (or `async def`)")
    return _response(_call(handler, Request(context or {})))


def _dispatch(event, payload):
    handler = capsa._handlers.get(event)
    if handler is None:
        raise TypeError(
            f"no handler for event `{event}`: register one with @capsa.on({json.dumps(event)})"
        )
    return _result(_call(handler, payload))


# --- errors ---------------------------------------------------------------------------------------


def _is_wrapper(frame):
    return frame.filename in _RUNTIME_FILES or frame.filename.startswith(_ASYNCIO_DIR)


def _trim(te):
    """Drops the runtime's frames from a traceback (and from its causes, contexts and groups): the
    leading ones (the runtime and asyncio calling the user's code) and trailing ones (capsa's API
    raising on the user's behalf)."""
    seen = set()
    todo = [te]
    while todo:
        te = todo.pop()
        if te is None or id(te) in seen:
            continue
        seen.add(id(te))
        frames = list(te.stack)
        while frames and _is_wrapper(frames[0]):
            frames.pop(0)
        while frames and frames[-1].filename in _RUNTIME_FILES:
            frames.pop()
        te.stack = traceback.StackSummary.from_list(frames)
        todo.extend([te.__cause__, te.__context__, *(te.exceptions or [])])


MAX_FRAMES = 200
KEPT_FRAMES = 50


def _error(exc):
    code = None
    if isinstance(exc, MemoryError):
        code = "memory_limit_exceeded"
    elif isinstance(exc, RecursionError):
        code = "stack_overflow"
    elif isinstance(exc, capsa.HostError) and exc in capsa._from_host:
        code = exc.code
    try:
        # Formatting costs ~0.1 ms a frame (source lines, carets): a runaway recursion's 100,000
        # frames would take seconds. Past MAX_FRAMES only the innermost frames are shown.
        depth, tb = 0, exc.__traceback__
        while tb is not None:
            depth, tb = depth + 1, tb.tb_next
        limit = -KEPT_FRAMES if depth > MAX_FRAMES else None
        te = traceback.TracebackException.from_exception(exc, limit=limit, compact=True)
        _trim(te)
        stack = "".join(te.format())
        if limit is not None:
            head, _, rest = stack.partition("\n")
            stack = f"{head}\n  [{depth - KEPT_FRAMES} outer frames not shown]\n{rest}"
    except BaseException:  # noqa: BLE001  (out of memory or stack while formatting)
        stack = ""
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001  (a user __str__ that raises)
        message = "<exception str() failed>"
    error = {"name": type(exc).__qualname__, "message": message, "stack": stack}
    if code:
        error["code"] = code
    if isinstance(exc, SyntaxError) and getattr(exc, "_capsa_syntax", False):
        error["syntax"] = True
    return {"ok": False, "error": error}


def _exit(exc):
    """`sys.exit(n)`: the call ends with exit code `n`, as a process would (a message goes to stderr
    and exits 1)."""
    code = exc.code
    if code is None or code == 0:
        return {"ok": True, "result": None}
    if not isinstance(code, int):
        try:
            print(code, file=sys.stderr)
        except BaseException:  # noqa: BLE001, S110  (a replaced stderr, a __str__ that raises)
            pass
        code = 1
    code = max(-(2**31), min(code, 2**31 - 1))
    return {
        "ok": False,
        "exit_code": code,
        "error": {"name": "SystemExit", "message": str(code), "stack": "", "code": "exit"},
    }


# --- the export -----------------------------------------------------------------------------------

_fresh = True


def _start_instance():
    """Once per sandbox: what the build-time snapshot must not fix for every sandbox alike."""
    random.seed()


def _answer(request):
    global _fresh
    if _fresh:
        _fresh = False
        _start_instance()
    op = request.get("op")
    if op == "eval":
        return {"ok": True, "result": _result(_execute(request["code"], request.get("file", "main.py")))}
    if op == "handler":
        code, file = request["code"], request.get("file", "main.py")
        return {"ok": True, "result": _handle(code, file, request.get("request"))}
    if op == "dispatch":
        return {"ok": True, "result": _dispatch(request.get("event"), request.get("payload"))}
    raise ValueError(f"unknown request `{op}`")


def _end_of_call():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001, S110  (a closed or replaced stream)
            pass
    if _loop is not None:
        _loop._capsa_abandon()


class WitWorld:
    def run(self, request: str) -> str:
        # Nothing may escape: an exception out of an export, or a string that is not UTF-8 (a lone
        # surrogate from a file name or the user's code), aborts the component instead of answering.
        try:
            try:
                answer = _answer(json.loads(request))
            except SystemExit as exc:
                answer = _exit(exc)
            except BaseException as exc:  # noqa: BLE001  (every exception is the user's to see)
                answer = _error(exc)
            finally:
                _end_of_call()
            return _utf8(json.dumps(answer, ensure_ascii=False))
        except BaseException:  # noqa: BLE001
            try:
                return _utf8(json.dumps(_error(sys.exception())))
            except BaseException:  # noqa: BLE001
                return _LAST_RESORT


_LAST_RESORT = json.dumps(
    {"ok": False, "error": {"name": "RuntimeError", "message": "the runtime could not report the outcome", "stack": ""}}
)


def _utf8(text):
    """`text` with lone surrogates replaced, so it can leave the component as UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _warm_up():
    """Runs the paths every call takes once at build time (parsing, compiling, evaluating, the answer's
    JSON, a handler's response), so the state they initialise on first use is in the snapshot rather
    than made again, page by copied page, in every sandbox. Leaves no trace of the user-visible kind."""
    global _namespace, _fresh
    world = WitWorld()
    program = "import json\nx = [1, 2.5, 'a', None]\ndef handler(request):\n    return {'status': 200, 'body': json.dumps(x)}\nx"
    for op in ("eval", "handler"):
        request = {"op": op, "code": program, "file": "warmup.py", "request": {"method": "GET", "path": "/"}}
        world.run(json.dumps(request))
        world.run(json.dumps({"op": "eval", "code": "1 +", "file": "warmup.py"}))
    linecache.cache.pop("warmup.py", None)
    _namespace = _new_namespace()
    _fresh = True


_warm_up()

# Everything made so far is in the snapshot every sandbox starts from. Frozen out of the garbage
# collector's generations, a collection in a sandbox never walks (and so never copies-on-write) the
# pages of the snapshot's objects.
gc.collect()
gc.freeze()
