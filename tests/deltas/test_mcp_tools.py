"""MCP tools for context deltas: push_delta, get_updates, ack_updates, wait_for_updates; and
the coupling guard on claim_task. Through the SDK's own client over the whole ASGI app, in the
legacy (2025 handshake) and 2026-07-28 (stateless) modes.

The crew (see :func:`make_crew`): 'owner' holds API-1, which provides the contract AuthAPI;
'web' holds WEB-1, which consumes AuthAPI (WEB-2, also a consumer, is ready); 'docs' holds
nothing; DOC-1 is ready.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from deltas import selectors
from deltas.models import AgentCursor, Delta, DeltaKind, DeltaStream
from peercode.events.models import Event
from projects import services as plan
from projects.models import Agent, ContractVersion, CouplingGuard, Project, Task, TaskStatus
from tests.deltas.factories import push, set_coupling_guard
from tests.factories import make_agent, make_contract, make_project, make_task
from tests.peercode.mcp_support import BASE_URL, MCP_URL, connect, content_of, db, error_of
from tests.projects.api_support import snapshot

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

DELTA_TOOLS = ("push_delta", "get_updates", "ack_updates", "wait_for_updates")
# A bound on how long a test waits for something that should happen; not a timing assertion.
PATIENCE = 60


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=("legacy", "2026-07-28"))
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@dataclass
class Crew:
    project: Project
    owner: Agent
    owner_token: str
    web: Agent
    web_token: str
    docs: Agent
    docs_token: str


def make_crew() -> Crew:
    project = make_project(slug="alpha", name="Alpha")
    owner, owner_token = make_agent(project, "owner")
    make_task(project, "API-1", file_globs=["api/**"])
    plan.claim_task(agent=owner, task_key="API-1")
    make_contract(project, "AuthAPI", owner="API-1", spec="POST /login")
    web, web_token = make_agent(project, "web")
    make_task(project, "WEB-1", consumes=["AuthAPI"], file_globs=["web/**"])
    make_task(project, "WEB-2", consumes=["AuthAPI"], file_globs=["web/admin/**"])
    plan.claim_task(agent=web, task_key="WEB-1")
    make_task(project, "DOC-1", file_globs=["docs/**"])
    docs, docs_token = make_agent(project, "docs")
    return Crew(project, owner, owner_token, web, web_token, docs, docs_token)


@pytest.fixture
def crew(transactional_db: None) -> Crew:
    return make_crew()


def delta_snapshot() -> dict[str, Any]:
    return {
        **snapshot(),
        "deltas": list(Delta.objects.order_by("pk").values()),
        "streams": list(DeltaStream.objects.order_by("pk").values()),
        "cursors": list(AgentCursor.objects.order_by("pk").values()),
    }


@asynccontextmanager
async def unchanged() -> AsyncIterator[None]:
    """Prove that what runs inside wrote nothing, deltas and cursors included."""
    before = await db(delta_snapshot)
    yield
    after = await db(delta_snapshot)
    for table, rows in before.items():
        assert after[table] == rows, f"{table} changed"


def wire_shape(seq: int, agent: Agent | None = None) -> dict[str, Any]:
    """What selectors.as_dict says delta ``seq`` looks like (for ``agent``, if given)."""
    delta = Delta.objects.select_related("contract_version").get(seq=seq)
    return selectors.as_dict(delta, selectors.interest_of(agent) if agent else None)


def publish_breaking_change(crew: Crew) -> int:
    """The owner publishes AuthAPI v2, which WEB-1 and WEB-2 consume."""
    result = push(
        crew.project,
        crew.owner,
        kind="contract_change",
        summary="login returns a refresh token",
        contracts=["AuthAPI"],
        spec="POST /login -> {access, refresh}",
    )
    return result.delta.seq


class StreamingASGITransport(httpx2.AsyncBaseTransport):
    """Like ``httpx2.ASGITransport``, but hands the response over as the app sends it.

    ``httpx2.ASGITransport`` returns a response only once the app has finished it, so the SSE
    events of a running tool (its progress notifications) would all arrive at the end. Tests
    that act while a tool is still running use this transport instead.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = b"".join([chunk async for chunk in request.stream])  # type: ignore[union-attr]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for (k, v) in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": ("127.0.0.1", 123),
            "root_path": "",
        }
        started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = asyncio.Future()
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        hung_up = asyncio.Event()
        body_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await hung_up.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.set_result((message["status"], message.get("headers", [])))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    chunks.put_nowait(message["body"])
                if not message.get("more_body"):
                    chunks.put_nowait(None)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                raise
            finally:
                chunks.put_nowait(None)

        app_task = asyncio.create_task(run())
        status, headers = await started

        class Body(httpx2.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                while (chunk := await chunks.get()) is not None:
                    yield chunk

            async def aclose(self) -> None:
                hung_up.set()
                if not app_task.done():
                    app_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await app_task

        return httpx2.Response(status, headers=headers, stream=Body())


@asynccontextmanager
async def connect_streaming(token: str, mode: str) -> AsyncIterator[Client]:
    """:func:`mcp_support.connect`, with responses streamed as the server sends them."""
    from peercode.asgi import application

    async with (
        httpx2.AsyncClient(
            transport=StreamingASGITransport(application),
            base_url=BASE_URL,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx2.Timeout(30.0, read=None),
        ) as transport_client,
        Client(streamable_http_client(MCP_URL, http_client=transport_client), mode=mode) as client,
    ):
        yield client


class Progress:
    """Collects a call's progress notifications; ``heard`` is set by the first one."""

    def __init__(self) -> None:
        self.notes: list[tuple[float, float | None, str | None]] = []
        self.heard = asyncio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.notes.append((progress, total, message))
        self.heard.set()


class TestToolList:
    async def test_the_delta_tools_are_listed_with_honest_annotations(
        self, crew: Crew, mode: str
    ) -> None:
        async with connect(crew.web_token, mode) as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}

        for name in DELTA_TOOLS:
            tool = tools[name]
            assert tool.title, name
            assert tool.description, name
            assert len(tool.description) > 200, name
            assert tool.output_schema is not None
            assert tool.output_schema["type"] == "object"
            assert "project" not in tool.input_schema.get("properties", {}), name
        hints = {name: tools[name].annotations for name in (*DELTA_TOOLS, "claim_task")}
        assert all(hint is not None for hint in hints.values())
        readonly = {name: hint.read_only_hint for name, hint in hints.items() if hint}
        assert readonly == {
            "push_delta": False,
            "get_updates": True,
            "ack_updates": False,
            "wait_for_updates": True,
            "claim_task": False,
        }
        assert all(hint.destructive_hint is False for hint in hints.values() if hint)
        assert all(hint.open_world_hint is False for hint in hints.values() if hint)
        ack, push_hint = hints["ack_updates"], hints["push_delta"]
        assert ack is not None
        assert ack.idempotent_hint is True
        assert push_hint is not None
        assert push_hint.idempotent_hint is False

    async def test_the_kinds_offered_are_the_models_but_the_servers_own(self, crew: Crew) -> None:
        async with connect(crew.web_token, "2026-07-28") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        schema = tools["push_delta"].input_schema
        # 'debate' deltas are sent by the server as debates move on, never pushed by agents.
        assert set(schema["properties"]["kind"]["enum"]) == set(DeltaKind.values) - {"debate"}
        assert schema["required"] == ["kind", "summary"]
        assert tools["wait_for_updates"].input_schema["required"] == ["since"]


