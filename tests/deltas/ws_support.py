"""What the WebSocket tests share: a team of agents, a logged-in human, and clients that talk
to the whole ASGI application as a browser or an agent would.

The fixtures built on these live in each test module (``team``, ``session_cookie`` and the
autouse ``own_channel_layer``), a few lines each.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from peercode.asgi import application
from projects import services as plan
from projects.models import Agent, Project, Role
from projects.services.members import set_member_role
from tests.factories import SYSTEM, make_agent, make_contract, make_project, make_task, make_user

TIMEOUT = 10
ORIGIN = "http://testserver"


def use_own_channel_layer(settings: Any) -> None:
    """A fresh channel layer for the test; on Redis under a key prefix no other run shares."""
    layer = dict(settings.CHANNEL_LAYERS["default"])
    if "redis" in layer["BACKEND"].lower():
        prefix = f"pc-test-consumers-{uuid.uuid4().hex[:12]}"
        layer["CONFIG"] = {**layer.get("CONFIG", {}), "prefix": prefix}
    settings.CHANNEL_LAYERS = {"default": layer}


@dataclass
class Team:
    project: Project
    alice: Agent  # on T1, which consumes AuthAPI
    alice_token: str
    bob: Agent  # on T2, which provides AuthAPI
    bob_token: str


def agent_on(project: Project, name: str, key: str, **task: Any) -> tuple[Agent, str]:
    agent, token = make_agent(project, name)
    make_task(project, key, **task)
    plan.claim_task(agent=agent, task_key=key)
    return agent, token


def make_team() -> Team:
    project = make_project(slug="ws")
    bob, bob_token = agent_on(project, "bob", "T2")
    make_contract(project, "AuthAPI", owner="T2")
    alice, alice_token = agent_on(project, "alice", "T1", consumes=["AuthAPI"])
    return Team(project, alice, alice_token, bob, bob_token)


def viewer_cookie(project: Project) -> str:
    """The cookie header of a logged-in dashboard user who may view ``project``."""
    user = make_user(username="watcher", staff=False)
    set_member_role(project=project, user=user, role=Role.VIEWER, actor=SYSTEM)
    client = Client()
    client.force_login(user)
    name = django_settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


def communicator(
    slug: str,
    query: str = "",
    *,
    token: str | None = None,
    cookie: str | None = None,
    origin: str | None = ORIGIN,
    path: str | None = None,
) -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode())] if origin else []
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(
        application, path or f"/ws/projects/{slug}/{query}", headers=headers
    )


@asynccontextmanager
async def subscribed(slug: str, query: str = "", **auth: Any) -> AsyncIterator[Any]:
    comm = communicator(slug, query, **auth)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    try:
        yield comm
    finally:
        await comm.disconnect(timeout=TIMEOUT)


async def next_frame(comm: WebsocketCommunicator) -> dict[str, Any]:
    return await comm.receive_json_from(timeout=TIMEOUT)


async def replayed(comm: WebsocketCommunicator) -> tuple[list[dict[str, Any]], int]:
    """The deltas replayed on connect, and the head announced by ``replay_done``."""
    deltas = []
    while (frame := await next_frame(comm))["type"] == "delta":
        deltas.append(frame["delta"])
    assert frame["type"] == "replay_done", frame
    return deltas, frame["head"]


async def assert_nothing_else_sent(comm: WebsocketCommunicator) -> None:
    await comm.send_json_to({"type": "ping"})
    assert await next_frame(comm) == {"type": "pong"}


async def closing(comm: WebsocketCommunicator) -> tuple[dict[str, Any], int]:
    """The error frame an open connection gets before the server closes it, and the code."""
    frame = await next_frame(comm)
    closed = await comm.receive_output(timeout=TIMEOUT)
    assert closed["type"] == "websocket.close", closed
    return frame, closed["code"]


async def refusal(comm: WebsocketCommunicator) -> tuple[dict[str, Any], int]:
    """The error frame a refused connection gets after being accepted, and its close code."""
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    frame, code = await closing(comm)
    await comm.disconnect(timeout=TIMEOUT)
    return frame, code
