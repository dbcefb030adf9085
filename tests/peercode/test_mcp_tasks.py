"""MCP tools that change tasks: claim_task and update_task.

The plan (see ``mcp_support.make_team``): P1-T1 and P1-T2 are ready; P2-T1 waits for P1-T1.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import pytest

from peercode.events.models import Event
from projects import services
from projects.models import Task
from tests.factories import make_agent
from tests.peercode.mcp_support import Team, connect, content_of, db, error_of, unchanged

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


def task(team: Team, key: str) -> Task:
    return Task.objects.select_related("assignee").get(project=team.project, key=key)


def events(team: Team, type_: str) -> list[Event]:
    return list(Event.objects.filter(project=team.project, type=type_))


class TestClaimTask:
    async def test_a_ready_task_becomes_yours_and_in_progress(self, alpha: Team, mode: str) -> None:
        async with connect(alpha.token, mode) as client:
            claimed = content_of(await client.call_tool("claim_task", {"key": "P1-T1"}))
            # Claiming what you hold is harmless (the tool says it is idempotent).
            again = content_of(await client.call_tool("claim_task", {"key": "P1-T1"}))

        assert (claimed["key"], claimed["status"], claimed["assignee"]) == (
            "P1-T1",
            "in_progress",
            "bot",
        )
        assert claimed["provides"] == ["AuthAPI"]
        assert again == claimed
        stored = await db(task, alpha, "P1-T1")
        assert (stored.status, stored.assignee) == ("in_progress", alpha.agent)
        (event,) = await db(events, alpha, "task.claimed")
        assert (event.actor, event.subject, event.payload) == (
            "agent:bot",
            "task:P1-T1",
            {"assignee": "bot"},
        )

    async def test_a_task_held_by_another_agent_is_refused_naming_the_holder(
        self, alpha: Team, mode: str
    ) -> None:
        await db(services.claim_task, agent=alpha.peer, task_key="P1-T1")
        async with connect(alpha.token, mode) as client, unchanged():
            text = error_of(await client.call_tool("claim_task", {"key": "P1-T1"}))
        assert "P1-T1 cannot be claimed: it is assigned to peer" in text
        assert "Pick another ready task" in text
        assert "[not_claimable]" in text

    async def test_a_backlog_task_is_refused_naming_what_it_waits_for(
        self, alpha: Team, mode: str
    ) -> None:
        async with connect(alpha.token, mode) as client, unchanged():
            text = error_of(await client.call_tool("claim_task", {"key": "P2-T1"}))
        assert "only ready tasks can be claimed" in text
        assert "status is backlog" in text
        assert "waiting for P1-T1" in text

    async def test_an_unknown_or_malformed_key_is_refused(self, alpha: Team, mode: str) -> None:
        async with connect(alpha.token, mode) as client, unchanged():
            unknown = error_of(await client.call_tool("claim_task", {"key": "P9-T9"}))
            malformed = error_of(await client.call_tool("claim_task", {"key": "P1-T1; drop"}))
            missing = error_of(await client.call_tool("claim_task", {}))
        assert "No task 'P9-T9' in project 'alpha'" in unknown
        assert "[unknown_task]" in unknown
        assert "validation error" in malformed
        assert "key" in malformed
        assert "validation error" in missing

    async def test_concurrent_claims_from_several_clients_have_exactly_one_winner(
        self, alpha: Team, mode: str
    ) -> None:
        def more_agents() -> list[str]:
            return [make_agent(alpha.project, f"racer-{i}")[1] for i in range(6)]

        tokens = [alpha.token, alpha.peer_token, *await db(more_agents)]
        async with AsyncExitStack() as stack:
            clients = [await stack.enter_async_context(connect(t, mode)) for t in tokens]
            results = await asyncio.gather(
                *(client.call_tool("claim_task", {"key": "P1-T2"}) for client in clients)
            )

        winners = [content_of(result)["assignee"] for result in results if not result.is_error]
        assert len(winners) == 1
        for refused in (result for result in results if result.is_error):
            assert f"it is assigned to {winners[0]}" in error_of(refused)
        stored = await db(task, alpha, "P1-T2")
        assert stored.assignee is not None
        assert stored.assignee.name == winners[0]
        assert len(await db(events, alpha, "task.claimed")) == 1


class TestUpdateTask:
    async def test_your_task_moves_along_and_finishing_it_readies_its_dependents(
        self, alpha: Team, mode: str
    ) -> None:
        async with connect(alpha.token, mode) as client:
            content_of(await client.call_tool("claim_task", {"key": "P1-T1"}))
            review = content_of(
                await client.call_tool(
                    "update_task", {"key": "P1-T1", "status": "review", "note": "tests pass"}
                )
            )
            done = content_of(
                await client.call_tool("update_task", {"key": "P1-T1", "status": "done"})
            )
            dependent = content_of(await client.call_tool("get_task", {"key": "P2-T1"}))

        assert (review["status"], review["assignee"]) == ("review", "bot")
        assert done["status"] == "done"
        assert dependent["status"] == "ready"
        moves = [
            (e.subject, e.payload["from"], e.payload["to"], e.actor)
            for e in await db(events, alpha, "task.status_changed")
        ]
        # (sorted: the last two share a transaction, and may share a timestamp)
        assert sorted(moves) == [
            ("task:P1-T1", "in_progress", "review", "agent:bot"),
            ("task:P1-T1", "review", "done", "agent:bot"),
            ("task:P2-T1", "backlog", "ready", "agent:bot"),
        ]
        notes = {e.payload["note"] for e in await db(events, alpha, "task.status_changed")}
        assert "tests pass" in notes

    async def test_fields_and_status_change_together(self, alpha: Team, mode: str) -> None:
        await db(services.claim_task, agent=alpha.agent, task_key="P1-T1")
        async with connect(alpha.token, mode) as client:
            updated = content_of(
                await client.call_tool(
                    "update_task",
                    {
                        "key": "P1-T1",
                        "status": "blocked",
                        "note": "needs a schema decision",
                        "title": "User and session models",
                        "description": "Users, sessions, migrations.",
                        "file_globs": ["app/models/**", "app/migrations/**"],
                    },
                )
            )

        assert updated["status"] == "blocked"
        assert updated["title"] == "User and session models"
        assert updated["description"] == "Users, sessions, migrations."
        assert updated["file_globs"] == ["app/models/**", "app/migrations/**"]
        stored = await db(task, alpha, "P1-T1")
        assert (stored.status, stored.title) == ("blocked", "User and session models")
        (edit,) = await db(events, alpha, "task.updated")
        assert set(edit.payload["changes"]) == {"title", "description", "file_globs"}

    async def test_an_illegal_move_lists_the_allowed_ones_and_changes_nothing(
        self, alpha: Team, mode: str
    ) -> None:
        await db(services.claim_task, agent=alpha.agent, task_key="P1-T1")
        async with connect(alpha.token, mode) as client, unchanged():
            # The title edit would be legal alone: both or neither.
            text = error_of(
                await client.call_tool(
                    "update_task", {"key": "P1-T1", "status": "done", "title": "Shortcut"}
                )
            )
        assert "P1-T1 cannot go from in_progress to done" in text
        assert "it can go to: blocked, ready, review" in text
        assert "[illegal_transition]" in text

    async def test_a_task_that_is_not_yours_is_refused(self, alpha: Team, mode: str) -> None:
        await db(services.claim_task, agent=alpha.peer, task_key="P1-T1")
        async with connect(alpha.token, mode) as client, unchanged():
            held = error_of(
                await client.call_tool("update_task", {"key": "P1-T1", "status": "review"})
            )
            unassigned = error_of(
                await client.call_tool("update_task", {"key": "P1-T2", "title": "Mine now"})
            )
        assert "P1-T1 is not assigned to you" in held
        assert "P1-T2 is not assigned to you" in unassigned
        assert "[not_assignee]" in held
        assert "[not_assignee]" in unassigned

    async def test_a_call_with_nothing_to_update_is_refused(self, alpha: Team, mode: str) -> None:
        await db(services.claim_task, agent=alpha.agent, task_key="P1-T1")
        async with connect(alpha.token, mode) as client, unchanged():
            text = error_of(
                await client.call_tool("update_task", {"key": "P1-T1", "note": "just saying"})
            )
        assert "Nothing to update" in text
        assert "status" in text

    async def test_an_unknown_key_is_an_error_naming_it(self, alpha: Team, mode: str) -> None:
        async with connect(alpha.token, mode) as client, unchanged():
            text = error_of(
                await client.call_tool("update_task", {"key": "P9-T9", "status": "review"})
            )
        assert "No task 'P9-T9' in project 'alpha'" in text

    async def test_bad_arguments_are_refused_and_change_nothing(
        self, alpha: Team, mode: str
    ) -> None:
        await db(services.claim_task, agent=alpha.agent, task_key="P1-T1")
        # (arguments, the field the error names, what it says)
        refused: list[tuple[dict[str, Any], str, str]] = [
            ({"status": "finished"}, "status", "validation error"),
            ({"status": "IN_PROGRESS"}, "status", "validation error"),
            ({"title": ""}, "title", "validation error"),
            ({"title": "t" * 301}, "title", "validation error"),
            ({"description": "d" * 20001}, "description", "validation error"),
            ({"note": "n" * 2001, "status": "review"}, "note", "validation error"),
            ({"file_globs": [""]}, "file_globs", "validation error"),
            ({"file_globs": "app/**"}, "file_globs", "validation error"),
            ({"file_globs": ["g"] * 201}, "file_globs", "validation error"),
            # The schema cannot say these; the service refuses them.
            ({"file_globs": ["/etc/**"]}, "'/etc/**'", "relative to the repository root"),
            ({"file_globs": ["../up/**"]}, "'../up/**'", "relative to the repository root"),
        ]
        async with connect(alpha.token, mode) as client, unchanged():
            for arguments, field, says in refused:
                text = error_of(
                    await client.call_tool("update_task", {"key": "P1-T1", **arguments})
                )
                assert says in text, arguments
                assert field in text, arguments


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("update_task", {"key": "P1-T1", "title": "bad\x00title"}),
        ("update_task", {"key": "P1-T1", "status": "review", "note": "nul\x00"}),
        ("get_contract", {"name": "Auth\x00API"}),
    ],
)
async def test_nul_characters_in_text_arguments_are_refused_with_a_clear_message(
    alpha: Team, tool: str, arguments: dict[str, Any]
) -> None:
    await db(services.claim_task, agent=alpha.agent, task_key="P1-T1")
    async with connect(alpha.token, "2026-07-28") as client, unchanged():
        text = error_of(await client.call_tool(tool, arguments))
    assert "must not contain NUL characters" in text