class TestPushDelta:
    async def test_a_push_is_stored_numbered_and_returned_in_the_one_wire_shape(
        self, crew: Crew, mode: str
    ) -> None:
        async with connect(crew.web_token, mode) as client:
            result = content_of(
                await client.call_tool(
                    "push_delta",
                    {
                        "kind": "discovery",
                        "summary": "Sessions expire after 15 min",
                        "body": "Seen in **staging**.",
                        "tasks": ["WEB-1"],
                        "paths": ["web/session.py"],
                    },
                )
            )

        assert result["delta"] == await db(wire_shape, 1)
        assert result["delta"]["author"] == "agent:web"
        assert result["folded"] is False
        assert result["published_version"] is None
        assert result["message"] == "Pushed as #1."
        event = await db(Event.objects.get, type="delta.pushed")
        assert (event.actor, event.subject) == ("agent:web", "delta:1")

    async def test_the_owner_publishes_a_version_and_others_only_propose(
        self, crew: Crew, mode: str
    ) -> None:
        change = {"kind": "contract_change", "contracts": ["AuthAPI"]}
        async with connect(crew.owner_token, mode) as owner:
            published = content_of(
                await owner.call_tool(
                    "push_delta",
                    {**change, "summary": "refresh tokens", "spec": "POST /login -> tokens"},
                )
            )
        async with connect(crew.web_token, mode) as web:
            proposed = content_of(
                await web.call_tool(
                    "push_delta", {**change, "summary": "add logout", "spec": "POST /logout"}
                )
            )

        assert published["published_version"] == 2
        assert published["delta"]["contract_version"] == 2
        assert "AuthAPI is now at version 2" in published["message"]
        assert proposed["published_version"] is None
        assert proposed["delta"]["proposed_spec"] == "POST /logout"
        assert "proposal" in proposed["message"]
        numbers = await db(
            lambda: list(
                ContractVersion.objects.filter(contract__name="AuthAPI").values_list(
                    "number", flat=True
                )
            )
        )
        assert sorted(numbers) == [1, 2]

    async def test_a_repeat_is_folded_and_says_so(self, crew: Crew, mode: str) -> None:
        arguments = {"kind": "blocker", "summary": "CI is red", "paths": ["web/app.py"]}
        async with connect(crew.web_token, mode) as client:
            content_of(await client.call_tool("push_delta", arguments))
            again = content_of(await client.call_tool("push_delta", arguments))

        assert again["folded"] is True
        assert again["delta"]["seq"] == 1
        assert again["delta"]["folded"] == 1
        assert "Folded into your delta #1" in again["message"]
        assert await db(Delta.objects.count) == 1

    @pytest.mark.parametrize(
        ("arguments", "mentions"),
        [
            ({"kind": "rumour", "summary": "x"}, "kind"),
            ({"summary": "x"}, "kind"),
            ({"kind": "discovery", "summary": ""}, "summary"),
            ({"kind": "discovery", "summary": "   "}, "[empty_summary]"),
            ({"kind": "discovery", "summary": "x" * 201}, "summary"),
            ({"kind": "discovery", "summary": "x", "significance": "huge"}, "significance"),
            ({"kind": "discovery", "summary": "x", "tasks": ["NOPE-9"]}, "[unknown_task]"),
            ({"kind": "discovery", "summary": "x", "tasks": ["bad key!"]}, "tasks"),
            ({"kind": "discovery", "summary": "x", "contracts": ["Nope"]}, "[unknown_contract]"),
            ({"kind": "discovery", "summary": "x", "paths": ["/etc/passwd"]}, "relative"),
            ({"kind": "discovery", "summary": "x", "spec": "v2"}, "contract_change"),
            ({"kind": "contract_change", "summary": "x", "spec": "v2"}, "exactly one contract"),
            ({"kind": "discovery", "summary": "x", "body": "x" * 20_001}, "body"),
        ],
    )
    async def test_a_bad_push_is_refused_and_nothing_is_written(
        self, crew: Crew, mode: str, arguments: dict[str, Any], mentions: str
    ) -> None:
        async with connect(crew.web_token, mode) as client, unchanged():
            text = error_of(await client.call_tool("push_delta", arguments))
        assert mentions in text


