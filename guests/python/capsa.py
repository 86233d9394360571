"""capsa's guest API for Python: host functions, KV, HTTP and session events.

Everything here reaches the host only where the call was granted it; anything else raises
`HostError` with code ``capability_denied``. See docs/python.md.
"""

import asyncio
import base64
import json
import weakref

from componentize_py_types import Err
from wit_world.imports import host as _host

__all__ = ["HostError", "Response", "call", "rpc", "kv", "http", "on", "log"]

# HostErrors raised for real host-call failures. Only these keep the host's code when uncaught: a
# script cannot forge a limit or a denial by raising its own.
_from_host = weakref.WeakSet()

# Session event handlers registered with `on`.
_handlers = {}


class HostError(Exception):
    """A host call failed: ``code`` is capsa's error code (``capability_denied``, ``host_error``,
    ``invalid_input``, ...), ``message`` says why."""

    def __init__(self, code, message=""):
        super().__init__(message or code)
        self.code = code
        self.message = message or code


def _utf8(text):
    # Lone surrogates (from file names, say) cannot cross to the host as UTF-8: they become "?".
    return text.encode("utf-8", "replace").decode("utf-8")


def _encode(args):
    return _utf8(json.dumps(args, separators=(",", ":"), ensure_ascii=False, allow_nan=False))


def _call_start(name, args):
    return _host.call_start(_utf8(str(name)), _encode(args))


def _finish(handle):
    try:
        text = _host.call_wait(handle)
    except Err as err:
        try:
            error = json.loads(err.value)
        except ValueError:
            error = {}
        exc = HostError(error.get("code", "host_error"), error.get("message", str(err.value)))
        _from_host.add(exc)
        raise exc from None
    return json.loads(text)


def call(name, args=None):
    """Calls the host function ``name`` with JSON-serialisable ``args`` and returns its JSON result.

    Raises `HostError` when the function is not granted or fails."""
    return _finish(_call_start(name, args))


async def rpc(name, args=None):
    """`call` as a coroutine: calls in flight run concurrently on the host, so
    ``await asyncio.gather(capsa.rpc(...), capsa.rpc(...))`` takes as long as the slowest."""
    handle = _call_start(name, args)
    loop = asyncio.get_running_loop()
    waiter = getattr(loop, "_capsa_wait", None)
    if waiter is None:
        # Some other event loop: wait here, blocking it.
        return _finish(handle)
    return await waiter(handle)


def log(message, level="info"):
    """A structured log line attached to the call's receipt."""
    levels = {"error": 0, "warn": 1, "warning": 1, "info": 2, "debug": 3, "trace": 4}
    _host.log(levels.get(level, 2), _utf8(str(message)))


def on(event):
    """Registers the decorated function as the session's handler of ``event``: a session's
    ``dispatch(event, payload)`` calls it with the payload and returns its result.

    >>> @capsa.on("tick")
    ... def tick(payload):
    ...     return payload["n"] + 1
    """
    if not isinstance(event, str):
        raise TypeError("capsa.on(event): the event name must be a string")

    def register(fn):
        if not callable(fn):
            raise TypeError("capsa.on(event) decorates a function")
        _handlers[event] = fn
        return fn

    return register


class _Kv:
    """The call's granted KV namespace (``--kv``): string keys; values are text or bytes
    (``json.dumps`` anything else)."""

    def get(self, key):
        """The value of ``key`` (a str, or bytes for binary values), or None."""
        answer = call("kv.get", {"key": str(key)})
        if answer is None:
            return None
        if "value" in answer:
            return answer["value"]
        return base64.b64decode(answer["value_base64"])

    def set(self, key, value, ttl_ms=None):
        """Stores ``value`` (str or bytes) under ``key``; ``ttl_ms`` makes it expire."""
        args = {"key": str(key)}
        if isinstance(value, str):
            args["value"] = value
        elif isinstance(value, (bytes, bytearray, memoryview)):
            args["value_base64"] = base64.b64encode(bytes(value)).decode()
        else:
            raise TypeError("kv.set: the value must be str or bytes (json.dumps other values)")
        if ttl_ms is not None:
            args["ttl_ms"] = ttl_ms
        call("kv.set", args)

    def delete(self, key):
        """Deletes ``key``; returns whether it existed."""
        answer = call("kv.delete", {"key": str(key)})
        return bool(answer and answer.get("deleted"))

    def list(self, prefix="", limit=None, cursor=None):
        """A page of keys: ``{"keys": [...], "cursor": ...}``; pass the cursor back for the next."""
        args = {"prefix": str(prefix)}
        if limit is not None:
            args["limit"] = limit
        if cursor is not None:
            args["cursor"] = cursor
        return call("kv.list", args)


kv = _Kv()


class Response:
    """The response of `http.fetch`."""

    def __init__(self, answer):
        self.status = answer.get("status", 0)
        self.headers = dict(answer.get("headers") or {})
        self.url = answer.get("url", "")
        if "body_base64" in answer:
            self.content = base64.b64decode(answer["body_base64"])
        else:
            self.content = (answer.get("body") or "").encode()

    @property
    def ok(self):
        return 200 <= self.status < 300

    def text(self):
        return self.content.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.content)

    def __repr__(self):
        return f"<Response [{self.status}]>"


def _fetch_args(url, method, headers, body):
    args = {"url": url, "method": method.upper(), "headers": dict(headers or {})}
    if isinstance(body, (bytes, bytearray, memoryview)):
        args["body_base64"] = base64.b64encode(bytes(body)).decode()
    elif body is not None:
        args["body"] = body if isinstance(body, str) else json.dumps(body)
    return args


class _Http:
    """Outbound HTTP to the granted hosts (``--allow-host``)."""

    def fetch(self, url, method="GET", headers=None, body=None):
        """Fetches ``url``; ``body`` is text, bytes, or a JSON-serialisable value. Returns a
        `Response`. Raises `HostError` (``capability_denied``) for hosts not granted."""
        return Response(call("http.fetch", _fetch_args(url, method, headers, body)))

    async def fetch_async(self, url, method="GET", headers=None, body=None):
        """`fetch` as a coroutine, for ``asyncio.gather``."""
        return Response(await rpc("http.fetch", _fetch_args(url, method, headers, body)))


http = _Http()
