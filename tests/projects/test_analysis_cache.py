"""The plan's analysis (waves, critical path, collisions) is computed once per revision of the
plan: a read after the first is served from the cache, and every change to what the analysis
reads is seen by the next read."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from peercode.errors import ValidationFailed
from projects import services
from projects.globs import GlobCollision
from projects.models import Project, Task
from projects.plan_format import validate_plan_document
from projects.selectors import analyse_plan
from tests.factories import SYSTEM, make_agent, make_project, make_task
from tests.projects.api_support import API, agent_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def project() -> Project:
    """A ← B, C: B's globs overlap A's."""
    project = make_project(slug="alpha")
    make_task(project, "A", file_globs=["src/api/**"])
    make_task(project, "B", depends_on=["A"], file_globs=["src/api/views.py"])
    make_task(project, "C", file_globs=["docs/**"])
    return project


def task(project: Project, key: str) -> Task:
    return Task.objects.get(project=project, key=key)


def collisions(project: Project) -> list[tuple[str, str]]:
    return [(c.first, c.second) for c in analyse_plan(project).collisions]


class TestAPlanReadAfterTheFirst:
    def test_is_served_from_the_cache_in_one_query(
        self, project: Project, django_assert_num_queries
    ) -> None:
        first = analyse_plan(project)
        with django_assert_num_queries(1):  # the plan's revision
            again = analyse_plan(project)
        assert again == first
        assert again.collisions == [GlobCollision("A", "B", (("src/api/**", "src/api/views.py"),))]
        assert again.collisions_complete

    def test_over_rest_reports_a_complete_collision_analysis(self, project: Project) -> None:
        _, token = make_agent(project, "bot")
        for _ in range(2):
            body = agent_client(token).get(f"{API}/projects/alpha/plan/").json()
            assert body["collisions"] == [
                {"first": "A", "second": "B", "globs": [["src/api/**", "src/api/views.py"]]}
            ]
            assert body["collisions_complete"] is True

    def test_is_not_changed_by_moving_a_task_along_its_statuses(
        self, project: Project, django_assert_num_queries
    ) -> None:
        before = analyse_plan(project)
        agent, _ = make_agent(project, "bot")
        services.claim_task(agent=agent, task_key="C")
        services.change_task_status(task=task(project, "C"), status="review", actor=SYSTEM)
        with django_assert_num_queries(1):
            assert analyse_plan(project) == before


# Each change, and what the next read must show.
CHANGES: list[tuple[str, Callable[[Project], object], Callable[[Project], object]]] = [
    (
        "a new task",
        lambda p: make_task(p, "D", file_globs=["docs/intro.md"]),
        lambda p: collisions(p) == [("A", "B"), ("C", "D")],
    ),
    (
        "new globs",
        lambda p: services.update_task(task=task(p, "C"), actor=SYSTEM, file_globs=["src/**"]),
        lambda p: collisions(p) == [("A", "B"), ("A", "C"), ("B", "C")],
    ),
    (
        "an estimate",
        lambda p: services.update_task(task=task(p, "C"), actor=SYSTEM, estimate=9),
        lambda p: analyse_plan(p).critical_path.keys == ["C"],
    ),
    (
        "dependencies",
        lambda p: services.update_task(task=task(p, "C"), actor=SYSTEM, depends_on=["B"]),
        lambda p: analyse_plan(p).waves == [["A"], ["B"], ["C"]],
    ),
    (
        "a phase",
        lambda p: (
            services.add_phase(project=p, name="Later", actor=SYSTEM),
            services.update_task(task=task(p, "A"), actor=SYSTEM, phase_number=2),
        ),
        lambda p: analyse_plan(p).waves == [["C", "A"], ["B"]],
    ),
    (
        "a replaced plan",
        lambda p: services.import_plan(
            project=p,
            plan=validate_plan_document(
                {
                    "phases": [{"number": 1, "name": "Only"}],
                    "tasks": [{"key": "X", "title": "x", "phase": 1, "file_globs": ["**"]}],
                },
                source="plan.yaml",
            ),
            actor=SYSTEM,
            replace=True,
        ),
        lambda p: analyse_plan(p).waves == [["X"]],
    ),
]


@pytest.mark.parametrize(("change", "apply", "shows"), CHANGES, ids=[c[0] for c in CHANGES])
def test_every_change_the_analysis_reads_is_seen_by_the_next_read(
    project: Project,
    change: str,
    apply: Callable[[Project], object],
    shows: Callable[[Project], bool],
) -> None:
    analyse_plan(project)  # now cached
    apply(project)
    assert shows(project), change


def test_a_refused_change_leaves_the_cached_analysis_in_place(
    project: Project, django_assert_num_queries
) -> None:
    before = analyse_plan(project)
    revision = Project.objects.get(pk=project.pk).plan_revision
    with pytest.raises(ValidationFailed):
        services.update_task(task=task(project, "C"), actor=SYSTEM, file_globs=["/etc/**"])
    assert Project.objects.get(pk=project.pk).plan_revision == revision
    with django_assert_num_queries(1):
        assert analyse_plan(project) == before


def test_a_project_in_place_of_a_deleted_one_gets_its_own_analysis(project: Project) -> None:
    # A cache (Redis) outlives the database rows it saw, and a new row may reuse an old pk.
    assert collisions(project) == [("A", "B")]
    pk, revision = project.pk, Project.objects.get(pk=project.pk).plan_revision
    services.delete_project(project=project, actor=SYSTEM)
    newcomer = make_project(slug="beta")
    Project.objects.filter(pk=newcomer.pk).update(id=pk, plan_revision=revision)
    newcomer = Project.objects.get(pk=pk)
    assert analyse_plan(newcomer).collisions == []
