"""The /mcp ASGI app: bearer authentication in front of the SDK's Streamable HTTP manager.

Daphne sends no ASGI lifespan events, so the SDK's session manager (whose ``run()`` must
enclose every request) is started by :class:`LazySessionManager` on the first request, in a
long-lived task of the serving event loop. Legacy (2025) clients are served statelessly, so
any PeerCode process can answer any request; 2026-07-28 clients are stateless by design.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from channels.db import database_sync_to_async
from django.conf import settings
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import INVALID_REQUEST

from peercode import ratelimit
from peercode.auth import authenticate_agent_token, parse_bearer
from peercode.errors import DATABASE_RETRY_SECONDS, DATABASE_UNAVAILABLE
from peercode.mcp.server import autodiscover, server

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MCP_PATH = "/mcp"
# Where tools find the authenticated agent: the SDK hands tools the same scope dict.
AGENT_SCOPE_KEY = "peercode.agent"


def transport_security() -> TransportSecuritySettings:
    """Host and Origin checks that mirror Django's ALLOWED_HOSTS (and CSRF_TRUSTED_ORIGINS)."""
    hosts = [host.lstrip(".") for host in settings.ALLOWED_HOSTS]
    if "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    allowed_hosts: list[str] = []
    allowed_origins: list[str] = list(settings.CSRF_TRUSTED_ORIGINS)
    for host in hosts:
        allowed_hosts += [host, f"{host}:*"]
        for scheme in ("http", "https"):
            allowed_origins += [f"{scheme}://{host}", f"{scheme}://{host}:*"]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=allowed_hosts,
        allowed_origins=allowed_origins,
    )


def new_session_manager() -> StreamableHTTPSessionManager:
    # streamable_http_app() builds a fresh manager (each may run() only once); the Starlette
    # app it returns is not used: requests go straight to the manager.
    server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=False,  # SSE stays allowed so progress notifications reach clients
        transport_security=transport_security(),
    )
    return server.session_manager


class LazySessionManager:
    """Runs the session manager in a task started by the first request on each event loop.

    A manager's task group belongs to one loop, so a new loop (tests create them) gets a new
    manager. The check-and-create step has no ``await``: concurrent first requests on one loop
    share one manager.
    """

    def __init__(self, factory: Callable[[], StreamableHTTPSessionManager]) -> None:
        self.factory = factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._manager: StreamableHTTPSessionManager | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self, manager: StreamableHTTPSessionManager, ready: asyncio.Event) -> None:
        try:
            async with manager.run():
                ready.set()
                await asyncio.Event().wait()  # until the loop ends and cancels us
        finally:
            ready.set()

    async def manager(self) -> StreamableHTTPSessionManager:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop = loop
            self._manager = self.factory()
            self._ready = asyncio.Event()
            self._task = loop.create_task(
                self._run(self._manager, self._ready), name="peercode-mcp-sessions"
            )
        await self._ready.wait()
        if self._task.done():
            raise RuntimeError("The MCP session manager stopped; see the log for why.")
        assert self._manager is not None
        return self._manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = await self.manager()
        await manager.handle_request(scope, receive, send)


