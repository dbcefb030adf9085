"""Two Daphne processes sharing PostgreSQL and Redis, as in production behind a proxy.

Deltas pushed over REST through one process reach an agent subscribed over WebSocket on the
other, through the Redis channel layer, in order and without a gap; an agent that reconnects
with ``since`` receives exactly what it missed, never twice. Both processes use the test
database (the tests commit their data: ``transaction=True``) and the suite's REDIS_URL.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from django.db import connection
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from tests.e2e.test_serve import ROOT, free_port
from tests.factories import make_agent, make_project

DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")

pytestmark = [
    pytest.mark.skipif(
        not (DATABASE_URL.startswith(("postgres://", "postgresql://")) and REDIS_URL),
        reason="needs DATABASE_URL=postgres://... and REDIS_URL=redis://...: the two Daphne "
        "processes share PostgreSQL and the Redis channel layer",
    ),
    pytest.mark.anyio,
    pytest.mark.django_db(transaction=True),
]

TIMEOUT = 15.0
DAPHNE_APP = "peercode.asgi:application"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Daphne:
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws(self, slug: str, query: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/ws/projects/{slug}/{query}"


def database_url_of_the_tests() -> str:
    """The URL of the database the tests run against (pytest-django's test database)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{db['NAME']}"


def start_daphne(env: dict[str, str], log: Path) -> Daphne:
    port = free_port()
    with log.open("wb") as stderr:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), DAPHNE_APP],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    return Daphne(port=port, process=process, log=log)


def wait_until_listening(daphne: Daphne) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", daphne.port), timeout=1).close()
            return
        except OSError:
            assert daphne.process.poll() is None, daphne.log.read_text()
            time.sleep(0.2)
    pytest.fail(f"Daphne did not listen on {daphne.port} within 60 s:\n{daphne.log.read_text()}")


@pytest.fixture(scope="module")
def daphnes(
    django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Daphne, Daphne]]:
    workdir = tmp_path_factory.mktemp("two-daphnes")
    env = dict(os.environ, DATABASE_URL=database_url_of_the_tests(), PEERCODE_DATA_DIR=str(workdir))
    pair = (start_daphne(env, workdir / "a.log"), start_daphne(env, workdir / "b.log"))
    try:
        for daphne in pair:
            wait_until_listening(daphne)
        yield pair
    finally:
        for daphne in pair:
            daphne.process.terminate()
        for daphne in pair:
            try:
                daphne.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                daphne.process.kill()
                daphne.process.wait(timeout=10)
    for daphne in pair:
        assert "Traceback" not in daphne.log.read_text(), daphne.log.read_text()


@dataclass
class Team:
    slug: str
    listener_token: str
    pusher_tokens: tuple[str, str]


@pytest.fixture
def team(transactional_db: None) -> Team:
    project = make_project(slug="two-daphnes")
    _, listener = make_agent(project, "listener")
    _, first = make_agent(project, "pusher-a")
    _, second = make_agent(project, "pusher-b")
    return Team(slug=project.slug, listener_token=listener, pusher_tokens=(first, second))


def subscribe(daphne: Daphne, slug: str, token: str, query: str = "") -> Any:
    return connect(
        daphne.ws(slug, query),
        additional_headers={"Authorization": f"Bearer {token}"},
        # Daphne's stack checks Origin against ALLOWED_HOSTS (see peercode/asgi.py).
        origin=Origin(f"http://127.0.0.1:{daphne.port}"),
        open_timeout=TIMEOUT,
    )


async def next_frame(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def replayed(ws: ClientConnection) -> tuple[list[dict[str, Any]], int]:
    deltas = []
    while (frame := await next_frame(ws))["type"] == "delta":
        deltas.append(frame["delta"])
    assert frame["type"] == "replay_done", frame
    return deltas, frame["head"]


async def push_over_rest(daphne: Daphne, slug: str, token: str, summaries: list[str]) -> None:
    async with httpx2.AsyncClient(
        base_url=daphne.http, headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
    ) as http:
        for summary in summaries:
            response = await http.post(
                f"/api/v1/projects/{slug}/deltas/", json={"kind": "discovery", "summary": summary}
            )
            assert response.status_code == 201, response.text


async def test_an_agent_on_one_process_receives_in_order_what_is_pushed_through_the_other(
    daphnes, team
):
    a, b = daphnes
    summaries = [f"found thing {n}" for n in range(1, 21)]
    async with subscribe(a, team.slug, team.listener_token, "?since=0") as ws:
        assert await replayed(ws) == ([], 0)
        await push_over_rest(b, team.slug, team.pusher_tokens[0], summaries)
        deltas = [(await next_frame(ws))["delta"] for _ in summaries]
    assert [d["seq"] for d in deltas] == list(range(1, 21))
    assert [d["summary"] for d in deltas] == summaries
    assert {d["author"] for d in deltas} == {"agent:pusher-a"}


async def test_pushes_through_both_processes_at_once_arrive_as_one_gapless_sequence(daphnes, team):
    a, b = daphnes
    via_a = [f"from a {n}" for n in range(15)]
    via_b = [f"from b {n}" for n in range(15)]
    async with subscribe(a, team.slug, team.listener_token, "?since=0") as ws:
        await replayed(ws)
        await asyncio.gather(
            push_over_rest(a, team.slug, team.pusher_tokens[0], via_a),
            push_over_rest(b, team.slug, team.pusher_tokens[1], via_b),
        )
        deltas = [(await next_frame(ws))["delta"] for _ in range(30)]
        await ws.send(json.dumps({"type": "ping"}))
        assert await next_frame(ws) == {"type": "pong"}
    assert [d["seq"] for d in deltas] == list(range(1, 31))
    summaries = [d["summary"] for d in deltas]
    # Each pusher's own deltas keep the order it pushed them in.
    assert [s for s in summaries if s.startswith("from a")] == via_a
    assert [s for s in summaries if s.startswith("from b")] == via_b


async def test_an_agent_that_reconnects_with_since_gets_exactly_what_it_missed(daphnes, team):
    a, b = daphnes
    pusher = team.pusher_tokens[0]
    async with subscribe(a, team.slug, team.listener_token, "?since=0") as ws:
        await replayed(ws)
        await push_over_rest(b, team.slug, pusher, [f"before {n}" for n in range(1, 6)])
        seen = [(await next_frame(ws))["delta"]["seq"] for _ in range(5)]
    assert seen == [1, 2, 3, 4, 5]

    await push_over_rest(b, team.slug, pusher, [f"while away {n}" for n in range(6, 11)])

    async with subscribe(a, team.slug, team.listener_token, f"?since={seen[-1]}") as ws:
        missed, head = await replayed(ws)
        await push_over_rest(b, team.slug, pusher, ["after"])
        live = (await next_frame(ws))["delta"]
        # Frames are answered in order: a pong next means nothing else (no repeat) was sent.
        await ws.send(json.dumps({"type": "ping"}))
        assert await next_frame(ws) == {"type": "pong"}
    assert [(d["seq"], d["summary"]) for d in missed] == [
        (n, f"while away {n}") for n in range(6, 11)
    ]
    assert head == 10
    assert (live["seq"], live["summary"]) == (11, "after")
