"""MCP tools for locks and the push queue, through the SDK's own client over the whole ASGI
app: acquire_lock, renew_lock, release_lock, list_locks, check_conflicts, request_push,
push_status, complete_push, abandon_push; and grants reaching a waiting agent through
get_updates and wait_for_updates."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from locks.models import Lock, LockStatus, PushStatus, PushTicket
from peercode.events.models import Event
from projects.models import Agent, CouplingGuard, Project
from tests.deltas.factories import push, set_coupling_guard
from tests.deltas.test_mcp_tools import PATIENCE, Progress, connect_streaming
from tests.factories import make_agent, make_contract, make_project, make_task
from tests.peercode.mcp_support import connect, content_of, db, error_of

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

LOCK_TOOLS = {
    "acquire_lock": False,
    "renew_lock": False,
    "release_lock": False,
    "list_locks": True,
    "check_conflicts": True,
    "request_push": False,
    "push_status": True,
    "complete_push": False,
    "abandon_push": False,
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=("legacy", "2026-07-28"))
def mode(request: pytest.FixtureRequest) -> str:
    return request.param


@dataclass
class Pair:
    project: Project
    ann: Agent
    ann_token: str
    bob: Agent
    bob_token: str


@pytest.fixture
def pair(transactional_db: None) -> Pair:
    project = make_project(slug="locky")
    make_task(project, "API-1", file_globs=["src/**"])
    ann, ann_token = make_agent(project, "ann")
    bob, bob_token = make_agent(project, "bob")
    return Pair(project, ann, ann_token, bob, bob_token)


def lock_rows() -> list[dict[str, Any]]:
    return list(Lock.objects.order_by("pk").values())


async def call(client: Any, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return content_of(await client.call_tool(name, arguments))


class TestTheToolsAsListed:
    async def test_every_tool_is_described_with_honest_hints(self, pair: Pair) -> None:
        async with connect(pair.ann_token, "2026-07-28") as client:
            tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        for name, read_only in LOCK_TOOLS.items():
            tool = tools[name]
            assert tool.description is not None, name
            assert len(tool.description) > 80, name
            assert tool.output_schema is not None, name
            assert "project" not in tool.input_schema.get("properties", {}), name
            assert tool.annotations is not None
            assert tool.annotations.read_only_hint is read_only, name
        assert tools["release_lock"].annotations.destructive_hint is True  # type: ignore[union-attr]


class TestLocks:
    async def test_a_granted_lock_blocks_a_peer_and_the_refusal_names_it(
        self, pair: Pair, mode: str
    ) -> None:
        async with connect(pair.ann_token, mode) as ann, connect(pair.bob_token, mode) as bob:
            got = await call(
                ann,
                "acquire_lock",
                {"path": "src/app.py", "scope": "lines", "start_line": 10, "end_line": 20},
            )
            assert got["granted"] is True
            assert got["lock"]["holder"] == "ann"
            assert got["lock"]["fencing_token"] == 1
            assert "fencing token 1" in got["message"]

            before = await db(lock_rows)
            refused = error_of(
                await bob.call_tool(
                    "acquire_lock",
                    {"path": "src/app.py", "scope": "lines", "start_line": 20, "end_line": 30},
                )
            )
            assert "ann" in refused
            assert "[lock_conflict]" in refused
            assert await db(lock_rows) == before

            # Lines that do not intersect are granted, with the next token.
            apart = await call(
                bob,
                "acquire_lock",
                {"path": "src/app.py", "scope": "lines", "start_line": 21, "end_line": 30},
            )
            assert apart["lock"]["fencing_token"] == 2

    async def test_renew_release_list_and_check(self, pair: Pair, mode: str) -> None:
        async with connect(pair.ann_token, mode) as ann, connect(pair.bob_token, mode) as bob:
            lock = (await call(ann, "acquire_lock", {"path": "src/db.py", "ttl_seconds": 60}))[
                "lock"
            ]
            renewed = await call(ann, "renew_lock", {"lock_id": lock["id"], "ttl_seconds": 600})
            assert renewed["expires_at"] > lock["expires_at"]

            listed = await call(bob, "list_locks", {})
            assert [item["id"] for item in listed["locks"]] == [lock["id"]]
            assert (await call(bob, "list_locks", {"mine": True}))["locks"] == []

            check = await call(
                bob,
                "check_conflicts",
                {"locks": [{"path": "src/db.py", "mode": "shared"}, {"path": "src/other.py"}]},
            )
            first, second = check["answers"]
            assert first["free"] is False
            assert [c["holder"] for c in first["conflicts"]] == ["ann"]
            assert second["free"] is True

            not_yours = error_of(await bob.call_tool("release_lock", {"lock_id": lock["id"]}))
            assert "ann" in not_yours or "your" in not_yours.lower()

            released = await call(ann, "release_lock", {"lock_id": lock["id"]})
            assert released["status"] == LockStatus.RELEASED
            assert (await call(bob, "list_locks", {}))["locks"] == []

    async def test_whoami_counts_your_locks(self, pair: Pair) -> None:
        async with connect(pair.ann_token, "2026-07-28") as ann:
            await call(ann, "acquire_lock", {"path": "a.py"})
            await call(ann, "acquire_lock", {"path": "b.py", "mode": "shared"})
            me = await call(ann, "whoami", {})
        assert (me["held_locks"], me["waiting_locks"]) == (2, 0)

    @pytest.mark.parametrize(
        ("arguments", "says"),
        [
            ({"path": "../etc/passwd"}, ".."),
            ({"path": "/abs/path.py"}, "relative"),
            ({"path": "a.py", "scope": "lines", "start_line": 9, "end_line": 3}, "start"),
            ({"path": "a.py", "scope": "lines", "start_line": 0, "end_line": 3}, "start_line"),
            ({"path": "a.py", "scope": "section"}, "section"),
            ({"path": "a.py", "scope": "sideways"}, "scope"),
            ({"path": "a.py", "ttl_seconds": 10**9}, "ttl"),
            ({"path": "a.py", "task": "NOPE-1"}, "NOPE-1"),
            ({"path": "a\x00.py"}, "NUL"),
        ],
    )
    async def test_bad_arguments_are_refused_and_change_nothing(
        self, pair: Pair, arguments: dict[str, Any], says: str
    ) -> None:
        before = await db(lock_rows)
        async with connect(pair.ann_token, "2026-07-28") as ann:
            result = await ann.call_tool("acquire_lock", arguments)
        assert result.is_error
        text = "\n".join(getattr(part, "text", "") for part in result.content)
        assert says.lower() in text.lower()
        assert "Traceback" not in text
        assert await db(lock_rows) == before

    async def test_another_projects_lock_is_not_found(self, pair: Pair) -> None:
        other = await db(make_project, slug="elsewhere")
        _stranger, stranger_token = await db(make_agent, other, "eve")
        async with connect(pair.ann_token, "2026-07-28") as ann:
            lock = (await call(ann, "acquire_lock", {"path": "x.py"}))["lock"]
        async with connect(stranger_token, "2026-07-28") as eve:
            for tool in ("renew_lock", "release_lock"):
                assert error_of(await eve.call_tool(tool, {"lock_id": lock["id"]}))
        assert (await db(Lock.objects.get, pk=lock["id"])).status == LockStatus.HELD

    async def test_refuse_mode_guard_blocks_a_lock_until_acknowledged(self, pair: Pair) -> None:
        def breaking_change() -> None:
            make_contract(pair.project, "AuthAPI", owner="API-1", spec="v1")
            make_task(pair.project, "WEB-1", consumes=["AuthAPI"])
            from projects import services as plan

            plan.claim_task(agent=pair.bob, task_key="WEB-1")
            plan.claim_task(agent=pair.ann, task_key="API-1")
            push(
                pair.project,
                pair.ann,
                kind="contract_change",
                summary="login changed",
                contracts=["AuthAPI"],
                spec="v2",
            )
            set_coupling_guard(pair.project, CouplingGuard.REFUSE)

        await db(breaking_change)
        async with connect(pair.bob_token, "2026-07-28") as bob:
            refused = error_of(await bob.call_tool("acquire_lock", {"path": "web/x.py"}))
            assert "login changed" in refused
            assert "[unacknowledged_breaking_change]" in refused
            assert await db(Lock.objects.count) == 0
            head = (await call(bob, "get_updates", {}))["head"]
            await call(bob, "ack_updates", {"seq": head})
            assert (await call(bob, "acquire_lock", {"path": "web/x.py"}))["granted"] is True


class TestWaiting:
    async def test_a_waiting_agent_is_woken_by_its_grant(self, pair: Pair, mode: str) -> None:
        progress = Progress()
        async with (
            connect(pair.ann_token, mode) as ann,
            connect_streaming(pair.bob_token, mode) as bob,
        ):
            held = (await call(ann, "acquire_lock", {"path": "src/app.py"}))["lock"]
            queued = await call(bob, "acquire_lock", {"path": "src/app.py", "wait": True})
            assert queued["granted"] is False
            assert queued["position"] == 1
            assert "number 1 in line" in queued["message"]

            first = await call(bob, "get_updates", {})
            assert first["granted_locks"] == []
            waiting = asyncio.create_task(
                bob.call_tool(
                    "wait_for_updates",
                    {"since": first["head"], "timeout_s": 300, "since_token": first["next_token"]},
                    progress_callback=progress,
                )
            )
            await asyncio.wait_for(progress.heard.wait(), PATIENCE)
            assert not waiting.done()
            await call(ann, "release_lock", {"lock_id": held["id"]})
            woken = content_of(await asyncio.wait_for(waiting, PATIENCE))

            assert woken["timed_out"] is False
            [granted] = woken["granted_locks"]
            assert granted["id"] == queued["lock"]["id"]
            assert granted["status"] == LockStatus.HELD
            assert granted["fencing_token"] == 2
            # Reported once per cursor: with next_token, the same grant is not news again.
            again = await call(bob, "get_updates", {"since_token": woken["next_token"]})
            assert again["granted_locks"] == []


class TestPushQueue:
    async def test_the_line_moves_in_order_and_the_next_agent_is_told(
        self, pair: Pair, mode: str
    ) -> None:
        async with connect(pair.ann_token, mode) as ann, connect(pair.bob_token, mode) as bob:
            first = await call(ann, "request_push", {"paths": ["src/app.py"]})
            assert first["position"] == 0
            assert first["ticket"]["branch"] == "peer-progress"
            assert "complete_push" in first["message"]
            second = await call(bob, "request_push", {})
            assert second["position"] == 1
            again = await call(bob, "request_push", {})
            assert again["already_in_line"] is True
            assert again["ticket"]["id"] == second["ticket"]["id"]

            status = await call(bob, "push_status", {})
            assert [t["agent"] for t in status["line"]] == ["ann", "bob"]
            assert status["your_position"] == 1

            refused = error_of(
                await bob.call_tool(
                    "complete_push",
                    {"ticket": second["ticket"]["id"], "commit_sha": "abc123", "fencing_token": 9},
                )
            )
            assert "turn" in refused.lower()

            done = await call(
                ann,
                "complete_push",
                {
                    "ticket": first["ticket"]["id"],
                    "commit_sha": "a" * 40,
                    "fencing_token": first["ticket"]["fencing_token"],
                },
            )
            assert done["status"] == PushStatus.COMPLETED
            assert done["commit_sha"] == "a" * 40

            news = await call(bob, "get_updates", {})
            [turn] = news["push_turns"]
            assert turn["id"] == second["ticket"]["id"]
            left = await call(bob, "abandon_push", {"ticket": second["ticket"]["id"]})
            assert left["status"] == PushStatus.ABANDONED

        statuses = await db(lambda: list(PushTicket.objects.values_list("status", flat=True)))
        assert sorted(statuses) == [PushStatus.ABANDONED, PushStatus.COMPLETED]
        types = await db(lambda: list(Event.objects.values_list("type", flat=True)))
        assert "push.completed" in types
        assert "push.abandoned" in types

    @pytest.mark.parametrize(
        "arguments",
        [
            {"branch": "has space"},
            {"branch": "a..b"},
            {"paths": ["../outside"]},
        ],
    )
    async def test_bad_requests_are_refused_and_change_nothing(
        self, pair: Pair, arguments: dict[str, Any]
    ) -> None:
        async with connect(pair.ann_token, "2026-07-28") as ann:
            assert error_of(await ann.call_tool("request_push", arguments))
        assert await db(PushTicket.objects.count) == 0
