"""The limits on a task's file globs (docs/limits.md, "Plan globs"): refused at every way in
with the limit named and nothing written, and a plan stored before them still reads.

Before the limits, one agent could give its task globs such as ``*a*a*a…*x/**`` that made
every plan read compare each pair for about a quarter of a million steps.
"""

from __future__ import annotations

import pytest

from deltas.services import push_delta
from peercode.actors import Actor
from peercode.errors import ValidationFailed
from projects import services
from projects.globs import (
    MAX_FILE_GLOBS,
    MAX_GLOB_LENGTH,
    MAX_GLOB_SEGMENTS,
    MAX_GLOB_WILDCARDS,
    Wildcards,
    analysed_form,
)
from projects.models import Task
from projects.plan_format import PlanInvalid, validate_plan_document
from tests.factories import SYSTEM, make_agent, make_project, make_task
from tests.peercode import mcp_support
from tests.projects.api_support import API, agent_client, error_of, unchanged

pytestmark = pytest.mark.django_db

# Like the example: 249 runs of stars in 499 characters.
WILDCARD_HEAVY = "*a" * 247 + "*x/**"
TOO_LONG = "src/" + "a" * MAX_GLOB_LENGTH
TOO_DEEP = "/".join(["d"] * (MAX_GLOB_SEGMENTS + 1))
TOO_WILD = "src/" + "?" * (MAX_GLOB_WILDCARDS + 1)
TOO_MANY = [f"src/m{index}/**" for index in range(MAX_FILE_GLOBS + 1)]

# (globs, what the error names)
OVER_THE_LIMITS = [
    pytest.param([WILDCARD_HEAVY], "249 wildcards, over the limit of 16", id="wildcards"),
    pytest.param([TOO_WILD], "17 wildcards, over the limit of 16", id="question-marks"),
    pytest.param([TOO_LONG], "504 characters long, over the limit of 500", id="length"),
    pytest.param([TOO_DEEP], "33 segments, over the limit of 32", id="segments"),
    pytest.param(TOO_MANY, "13 file globs, over the limit of 12 per task", id="count"),
]