async def send_json(
    send: Send, status: int, payload: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


UNAUTHORIZED = (
    "PeerCode needs an agent token: send 'Authorization: Bearer <token>'. A human creates one "
    "with 'python manage.py agent create --project SLUG NAME' (or in the admin), which also "
    "prints a ready-to-paste MCP client configuration."
)


# JSON-RPC error codes of our own (the -32000..-32099 server range); the HTTP status says the
# same to clients that look at it.
UNAUTHORIZED_CODE = -32001
RATE_LIMITED_CODE = -32029
UNAVAILABLE_CODE = -32053
DATABASE_UNAVAILABLE_MESSAGE = (
    f"PeerCode cannot reach its database right now. Retry in {DATABASE_RETRY_SECONDS} "
    "seconds; tell a human if it keeps happening."
)


async def send_error(
    send: Send,
    status: int,
    code: int,
    message: str,
    headers: list[tuple[bytes, bytes]],
    data: dict[str, Any] | None = None,
) -> None:
    """A JSON-RPC error (id null: the request is refused before it is read) at an HTTP status."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    await send_json(send, status, {"jsonrpc": "2.0", "id": None, "error": error}, headers)


class PostOnly:
    """405 for anything but POST. Served statelessly, the endpoint never has anything to send
    on a GET stream (which would stay open forever) nor a session to DELETE; the specification
    lets a server answer both with 405."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await send_error(
                send,
                405,
                INVALID_REQUEST,
                f"{scope['method']} is not supported on /mcp: PeerCode serves MCP statelessly, "
                "so there is no event stream to GET and no session to DELETE. Send each "
                "JSON-RPC message as a POST.",
                [(b"allow", b"POST")],
            )
            return
        await self.app(scope, receive, send)


class AgentAuthentication:
    """401 with a JSON-RPC error body unless the request carries a known agent token; 503 with
    Retry-After when the database that knows the tokens cannot be reached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or [])
        token = parse_bearer(headers.get(b"authorization"))
        try:
            agent = await database_sync_to_async(authenticate_agent_token)(token) if token else None
        except DATABASE_UNAVAILABLE:
            logger.warning("MCP request refused: the database is unavailable", exc_info=True)
            await send_error(
                send,
                503,
                UNAVAILABLE_CODE,
                DATABASE_UNAVAILABLE_MESSAGE,
                [(b"retry-after", str(DATABASE_RETRY_SECONDS).encode())],
            )
            return
        if agent is None:
            message = (
                UNAUTHORIZED
                if token is None
                else "Unknown or revoked agent token. " + (UNAUTHORIZED)
            )
            await send_error(
                send,
                401,
                UNAUTHORIZED_CODE,
                message,
                [(b"www-authenticate", b'Bearer realm="peercode"')],
            )
            return
        scope[AGENT_SCOPE_KEY] = agent
        await self.app(scope, receive, send)


class AgentRateLimit:
    """429 with Retry-After and a JSON-RPC error once an agent is over its MCP request limit.

    Refused at the HTTP level, not as a tool error: it covers every message (initialize,
    tools/list, notifications) and not only tool calls, it costs no tool work, HTTP clients and
    proxies understand Retry-After, and the SDK client surfaces the JSON-RPC error body (with
    the message saying when to retry) where a tool error would read as a failed tool the
    model might try to "fix" by changing its arguments.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = await ratelimit.atake(scope[AGENT_SCOPE_KEY].token_hash, "mcp")
        if refusal is not None:
            await send_error(
                send,
                429,
                RATE_LIMITED_CODE,
                ratelimit.refusal_message(refusal),
                [(b"retry-after", str(refusal.retry_after).encode())],
                data=asdict(refusal),
            )
            return
        await self.app(scope, receive, send)


class McpRouter:
    """/mcp goes to the MCP app; everything else to Django.

    Each MCP request gets its own thread-sensitive context, as Django gives each request, so
    the database calls of concurrent requests run in parallel threads, not one shared thread.
    """

    def __init__(self, mcp_app: ASGIApp, django_app: ASGIApp) -> None:
        self.mcp_app = mcp_app
        self.django_app = django_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == MCP_PATH:
            async with ThreadSensitiveContext():
                await self.mcp_app(scope, receive, send)
        else:
            await self.django_app(scope, receive, send)


def with_mcp(django_app: Any) -> ASGIApp:
    """Django's HTTP app with the MCP endpoint mounted at /mcp beside it, every app's tools
    registered (``<app>/mcp.py``) before it serves a request."""
    autodiscover()
    sessions = LazySessionManager(new_session_manager)
    return McpRouter(PostOnly(AgentAuthentication(AgentRateLimit(sessions))), django_app)