class TestGetUpdates:
    @pytest.fixture
    def feed(self, crew: Crew) -> Crew:
        """#1 touches WEB-1 (owner), #2 is docs' (DOC-1), #3 is a breaking decision by docs,
        #4 is web's own."""
        push(crew.project, crew.owner, summary="api moved", tasks=["WEB-1"])
        push(crew.project, crew.docs, summary="docs moved", tasks=["DOC-1"])
        push(crew.project, crew.docs, kind="decision", summary="py3.12", significance="breaking")
        push(crew.project, crew.web, kind="status", summary="web half done")
        return crew

    async def test_by_default_what_concerns_you_after_your_cursor(
        self, feed: Crew, mode: str
    ) -> None:
        async with connect(feed.web_token, mode) as client:
            updates = content_of(await client.call_tool("get_updates", {}))

        assert [d["seq"] for d in updates["deltas"]] == [1, 3]
        assert updates["deltas"][0] == await db(wire_shape, 1, feed.web)
        assert [d["breaking_for_you"] for d in updates["deltas"]] == [False, True]
        assert all(d["relevant"] for d in updates["deltas"])
        assert {k: updates[k] for k in ("since", "next_since", "more", "head", "cursor")} == {
            "since": 0,
            "next_since": 4,
            "more": False,
            "head": 4,
            "cursor": 0,
        }
        assert updates["drift"] == 2

    async def test_the_whole_feed_in_pages(self, feed: Crew, mode: str) -> None:
        async with connect(feed.web_token, mode) as client:
            first = content_of(
                await client.call_tool("get_updates", {"only_relevant": False, "limit": 3})
            )
            rest = content_of(
                await client.call_tool(
                    "get_updates",
                    {"only_relevant": False, "limit": 3, "since": first["next_since"]},
                )
            )

        assert [d["seq"] for d in first["deltas"]] == [1, 2, 3]
        assert [d["relevant"] for d in first["deltas"]] == [True, False, True]
        assert (first["more"], first["next_since"]) == (True, 3)
        assert [d["seq"] for d in rest["deltas"]] == [4]
        assert rest["deltas"][0]["relevant"] is False  # its own
        assert (rest["more"], rest["next_since"]) == (False, 4)

    async def test_after_an_ack_the_default_starts_at_the_cursor(
        self, feed: Crew, mode: str
    ) -> None:
        async with connect(feed.web_token, mode) as client:
            content_of(await client.call_tool("ack_updates", {"seq": 1}))
            updates = content_of(await client.call_tool("get_updates", {}))

        assert [d["seq"] for d in updates["deltas"]] == [3]
        assert (updates["since"], updates["cursor"], updates["drift"]) == (1, 1, 1)

    @pytest.mark.parametrize(
        ("arguments", "mentions"),
        [
            ({"since": 5}, "[since_beyond_head]"),
            ({"since": -1}, "since"),
            ({"limit": 0}, "limit"),
            ({"limit": 501}, "limit"),
            ({"only_relevant": "perhaps"}, "only_relevant"),
        ],
    )
    async def test_bad_arguments_are_refused(
        self, feed: Crew, mode: str, arguments: dict[str, Any], mentions: str
    ) -> None:
        async with connect(feed.web_token, mode) as client:
            text = error_of(await client.call_tool("get_updates", arguments))
        assert mentions in text

    async def test_since_beyond_the_head_says_where_the_head_is(self, feed: Crew) -> None:
        async with connect(feed.web_token, "2026-07-28") as client:
            text = error_of(await client.call_tool("get_updates", {"since": 9}))
        assert "newest delta, #4" in text


