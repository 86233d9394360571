"""Drives capsa's MCP server with the official MCP client (the `mcp` package) and checks every answer.

    python drive.py stdio CAPSA_BINARY      # spawns `CAPSA_BINARY mcp` and talks over its stdin/stdout
    python drive.py http URL TOKEN          # a running `capsa serve`, at URL (…/mcp) with a bearer token

The scenario: list the tools, run code once (with a file, and a failing script), then a session:
create, exec, write a file, snapshot, fork, exec in both (their state diverges), read the files back
(each sees its own), list them, close both, and see a closed session refused. Exits non-zero with the
first mismatch; the Rust test (crates/capsa-cli/tests/gateway.rs) runs it for both transports.
"""

import base64
import sys

import anyio
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError

TOOLS = {
    "run_code",
    "create_session",
    "exec",
    "write_file",
    "read_file",
    "list_files",
    "snapshot",
    "fork",
    "close_session",
}


class Mismatch(Exception):
    pass


def expect(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")


async def call(session, tool, arguments, *, ok=True):
    """Calls `tool`; checks isError against `ok` and that the text block is there; returns the
    structured content."""
    result = await session.call_tool(tool, arguments)
    text = " ".join(c.text for c in result.content if getattr(c, "type", None) == "text")
    if result.is_error == ok:
        raise Mismatch(f"{tool} {arguments}: isError={result.is_error}, text: {text}")
    if not text:
        raise Mismatch(f"{tool}: no text block in {result}")
    if not isinstance(result.structured_content, dict):
        raise Mismatch(f"{tool}: no structured content in {result}")
    return result.structured_content


async def protocol_error(session, tool, arguments, needle):
    """Calls `tool` with arguments it does not take: must be a protocol error naming `needle`."""
    try:
        result = await session.call_tool(tool, arguments)
    except MCPError as e:
        if needle not in str(e):
            raise Mismatch(f"{tool} {arguments}: error {e!s} does not name {needle!r}")
        return
    raise Mismatch(f"{tool} {arguments}: no protocol error, got {result}")


async def scenario(session):
    await session.initialize()

    tools = await session.list_tools()
    names = {tool.name for tool in tools.tools}
    expect("tools", names, TOOLS)
    for tool in tools.tools:
        if not tool.input_schema.get("properties") and tool.name != "list_files":
            raise Mismatch(f"{tool.name}: no input schema properties: {tool.input_schema}")
        if not tool.description:
            raise Mismatch(f"{tool.name}: no description")

    # Run code once: Python with a file in /work, its print and its last expression.
    ran = await call(
        session,
        "run_code",
        {
            "language": "py",
            "code": "data = open('/work/in/data.txt').read()\nprint('read', len(data))\ndata.upper()",
            "files": [{"path": "in/data.txt", "content": "hello"}],
        },
    )
    expect("run_code outcome", ran["outcome"], "ok")
    expect("run_code result", ran["result"], "HELLO")
    expect("run_code stdout", ran["stdout"], "read 5\n")
    # A script that throws is a tool result with isError, not a protocol error.
    failed = await call(
        session, "run_code", {"language": "js", "code": "throw new TypeError('boom')"}, ok=False
    )
    expect("failing run_code outcome", failed["outcome"], "guest_exception")
    expect("failing run_code error code", failed["error"]["code"], "guest_exception")
    await protocol_error(session, "run_code", {"language": "cobol", "code": "1"}, "cobol")
    await protocol_error(session, "run_code", {"language": "js"}, "code")

    # A session: state kept between execs.
    created = await call(session, "create_session", {"language": "js"})
    a = created["id"]
    expect("session language", created["language"], "js")
    first = await call(session, "exec", {"session": a, "code": "let n = 1; console.log('set'); n"})
    expect("exec result", first["result"], 1)
    expect("exec stdout", first["stdout"], "set\n")
    await call(
        session,
        "write_file",
        {"session": a, "path": "notes.txt", "content": "base"},
    )
    await call(
        session,
        "write_file",
        {"session": a, "path": "bin/blob", "content_base64": base64.b64encode(b"\xff\x00\x01").decode()},
    )

    # Snapshot, fork, and the two diverge.
    snap = await call(session, "snapshot", {"session": a})
    forked = await call(session, "fork", {"snapshot": snap["snapshot"]})
    b = forked["id"]
    if a == b:
        raise Mismatch("the fork has the session's id")
    in_a = await call(session, "exec", {"session": a, "code": "n += 10"})
    in_b = await call(session, "exec", {"session": b, "code": "n += 20"})
    expect("exec in the session after the snapshot", in_a["result"], 11)
    expect("exec in the fork", in_b["result"], 21)
    again = await call(session, "exec", {"session": a, "code": "n"})
    expect("the session does not see the fork's writes", again["result"], 11)

    # Files: the fork starts with the snapshot's; a later write in one is not seen by the other.
    await call(session, "write_file", {"session": a, "path": "notes.txt", "content": "changed in a"})
    read_a = await call(session, "read_file", {"session": a, "path": "notes.txt"})
    read_b = await call(session, "read_file", {"session": b, "path": "notes.txt"})
    expect("file in the session", read_a["content"], "changed in a")
    expect("file in the fork", read_b["content"], "base")
    blob = await call(session, "read_file", {"session": b, "path": "bin/blob"})
    expect("binary file as base64", base64.b64decode(blob["content_base64"]), b"\xff\x00\x01")
    listed = await call(session, "list_files", {"session": b})
    expect(
        "files of the fork",
        sorted((f["path"], f["size"]) for f in listed["files"]),
        [("bin/blob", 3), ("notes.txt", 4)],
    )
    missing = await call(session, "read_file", {"session": b, "path": "nope.txt"}, ok=False)
    expect("missing file", missing["error"]["code"], "not_found")
    await protocol_error(session, "write_file", {"session": a, "path": "x"}, "content")

    # A guest error in a session keeps the session.
    thrown = await call(session, "exec", {"session": a, "code": "null.x"}, ok=False)
    expect("exec error", thrown["outcome"], "guest_exception")
    still = await call(session, "exec", {"session": a, "code": "n"})
    expect("state after an exception", still["result"], 11)

    # Close both; a closed session is gone.
    for id in (a, b):
        await call(session, "close_session", {"session": id})
    gone = await call(session, "exec", {"session": a, "code": "n"}, ok=False)
    expect("exec in a closed session", gone["error"]["code"], "not_found")


async def main(argv):
    if len(argv) == 3 and argv[1] == "stdio":
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(command=argv[2], args=["mcp"])
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await scenario(session)
    elif len(argv) == 4 and argv[1] == "http":
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        headers = {"Authorization": f"Bearer {argv[3]}"}
        async with create_mcp_http_client(headers=headers) as client:
            async with streamable_http_client(argv[2], http_client=client) as (read, write):
                async with ClientSession(read, write) as session:
                    await scenario(session)
    else:
        sys.exit(__doc__)
    print("mcp scenario passed")


if __name__ == "__main__":
    try:
        anyio.run(main, sys.argv)
    except Mismatch as e:
        print(f"mismatch: {e}", file=sys.stderr)
        sys.exit(1)
