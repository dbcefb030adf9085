"""MCP tools that read the plan: whoami, get_plan, get_task, get_contract; and the project
boundary, which the token draws for every tool.

The plan (see ``mcp_support.make_team``): P1-T1 (estimate 2, owns AuthAPI) and P1-T2 are ready
and their globs overlap; P2-T1 waits for P1-T1 and consumes AuthAPI, which has two versions.
"""

from __future__ import annotations

from typing import Any

import pytest

from projects import services
from projects.models import Task
from tests.factories import make_agent, make_project
from tests.peercode.mcp_support import Team, connect, content_of, db, error_of, unchanged

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


class TestWhoami:
    async def test_names_the_agent_its_project_its_tasks_and_what_is_ready(
        self, alpha: Team, mode: str
    ) -> None:
        async with connect(alpha.token, mode) as client:
            before = content_of(await client.call_tool("whoami", {}))
            content_of(await client.call_tool("claim_task", {"key": "P1-T1"}))
            after = content_of(await client.call_tool("whoami", {}))

        assert before["agent"] == {"name": "bot", "client_kind": alpha.agent.client_kind}
        assert before["project"]["slug"] == "alpha"
        assert before["project"]["name"] == "Alpha"
        assert before["project"]["integration_branch"] == alpha.project.integration_branch
        assert before["current_task"] is None
        assert before["my_tasks"] == []
        assert before["ready_tasks"] == 2

        current = after["current_task"]
        assert current["key"] == "P1-T1"
        assert current["status"] == "in_progress"
        assert current["assignee"] == "bot"
        assert current["provides"] == ["AuthAPI"]
        assert current["dependents"] == ["P2-T1"]
        assert [task["key"] for task in after["my_tasks"]] == ["P1-T1"]
        assert after["ready_tasks"] == 1
        assert after["unacknowledged_updates"] == 0

    async def test_whoami_counts_the_updates_waiting_for_you(self, alpha: Team) -> None:
        from deltas.services import push_delta
        from peercode.actors import Actor

        await db(
            push_delta,
            project=alpha.project,
            actor=Actor.for_agent(alpha.peer),
            kind="decision",
            significance="breaking",
            summary="We switch to UUID primary keys",
        )
        async with connect(alpha.token, "2026-07-28") as client:
            waiting = content_of(await client.call_tool("whoami", {}))
            content_of(await client.call_tool("ack_updates", {"seq": 1}))
            after = content_of(await client.call_tool("whoami", {}))
        assert waiting["unacknowledged_updates"] == 1
        assert after["unacknowledged_updates"] == 0

    async def test_current_task_is_the_one_started_last(self, alpha: Team) -> None:
        async with connect(alpha.token, "2026-07-28") as client:
            content_of(await client.call_tool("claim_task", {"key": "P1-T2"}))
            content_of(await client.call_tool("claim_task", {"key": "P1-T1"}))
            who = content_of(await client.call_tool("whoami", {}))
        assert who["current_task"]["key"] == "P1-T1"
        assert {task["key"] for task in who["my_tasks"]} == {"P1-T1", "P1-T2"}