class TestAckUpdates:
    async def test_ack_moves_the_cursor_forward_only(self, crew: Crew, mode: str) -> None:
        await db(push, crew.project, crew.owner, tasks=["WEB-1"])
        await db(push, crew.project, crew.owner, tasks=["WEB-1"])
        async with connect(crew.web_token, mode) as client:
            first = content_of(await client.call_tool("ack_updates", {"seq": 2}))
            back = content_of(await client.call_tool("ack_updates", {"seq": 1}))

        assert first == {"cursor": 2, "head": 2, "drift": 0}
        assert back == {"cursor": 2, "head": 2, "drift": 0}
        cursor = await db(AgentCursor.objects.get, agent=crew.web)
        assert cursor.acked_seq == 2
        events = await db(lambda: list(Event.objects.filter(type="deltas.acknowledged")))
        assert [event.payload for event in events] == [{"from": 0, "to": 2}]

    @pytest.mark.parametrize(
        ("arguments", "mentions"),
        [
            ({"seq": 2}, "[ack_beyond_head]"),
            ({"seq": -1}, "seq"),
            ({"seq": "one"}, "seq"),
            ({}, "seq"),
        ],
    )
    async def test_a_bad_ack_is_refused_and_nothing_is_written(
        self, crew: Crew, mode: str, arguments: dict[str, Any], mentions: str
    ) -> None:
        await db(push, crew.project, crew.owner)
        async with connect(crew.web_token, mode) as client, unchanged():
            text = error_of(await client.call_tool("ack_updates", arguments))
        assert mentions in text

    async def test_acking_beyond_the_head_names_the_head(self, crew: Crew) -> None:
        async with connect(crew.web_token, "legacy") as client:
            text = error_of(await client.call_tool("ack_updates", {"seq": 1}))
        assert "the newest delta is 0" in text


