"""What the MCP endpoint tests share: the SDK's own client on the whole ASGI application.

The client is ``mcp.client.Client`` over ``streamable_http_client``, talking through
``httpx2.ASGITransport`` to ``peercode.asgi.application``: the Channels router, agent
authentication, the SDK's Host/Origin checks and session manager, the tools and Django, with
nothing served on a port.

Tools run ORM code in worker threads with their own database connections, so every test that
calls one needs ``django_db(transaction=True)`` (a test transaction would hide its rows from
them). Django refuses ORM calls on the event loop, so async tests reach the database through
:func:`db`; sync fixtures build the data with ``tests.factories`` before the loop starts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2
from channels.db import database_sync_to_async
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent

from projects import services
from projects.models import Agent, Project
from tests.factories import SYSTEM, make_agent, make_contract, make_project, make_task
from tests.projects.api_support import snapshot

T = TypeVar("T")

MODES = ("auto", "legacy", "2026-07-28")
# The Host must be one ALLOWED_HOSTS lets through the SDK's DNS-rebinding check.
BASE_URL = "http://127.0.0.1:8000"
MCP_URL = BASE_URL + "/mcp"
# What a Streamable HTTP client must send in Accept on every POST.
ACCEPT = "application/json, text/event-stream"
TOOLS = (
    "whoami",
    "get_plan",
    "get_task",
    "claim_task",
    "update_task",
    "get_contract",
    "decompose_project",
)
# What every 401 tells the caller to do.
HOW_TO_GET_A_TOKEN = "python manage.py agent create --project SLUG NAME"


@dataclass
class Team:
    """A project with a small plan and two agents, each with its token."""

    project: Project
    agent: Agent
    token: str
    peer: Agent
    peer_token: str


def make_team(slug: str) -> Team:
    """Phase 1 has two ready tasks whose globs overlap; phase 2 waits for P1-T1 and consumes
    its contract AuthAPI, which has two versions."""
    project = make_project(slug=slug, name=slug.title())
    make_task(project, "P1-T1", file_globs=["app/models.py"], estimate=2)
    make_task(project, "P1-T2", file_globs=["app/**"])
    contract = make_contract(project, "AuthAPI", owner="P1-T1", spec="POST /login")
    services.publish_contract_version(
        contract=contract, spec="POST /v2/login", rationale="versioned path", actor=SYSTEM
    )
    make_task(
        project, "P2-T1", phase=2, depends_on=["P1-T1"], consumes=["AuthAPI"], file_globs=["api/**"]
    )
    agent, token = make_agent(project, "bot")
    peer, peer_token = make_agent(project, "peer")
    return Team(project=project, agent=agent, token=token, peer=peer, peer_token=peer_token)


def make_other_team(slug: str) -> Team:
    """A project with one task, B1-T1, and agents named like :func:`make_team`'s."""
    project = make_project(slug=slug, name=slug.title())
    make_task(project, "B1-T1")
    agent, token = make_agent(project, "bot")
    peer, peer_token = make_agent(project, "peer")
    return Team(project=project, agent=agent, token=token, peer=peer, peer_token=peer_token)


def http_client(token: str | None, headers: Mapping[str, str] | None = None) -> httpx2.AsyncClient:
    """An HTTP client for the ASGI application, sending ``token`` as a bearer token."""
    # Imported here: building the application sets Django up and loads every app and the SDK.
    from peercode.asgi import application

    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=application),
        base_url=BASE_URL,
        headers=all_headers,
        timeout=httpx2.Timeout(30.0),
    )


@asynccontextmanager
async def connect(
    token: str | None, mode: str, headers: Mapping[str, str] | None = None
) -> AsyncIterator[Client]:
    """A connected MCP client for one agent's token, in one client mode."""
    async with (
        http_client(token, headers) as transport_client,
        Client(streamable_http_client(MCP_URL, http_client=transport_client), mode=mode) as client,
    ):
        yield client


async def raw_post(
    body: dict[str, Any], *, token: str | None, headers: Mapping[str, str] | None = None
) -> httpx2.Response:
    """One JSON-RPC POST to /mcp, as a client without the SDK sends it."""
    async with http_client(token) as transport_client:
        return await transport_client.post(
            "/mcp", json=body, headers={"Accept": ACCEPT, **(headers or {})}
        )


def initialize_request() -> dict[str, Any]:
    """The first message of a 2025 session: what most agents send first."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw-http-test", "version": "0"},
        },
    }


def tool_call(name: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A 2026-07-28 tools/call as it goes over the wire: the body and its routing headers."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": name,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": name}
    return body, headers


# A call of each tool that would read or change something if it were let through.
CALL_OF_EACH_TOOL: dict[str, dict[str, Any]] = {
    "whoami": {},
    "get_plan": {},
    "get_task": {"key": "P1-T1"},
    "claim_task": {"key": "P1-T1"},
    "update_task": {"key": "P1-T1", "status": "blocked"},
    "get_contract": {"name": "AuthAPI"},
    "decompose_project": {"description": "A todo app."},
}


def text_of(result: CallToolResult) -> str:
    return "\n".join(part.text for part in result.content if isinstance(part, TextContent))


def content_of(result: CallToolResult) -> dict[str, Any]:
    """The structured content of a successful call (failing with the error text otherwise)."""
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


def error_of(result: CallToolResult) -> str:
    """The text of an ``isError`` result, after checking it carries no structured content."""
    assert result.is_error, result.structured_content
    assert result.structured_content is None
    text = text_of(result)
    assert "Traceback" not in text
    return text


def mcp_error_in(error: BaseException) -> MCPError:
    """The ``MCPError`` the client raised, unwrapped from its task groups' exception groups."""
    if isinstance(error, MCPError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            try:
                return mcp_error_in(inner)
            except AssertionError:
                continue
    raise AssertionError(f"no MCPError in {error!r}")


async def db(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ORM code from an async test, in a worker thread as the tools do."""
    return await database_sync_to_async(function)(*args, **kwargs)


@asynccontextmanager
async def unchanged() -> AsyncIterator[None]:
    """Prove that what runs inside wrote nothing (see ``tests.projects.api_support``)."""
    before = await db(snapshot)
    yield
    after = await db(snapshot)
    for table, rows in before.items():
        assert after[table] == rows, f"{table} changed"
