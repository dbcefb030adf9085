"""The MCP endpoint served by a real Daphne process over real HTTP, and its SIGTERM exit.

Like ``test_serve.py``, the server runs on the embedded defaults (SQLite in a temporary data
directory) whatever DATABASE_URL the suite itself uses.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.test_serve import ROOT, SERVICE_VARS, free_port, manage

MODES = ("legacy", "2026-07-28")
EXIT_WITHIN_SECONDS = 5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def mcp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    env["PEERCODE_DATA_DIR"] = str(tmp_path_factory.mktemp("mcp-daphne-data"))
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "demo", "load")
    agent = manage(env, "agent", "create", "--project", "demo", "mcp-e2e-agent")
    token = re.search(r"\b(pc_[A-Za-z0-9_-]+)", agent)
    assert token, agent
    port = free_port()
    log = tmp_path_factory.mktemp("mcp-daphne-log") / "daphne.log"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "peercode.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        # A file, not a pipe: a pipe nobody reads fills up and stalls the server.
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None, log.read_text()
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("Daphne did not start listening within 60 s")
    yield {
        "url": f"http://127.0.0.1:{port}/mcp",
        "token": token.group(1),
        "process": server,
        "log": log,
    }
    if server.poll() is None:
        server.kill()
        server.wait(timeout=10)


def connect(url: str, token: str, mode: str) -> Client:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return Client(streamable_http_client(url, http_client=http), mode=mode)


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_an_agent_claims_and_finishes_a_task_over_real_http(mcp_server, mode):
    async with connect(mcp_server["url"], mcp_server["token"], mode) as client:
        me = await client.call_tool("whoami", {})
        assert not me.is_error, me.content
        assert me.structured_content["agent"]["name"] == "mcp-e2e-agent"
        assert me.structured_content["project"]["slug"] == "demo"

        plan = await client.call_tool("get_plan", {})
        assert not plan.is_error, plan.content
        # Each mode finishes the first ready task, which makes its dependents ready for the next.
        assert plan.structured_content["ready"], plan.structured_content
        key = plan.structured_content["ready"][0]

        claimed = await client.call_tool("claim_task", {"key": key})
        assert not claimed.is_error, claimed.content
        assert claimed.structured_content["status"] == "in_progress"
        assert claimed.structured_content["assignee"] == "mcp-e2e-agent"

        for status in ("review", "done"):
            moved = await client.call_tool(
                "update_task", {"key": key, "status": status, "note": f"e2e over {mode}"}
            )
            assert not moved.is_error, moved.content
            assert moved.structured_content["status"] == status

        refused = await client.call_tool("update_task", {"key": key, "status": "in_progress"})
        assert refused.is_error
        assert "cannot go from done to in_progress" in refused.content[0].text

        me = await client.call_tool("whoami", {})
        assert [t["status"] for t in me.structured_content["my_tasks"] if t["key"] == key] == [
            "done"
        ]


def exited_within(process: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return False
    return True


async def call_until_the_server_goes(
    url: str, token: str, mode: str, answered: list[Any], connected: anyio.Event
) -> None:
    # How the calls in flight end is up to the race with the signal: only the exit is asserted.
    with contextlib.suppress(Exception):
        async with connect(url, token, mode) as client:
            answered.append(await client.call_tool("whoami", {}))
            if len(answered) == len(MODES):
                connected.set()
            while True:
                await client.call_tool("get_plan", {})


@pytest.mark.anyio
async def test_daphne_exits_promptly_on_sigterm_with_mcp_calls_in_flight(mcp_server):
    """Runs last in this module: it stops the shared server.

    A client in each mode stays connected (keep-alive connections to Daphne) and keeps reading
    the plan when the signal arrives; none of it may hold the process up.
    """
    process = mcp_server["process"]
    answered: list[Any] = []
    connected = anyio.Event()
    async with anyio.create_task_group() as group:
        for mode in MODES:
            group.start_soon(
                call_until_the_server_goes,
                mcp_server["url"],
                mcp_server["token"],
                mode,
                answered,
                connected,
            )
        with anyio.fail_after(30):
            await connected.wait()
        await anyio.sleep(0.3)  # a few plan reads later, one is in flight in each mode
        process.send_signal(signal.SIGTERM)
        exited = await anyio.to_thread.run_sync(exited_within, process, EXIT_WITHIN_SECONDS)
        if not exited:
            process.kill()
        group.cancel_scope.cancel()
    assert [result.is_error for result in answered] == [False, False]
    stderr = mcp_server["log"].read_text()
    assert exited, f"Daphne was still running {EXIT_WITHIN_SECONDS} s after SIGTERM:\n{stderr}"
    assert "Traceback" not in stderr, stderr