class TestWaitForUpdates:
    async def test_returns_at_once_when_relevant_deltas_already_exist(
        self, crew: Crew, mode: str
    ) -> None:
        await db(push, crew.project, crew.owner, summary="api moved", tasks=["WEB-1"])
        progress = Progress()
        async with connect(crew.web_token, mode) as client:
            result = content_of(
                await client.call_tool(
                    "wait_for_updates", {"since": 0, "timeout_s": 300}, progress_callback=progress
                )
            )

        assert result["timed_out"] is False
        assert [d["summary"] for d in result["deltas"]] == ["api moved"]
        assert progress.notes == []  # it never had to wait

    async def test_returns_when_a_peer_pushes_during_the_wait(self, crew: Crew, mode: str) -> None:
        await db(push, crew.project, crew.docs, summary="unrelated", tasks=["DOC-1"])
        progress = Progress()
        async with (
            connect_streaming(crew.web_token, mode) as web,
            connect(crew.owner_token, mode) as owner,
        ):
            waiting = asyncio.create_task(
                web.call_tool(
                    "wait_for_updates", {"since": 0, "timeout_s": 300}, progress_callback=progress
                )
            )
            # The first progress note comes once the wait listens for live deltas.
            await asyncio.wait_for(progress.heard.wait(), PATIENCE)
            assert not waiting.done()
            pushed = content_of(
                await owner.call_tool(
                    "push_delta",
                    {"kind": "discovery", "summary": "api moved", "tasks": ["WEB-1"]},
                )
            )
            result = content_of(await asyncio.wait_for(waiting, PATIENCE))

        assert result["timed_out"] is False
        assert [d["seq"] for d in result["deltas"]] == [pushed["delta"]["seq"]] == [2]
        assert result["deltas"][0]["relevant"] is True
        assert (result["head"], result["next_since"], result["drift"]) == (2, 2, 1)

    async def test_times_out_cleanly_with_progress_and_no_deltas(
        self, crew: Crew, mode: str
    ) -> None:
        # Its own delta and one that does not concern it do not wake the agent.
        await db(push, crew.project, crew.web, summary="mine", tasks=["WEB-1"])
        await db(push, crew.project, crew.docs, summary="unrelated", tasks=["DOC-1"])
        progress = Progress()
        async with connect(crew.web_token, mode) as client, unchanged():
            result = content_of(
                await client.call_tool(
                    "wait_for_updates", {"since": 0, "timeout_s": 1}, progress_callback=progress
                )
            )

        assert result["timed_out"] is True
        assert result["deltas"] == []
        assert (result["head"], result["next_since"], result["drift"]) == (2, 2, 0)
        assert progress.notes
        first_progress, total, message = progress.notes[0]
        assert (first_progress, total) == (0, 1)
        assert message is not None
        assert "after #0" in message

    async def test_keeps_reporting_progress_while_it_waits(self, crew: Crew) -> None:
        progress = Progress()
        async with connect_streaming(crew.web_token, "2026-07-28") as client:
            result = content_of(
                await client.call_tool(
                    "wait_for_updates", {"since": 0, "timeout_s": 5}, progress_callback=progress
                )
            )

        assert result["timed_out"] is True
        values = [note[0] for note in progress.notes]
        assert len(values) >= 2
        assert values == sorted(set(values))  # strictly increasing, as the spec requires
        assert all(note[1] == 5 for note in progress.notes)

    @pytest.mark.parametrize(
        ("arguments", "mentions"),
        [
            ({"timeout_s": 5}, "since"),
            ({"since": -1}, "since"),
            ({"since": 0, "timeout_s": 0}, "timeout_s"),
            ({"since": 0, "timeout_s": 301}, "timeout_s"),
            ({"since": 7, "timeout_s": 1}, "[since_beyond_head]"),
        ],
    )
    async def test_bad_arguments_are_refused(
        self, crew: Crew, mode: str, arguments: dict[str, Any], mentions: str
    ) -> None:
        async with connect(crew.web_token, mode) as client:
            text = error_of(await client.call_tool("wait_for_updates", arguments))
        assert mentions in text