class TestGetPlan:
    async def test_the_plan_has_phases_waves_critical_path_ready_tasks_and_collisions(
        self, alpha: Team, mode: str
    ) -> None:
        async with connect(alpha.token, mode) as client:
            plan = content_of(await client.call_tool("get_plan", {}))

        assert plan["project"]["slug"] == "alpha"
        assert [(phase["number"], phase["name"]) for phase in plan["phases"]] == [
            (1, "Phase 1"),
            (2, "Phase 2"),
        ]
        tasks = {task["key"]: task for phase in plan["phases"] for task in phase["tasks"]}
        assert {key: task["wave"] for key, task in tasks.items()} == {
            "P1-T1": 1,
            "P1-T2": 1,
            "P2-T1": 2,
        }
        assert tasks["P2-T1"]["depends_on"] == ["P1-T1"]
        assert tasks["P2-T1"]["status"] == "backlog"
        assert plan["waves"] == [["P1-T1", "P1-T2"], ["P2-T1"]]
        assert plan["critical_path"] == ["P1-T1", "P2-T1"]
        assert plan["critical_path_length"] == 3
        assert plan["ready"] == ["P1-T1", "P1-T2"]
        assert plan["collisions"] == [
            {"first": "P1-T1", "second": "P1-T2", "globs": [["app/models.py", "app/**"]]}
        ]

    async def test_a_project_without_a_plan_has_an_empty_plan_not_an_error(
        self, transactional_db: None
    ) -> None:
        def empty_project_agent() -> str:
            return make_agent(make_project(slug="empty"))[1]

        token = await db(empty_project_agent)
        async with connect(token, "auto") as client:
            plan = content_of(await client.call_tool("get_plan", {}))
        assert plan["project"]["slug"] == "empty"
        assert (plan["phases"], plan["waves"], plan["critical_path"]) == ([], [], [])
        assert (plan["ready"], plan["collisions"]) == ([], [])


class TestGetTask:
    async def test_a_task_comes_with_its_dependencies_files_and_contracts(
        self, alpha: Team, mode: str
    ) -> None:
        async with connect(alpha.token, mode) as client:
            owner = content_of(await client.call_tool("get_task", {"key": "P1-T1"}))
            consumer = content_of(await client.call_tool("get_task", {"key": "P2-T1"}))

        assert owner["key"] == "P1-T1"
        assert owner["title"] == "Task P1-T1"
        assert (owner["status"], owner["phase"], owner["estimate"]) == ("ready", 1, 2)
        assert owner["assignee"] is None
        assert (owner["depends_on"], owner["dependents"]) == ([], ["P2-T1"])
        assert owner["file_globs"] == ["app/models.py"]
        assert (owner["provides"], owner["consumes"]) == (["AuthAPI"], [])
        assert owner["updated_at"]
        assert (consumer["status"], consumer["phase"]) == ("backlog", 2)
        assert (consumer["depends_on"], consumer["dependents"]) == (["P1-T1"], [])
        assert (consumer["provides"], consumer["consumes"]) == ([], ["AuthAPI"])

    async def test_an_unknown_key_is_an_error_naming_it(self, alpha: Team, mode: str) -> None:
        async with connect(alpha.token, mode) as client:
            text = error_of(await client.call_tool("get_task", {"key": "P9-T9"}))
        assert "No task 'P9-T9' in project 'alpha'" in text
        assert "list the plan" in text
        assert "[unknown_task]" in text

    async def test_a_malformed_key_is_refused_by_the_input_schema(
        self, alpha: Team, mode: str
    ) -> None:
        malformed: list[dict[str, Any]] = [
            {},
            {"key": ""},
            {"key": "P1 T1"},
            {"key": "-P1"},
            {"key": "P" * 41},
            {"key": 7},
            {"key": None},
        ]
        async with connect(alpha.token, mode) as client:
            for arguments in malformed:
                text = error_of(await client.call_tool("get_task", arguments))
                assert "validation error" in text, arguments
                assert "key" in text, arguments


