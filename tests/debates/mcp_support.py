"""What the debate MCP tests share: a crew of agents around a contract, calls of the tools
through the SDK's own client (:mod:`tests.peercode.mcp_support`), and a stand-in for Nimble's
HTTP API that the real Nimble SDK talks to over ``httpx.MockTransport``.

The crew (see :func:`make_crew`): 'ann' holds API-1, which provides the contract AuthAPI;
'bob' holds WEB-1 and 'carl' holds CLI-1, both consuming AuthAPI; 'dave' takes part in no
debate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from debates import search
from projects import services as plan
from projects.models import Agent, Project
from tests.debates.support import debating_project, snapshot
from tests.factories import make_agent, make_contract, make_task
from tests.peercode.mcp_support import content_of, db, error_of

NIMBLE_KEY = "test-key"
AUTH_V1 = "POST /login -> {token}"


@dataclass
class Crew:
    project: Project
    ann: Agent
    ann_token: str
    bob: Agent
    bob_token: str
    carl: Agent
    carl_token: str
    dave: Agent
    dave_token: str


def make_crew() -> Crew:
    project = debating_project()
    ann, ann_token = make_agent(project, "ann")
    bob, bob_token = make_agent(project, "bob")
    carl, carl_token = make_agent(project, "carl")
    dave, dave_token = make_agent(project, "dave")
    make_task(project, "API-1", file_globs=["api/**"])
    make_contract(project, "AuthAPI", owner="API-1", spec=AUTH_V1)
    make_task(project, "WEB-1", consumes=["AuthAPI"], file_globs=["web/**"])
    make_task(project, "CLI-1", consumes=["AuthAPI"], file_globs=["cli/**"])
    for agent, key in ((ann, "API-1"), (bob, "WEB-1"), (carl, "CLI-1")):
        plan.claim_task(agent=agent, task_key=key)
    return Crew(project, ann, ann_token, bob, bob_token, carl, carl_token, dave, dave_token)


async def call(client: Any, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The structured result of a tool call that must succeed."""
    return content_of(await client.call_tool(name, arguments))


async def refusal(client: Any, name: str, arguments: dict[str, Any]) -> str:
    """The text of a tool call that must fail, having written no debate-related row."""
    async with nothing_written():
        return error_of(await client.call_tool(name, arguments))


@asynccontextmanager
async def nothing_written() -> AsyncIterator[None]:
    """Prove that what runs inside wrote no debate, turn, search result, event or delta."""
    before = await db(snapshot)
    yield
    after = await db(snapshot)
    for table, rows in before.items():
        assert after[table] == rows, f"{table} changed"


class NimbleServer:
    """A stand-in for Nimble's HTTP API that records every request the SDK sends and answers
    ``POST /v2/search`` with the results it was given."""

    def __init__(self, results: list[dict[str, Any]]) -> None:
        self.results = results
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method != "POST" or request.url.path != "/v2/search":
            return httpx.Response(404, json={"error": "not found"})
        return httpx.Response(200, json={"results": self.results})

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))


def search_through(monkeypatch: pytest.MonkeyPatch, server: NimbleServer) -> None:
    """Make the search_web tool reach ``server``: the real provider lookup runs with the
    settings as they are, only handed an HTTP client whose transport is ``server``."""
    real: Callable[..., search.SearchProvider] = search.get_provider

    def get_provider(*, http_client: httpx.Client | None = None) -> search.SearchProvider:
        return real(http_client=http_client or server.client())

    monkeypatch.setattr(search, "get_provider", get_provider)


def turn(debate_id: int, key: str, kind: str, rationale: str, **extra: Any) -> dict[str, Any]:
    """debate_turn's arguments."""
    return {
        "debate_id": debate_id,
        "client_key": key,
        "kind": kind,
        "rationale": rationale,
        **extra,
    }