class TestClaimCouplingGuard:
    async def test_no_unacknowledged_change_means_no_warnings(self, crew: Crew, mode: str) -> None:
        async with connect(crew.web_token, mode) as client:
            claimed = content_of(await client.call_tool("claim_task", {"key": "WEB-2"}))
        assert claimed["warnings"] == []
        assert (claimed["key"], claimed["status"]) == ("WEB-2", "in_progress")

    async def test_warn_mode_claims_and_names_the_change(self, crew: Crew, mode: str) -> None:
        seq = await db(publish_breaking_change, crew)
        async with connect(crew.web_token, mode) as client:
            claimed = content_of(await client.call_tool("claim_task", {"key": "WEB-2"}))

        [warning] = claimed["warnings"]
        assert f"#{seq}" in warning
        assert "login returns a refresh token" in warning
        assert claimed["assignee"] == "web"

    async def test_refuse_mode_refuses_until_the_change_is_acknowledged(
        self, crew: Crew, mode: str
    ) -> None:
        await db(set_coupling_guard, crew.project, CouplingGuard.REFUSE)
        seq = await db(publish_breaking_change, crew)
        async with connect(crew.web_token, mode) as client:
            async with unchanged():
                text = error_of(await client.call_tool("claim_task", {"key": "WEB-2"}))
            content_of(await client.call_tool("ack_updates", {"seq": seq}))
            claimed = content_of(await client.call_tool("claim_task", {"key": "WEB-2"}))

        assert "Refused to claim task WEB-2" in text
        assert f"#{seq}" in text
        assert "login returns a refresh token" in text
        assert "[unacknowledged_breaking_change]" in text
        assert claimed["warnings"] == []
        task = await db(Task.objects.get, key="WEB-2")
        assert task.status == TaskStatus.IN_PROGRESS

    async def test_an_agent_that_consumes_nothing_is_not_held_back(self, crew: Crew) -> None:
        await db(set_coupling_guard, crew.project, CouplingGuard.REFUSE)
        await db(publish_breaking_change, crew)
        async with connect(crew.docs_token, "legacy") as client:
            claimed = content_of(await client.call_tool("claim_task", {"key": "DOC-1"}))
        assert claimed["warnings"] == []
