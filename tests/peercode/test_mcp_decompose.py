"""The decompose_project MCP tool: an agent gives its own empty project a first plan.

The Anthropic SDK talks to ``tests.projects.test_api_plan``'s stand-in for the Messages API, a
real HTTP server on a local port that ``ANTHROPIC_BASE_URL`` points the SDK at; the tool, the
service and the SDK run unchanged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from peercode.events.models import Event
from projects.models import DecompositionOutcome, DecompositionRun, Task
from tests.factories import make_agent, make_project
from tests.peercode.mcp_support import Team, connect, content_of, db, error_of, unchanged
from tests.projects.test_api_plan import PLAN, FakeAnthropic, anthropic_api  # noqa: F401

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

DESCRIPTION = "A todo app with accounts: Django backend, JSON API, small htmx frontend."


@pytest.fixture
def newcomer(transactional_db: None) -> tuple[str, str]:
    """The slug of a project without a plan, and its agent's token."""
    project = make_project(slug="gamma")
    return project.slug, make_agent(project, "planner")[1]


class TestDecomposeProject:
    async def test_the_models_plan_is_imported_and_progress_is_reported(
        self,
        newcomer: tuple[str, str],
        anthropic_api: FakeAnthropic,  # noqa: F811
        mode: str,
    ) -> None:
        slug, token = newcomer
        anthropic_api.stream_tool_use(PLAN)
        reports: list[tuple[float, float | None, str | None]] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            reports.append((progress, total, message))

        async with connect(token, mode) as client:
            result = await client.call_tool(
                "decompose_project", {"description": DESCRIPTION}, progress_callback=on_progress
            )
            plan = content_of(await client.call_tool("get_plan", {}))

        run = content_of(result)
        assert run["outcome"] == "succeeded"
        assert run["tasks_created"] == 3
        assert (run["input_tokens"], run["output_tokens"]) == (120, 345)
        assert plan["waves"] == [["P1-T1", "P1-T2"], ["P2-T1"]]

        stored = await db(DecompositionRun.objects.get, pk=run["run"])
        assert stored.outcome == DecompositionOutcome.SUCCEEDED
        assert stored.requested_by == "agent:planner"
        assert await db(Task.objects.filter(project__slug=slug).count) == 3
        (sent,) = anthropic_api.requests
        assert DESCRIPTION in json.dumps(sent["messages"])

        assert [progress for progress, _, _ in reports] == list(range(1, len(reports) + 1))
        messages = [message or "" for _, _, message in reports]
        assert messages[0].startswith("asking ")
        assert "the model is writing the plan…" in messages
        assert messages[-1] == "imported 3 tasks"

    async def test_without_an_api_key_the_error_says_how_to_set_one(
        self, newcomer: tuple[str, str], settings: Any, mode: str
    ) -> None:
        settings.ANTHROPIC_API_KEY = ""
        _slug, token = newcomer
        async with connect(token, mode) as client, unchanged():
            text = error_of(
                await client.call_tool("decompose_project", {"description": DESCRIPTION})
            )
        assert "export ANTHROPIC_API_KEY=sk-ant-" in text
        assert "plan import" in text
        assert "[no_api_key]" in text

    async def test_a_project_that_has_a_plan_is_refused_before_the_model_is_asked(
        self,
        alpha: Team,
        anthropic_api: FakeAnthropic,  # noqa: F811
        mode: str,
    ) -> None:
        async with connect(alpha.token, mode) as client, unchanged():
            text = error_of(
                await client.call_tool("decompose_project", {"description": DESCRIPTION})
            )
        assert "Project 'alpha' already has a plan" in text
        assert "[plan_exists]" in text
        assert anthropic_api.requests == []

    async def test_a_bad_description_is_refused_before_the_model_is_asked(
        self,
        newcomer: tuple[str, str],
        anthropic_api: FakeAnthropic,  # noqa: F811
        mode: str,
    ) -> None:
        _slug, token = newcomer
        refused: list[tuple[dict[str, Any], str]] = [
            ({}, "validation error"),
            ({"description": ""}, "validation error"),
            ({"description": "d" * 50001}, "validation error"),
            ({"description": 42}, "validation error"),
            ({"description": "   "}, "description is empty"),
        ]
        async with connect(token, mode) as client, unchanged():
            for arguments, says in refused:
                text = error_of(await client.call_tool("decompose_project", arguments))
                assert says in text, arguments
                assert "description" in text, arguments
        assert anthropic_api.requests == []

    async def test_an_api_failure_is_an_error_with_advice_and_the_run_is_recorded(
        self,
        newcomer: tuple[str, str],
        anthropic_api: FakeAnthropic,  # noqa: F811
    ) -> None:
        slug, token = newcomer
        anthropic_api.error(401, "authentication_error", "invalid x-api-key")
        async with connect(token, "legacy") as client:
            text = error_of(
                await client.call_tool("decompose_project", {"description": DESCRIPTION})
            )
        assert "ANTHROPIC_API_KEY" in text
        assert "[upstream_failed]" in text
        run = await db(DecompositionRun.objects.get, project__slug=slug)
        assert run.outcome == DecompositionOutcome.FAILED
        assert await db(Task.objects.filter(project__slug=slug).exists) is False
        finished = await db(Event.objects.get, project__slug=slug, type="decomposition.finished")
        assert finished.payload["outcome"] == "failed"