@pytest.fixture
def claimed():
    """Project 'alpha' with task T1 (globs src/api/**) claimed by agent bot."""
    project = make_project(slug="alpha")
    make_task(project, "T1", file_globs=["src/api/**"])
    bot, token = make_agent(project, "bot")
    services.claim_task(agent=bot, task_key="T1")
    return project, bot, token


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class TestEveryWayInRefusesGlobsOverTheLimits:
    @pytest.mark.anyio
    @pytest.mark.django_db(transaction=True)
    async def test_an_agent_editing_its_task_over_mcp(self) -> None:
        team = await mcp_support.db(mcp_support.make_team, "alpha")
        await mcp_support.db(services.claim_task, agent=team.agent, task_key="P1-T1")
        globs = [WILDCARD_HEAVY, *(f"src/m{index}/**" for index in range(MAX_FILE_GLOBS))]
        async with (
            mcp_support.connect(team.token, "2026-07-28") as client,
            mcp_support.unchanged(),
        ):
            text = mcp_support.error_of(
                await client.call_tool("update_task", {"key": "P1-T1", "file_globs": globs})
            )
        assert "249 wildcards, over the limit of 16" in text
        assert "13 file globs, over the limit of 12 per task" in text

    @pytest.mark.parametrize(("globs", "named"), OVER_THE_LIMITS)
    def test_an_agent_editing_its_task_over_rest(self, claimed, globs, named) -> None:
        _, _, token = claimed
        with unchanged():
            error = error_of(
                agent_client(token).patch(
                    f"{API}/projects/alpha/tasks/T1/", {"file_globs": globs}, format="json"
                ),
                400,
                "invalid_globs",
            )
        assert named in error["message"]
        assert "e.g. 'src/api/**'" in error["message"]

    @pytest.mark.parametrize(("globs", "named"), OVER_THE_LIMITS)
    def test_adding_a_task(self, claimed, globs, named) -> None:
        project, _, _ = claimed
        with unchanged(), pytest.raises(ValidationFailed, match=named):
            services.add_task(
                project=project, key="T2", title="x", phase_number=1, actor=SYSTEM, file_globs=globs
            )

    @pytest.mark.parametrize(("globs", "named"), OVER_THE_LIMITS)
    def test_a_plan_file(self, globs, named) -> None:
        document = {
            "phases": [{"number": 1, "name": "Build"}],
            "tasks": [{"key": "A", "title": "Model", "phase": 1, "file_globs": globs}],
        }
        with pytest.raises(PlanInvalid) as raised:
            validate_plan_document(document, source="plan.yaml")
        (error,) = raised.value.errors
        assert str(error).startswith("plan.yaml: tasks[0] (A): ")
        assert named in str(error)

    def test_every_glob_over_a_limit_is_named_not_just_the_first(self, claimed) -> None:
        _, _, token = claimed
        error = error_of(
            agent_client(token).patch(
                f"{API}/projects/alpha/tasks/T1/",
                {"file_globs": [TOO_LONG, "web/**", TOO_DEEP]},
                format="json",
            ),
            400,
            "invalid_globs",
        )
        assert "504 characters" in error["message"]
        assert "33 segments" in error["message"]
        assert len(error["details"]["problems"]) == 2

    def test_a_pushed_delta_path_is_held_to_the_same_glob_limits(self, claimed) -> None:
        project, bot, _ = claimed
        with unchanged(), pytest.raises(ValidationFailed, match="over the limit of 16"):
            push_delta(
                project=project,
                actor=Actor.for_agent(bot),
                kind="decision",
                significance="normal",
                summary="Touched everything",
                paths=[WILDCARD_HEAVY],
            )

    def test_globs_at_every_limit_are_accepted(self, claimed) -> None:
        project, _, _ = claimed
        # 1 + 5 * 3 wildcards, 1 + 5 + 25 + 1 segments, 500 characters.
        at_the_limits = "/".join(["**", *["*a?b*"] * 5, *["d"] * (MAX_GLOB_SEGMENTS - 7)])
        at_the_limits += "/" + "x" * (MAX_GLOB_LENGTH - len(at_the_limits) - 1)
        assert len(at_the_limits) == MAX_GLOB_LENGTH
        assert analysed_form(at_the_limits)[-1].startswith("x")  # read as it is, not widened
        globs = [at_the_limits] + [f"src/m{index}/**" for index in range(MAX_FILE_GLOBS - 1)]
        task = Task.objects.get(project=project, key="T1")
        services.update_task(task=task, actor=SYSTEM, file_globs=globs)
        assert Task.objects.get(pk=task.pk).file_globs == globs


class TestAPlanStoredBeforeTheLimits:
    def test_still_reads_and_reports_its_collisions_conservatively(self, claimed) -> None:
        project, _, token = claimed
        make_task(project, "T2", file_globs=["docs/intro.md"])
        make_task(project, "T3", file_globs=["box/readme.md"])
        # Globs saved before the limits existed (the services refuse them now).
        Task.objects.filter(project=project, key="T1").update(
            file_globs=[WILDCARD_HEAVY, "src/" + "*b" * 100 + "/x.py"]
        )
        response = agent_client(token).get(f"{API}/projects/alpha/plan/")
        assert response.status_code == 200, response.content
        # Read as '*x/**' and 'src/*b/x.py': wider than they were, so no collision is missed.
        assert response.json()["collisions"] == [
            {"first": "T1", "second": "T3", "globs": [[WILDCARD_HEAVY, "box/readme.md"]]}
        ]
        assert response.json()["collisions_complete"] is True

    @pytest.mark.parametrize(
        ("glob", "read_as"),
        [
            ("src/api/" + "*a" * 20 + "/x.py", ("src", "api", Wildcards("*a"), "x.py")),
            ("src/" + "?" * 20, ("src", None)),
            ("a" * 10_000, (None,)),
            (
                "/".join(f"d{index}" for index in range(40)),
                (*(f"d{index}" for index in range(MAX_GLOB_SEGMENTS - 1)), None),
            ),
        ],
        ids=["stars", "question-marks", "length", "segments"],
    )
    def test_a_glob_over_the_limits_is_read_as_a_wider_glob_within_them(
        self, glob: str, read_as: tuple[object, ...]
    ) -> None:
        assert analysed_form(glob) == read_as