class TestGetContract:
    async def test_a_contract_comes_with_every_version_oldest_first(
        self, alpha: Team, mode: str
    ) -> None:
        async with connect(alpha.token, mode) as client:
            contract = content_of(await client.call_tool("get_contract", {"name": "AuthAPI"}))
            first = content_of(
                await client.call_tool("get_contract", {"name": "AuthAPI", "version": 1})
            )

        assert contract["name"] == "AuthAPI"
        assert contract["kind"] == "api"
        assert contract["owner_task"] == "P1-T1"
        assert contract["consumers"] == ["P2-T1"]
        assert contract["current_version"] == 2
        assert [(v["number"], v["spec"]) for v in contract["versions"]] == [
            (1, "POST /login"),
            (2, "POST /v2/login"),
        ]
        second = contract["versions"][1]
        assert (second["rationale"], second["author"]) == ("versioned path", "tests")
        assert second["created_at"]

        assert first["current_version"] == 2
        assert [(v["number"], v["spec"]) for v in first["versions"]] == [(1, "POST /login")]

    async def test_an_unknown_contract_or_version_is_an_error_naming_it(
        self, alpha: Team, mode: str
    ) -> None:
        async with connect(alpha.token, mode) as client:
            version = error_of(
                await client.call_tool("get_contract", {"name": "AuthAPI", "version": 3})
            )
            contract = error_of(await client.call_tool("get_contract", {"name": "BillingAPI"}))
        assert "'AuthAPI' has no version 3" in version
        assert "versions 1 to 2" in version
        assert "Omit 'version'" in version
        assert "No contract 'BillingAPI' in project 'alpha'" in contract
        assert "[unknown_contract]" in contract

    async def test_bad_arguments_are_refused_by_the_input_schema(
        self, alpha: Team, mode: str
    ) -> None:
        refused: list[tuple[dict[str, Any], str]] = [
            ({}, "name"),
            ({"name": ""}, "name"),
            ({"name": "x" * 121}, "name"),
            ({"name": "AuthAPI", "version": 0}, "version"),
            ({"name": "AuthAPI", "version": -1}, "version"),
            ({"name": "AuthAPI", "version": "latest"}, "version"),
        ]
        async with connect(alpha.token, mode) as client:
            for arguments, field in refused:
                text = error_of(await client.call_tool("get_contract", arguments))
                assert "validation error" in text, arguments
                assert field in text, arguments


class TestProjectBoundary:
    """Tools take no project argument: the token decides. An agent of another project asking
    for alpha's task keys or contract names is told they don't exist, and nothing changes."""

    @pytest.mark.parametrize("smuggled", [{}, {"project": "alpha"}], ids=["plain", "smuggled"])
    async def test_another_projects_agent_cannot_see_or_change_its_objects(
        self, alpha: Team, beta: Team, mode: str, smuggled: dict[str, str]
    ) -> None:
        calls: list[tuple[str, dict[str, Any]]] = [
            ("get_task", {"key": "P1-T1"}),
            ("claim_task", {"key": "P1-T1"}),
            ("update_task", {"key": "P1-T1", "status": "blocked", "title": "Taken over"}),
            ("get_contract", {"name": "AuthAPI"}),
        ]
        async with connect(beta.token, mode) as client:
            async with unchanged():
                texts = [
                    error_of(await client.call_tool(name, {**arguments, **smuggled}))
                    for name, arguments in calls
                ]
            who = content_of(await client.call_tool("whoami", smuggled))
            plan = content_of(await client.call_tool("get_plan", smuggled))

        for text in texts:
            assert "in project 'beta'" in text
            assert "alpha" not in text
            assert "[unknown_task]" in text or "[unknown_contract]" in text
        assert who["project"]["slug"] == "beta"
        assert plan["project"]["slug"] == "beta"
        assert [t["key"] for phase in plan["phases"] for t in phase["tasks"]] == ["B1-T1"]

    async def test_agents_with_the_same_name_in_two_projects_stay_apart(
        self, alpha: Team, beta: Team, mode: str
    ) -> None:
        await db(services.claim_task, agent=beta.agent, task_key="B1-T1")
        async with connect(alpha.token, mode) as client:
            who = content_of(await client.call_tool("whoami", {}))
        assert who["agent"]["name"] == beta.agent.name == "bot"
        assert who["project"]["slug"] == "alpha"
        assert who["my_tasks"] == []
        assert who["current_task"] is None
        task = await db(Task.objects.select_related("assignee").get, key="B1-T1")
        assert task.assignee == beta.agent
