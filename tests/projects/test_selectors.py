from __future__ import annotations

import pytest

from projects.globs import GlobCollision
from projects.graph import CriticalPath
from projects.models import Project
from projects.selectors import PlanGraph, analyse_plan, plan_graph
from tests.factories import make_project, make_task

pytestmark = pytest.mark.django_db


def build_diamond(project: Project) -> None:
    make_task(project, "A", file_globs=["src/api/**"])
    make_task(project, "B", depends_on=["A"], file_globs=["src/api/views.py"], estimate=2)
    make_task(project, "C", depends_on=["A"], file_globs=["web/**"], estimate=5)
    make_task(project, "D", phase=2, depends_on=["B", "C"], file_globs=["docs/*.md", "web/"])


class TestPlanGraph:
    def test_loads_keys_in_plan_order_with_dependencies_estimates_and_globs(self) -> None:
        project = make_project()
        make_task(project, "LATE", phase=2)
        make_task(project, "EARLY", phase=1, file_globs=["src/**"], estimate=3)
        make_task(project, "NEXT", phase=1, depends_on=["EARLY"])
        assert plan_graph(project) == PlanGraph(
            depends_on={"EARLY": [], "NEXT": ["EARLY"], "LATE": []},
            estimates={"EARLY": 3, "NEXT": 1, "LATE": 1},
            file_globs={"EARLY": ["src/**"], "NEXT": [], "LATE": []},
        )

    def test_dependencies_are_listed_in_plan_order_whatever_order_they_were_given_in(
        self,
    ) -> None:
        project = make_project()
        make_task(project, "C", phase=3)
        make_task(project, "B", phase=2)
        make_task(project, "A", phase=1)
        make_task(project, "D", phase=3, depends_on=["C", "B", "A"])
        assert plan_graph(project).depends_on["D"] == ["A", "B", "C"]

    def test_sees_only_its_own_project(self) -> None:
        project, other = make_project(), make_project()
        make_task(project, "A")
        make_task(other, "A")
        make_task(other, "B", depends_on=["A"])
        assert plan_graph(project).depends_on == {"A": []}

    @pytest.mark.parametrize("size", [3, 40])
    def test_takes_two_queries_whatever_the_plan_size(
        self, size: int, django_assert_max_num_queries
    ) -> None:
        project = make_project()
        for index in range(size):
            deps = [f"T{index - 2}", f"T{index - 1}"] if index > 1 else []
            make_task(project, f"T{index}", depends_on=deps, file_globs=[f"src/m{index}/**"])
        with django_assert_max_num_queries(2):
            graph = plan_graph(project)
        assert len(graph.depends_on) == size
        assert sum(map(len, graph.depends_on.values())) == 2 * (size - 2)


class TestAnalysePlan:
    def test_diamond_has_waves_a_weighted_critical_path_and_colliding_tasks(self) -> None:
        project = make_project()
        build_diamond(project)
        analysis = analyse_plan(project)
        assert analysis.waves == [["A"], ["B", "C"], ["D"]]
        assert analysis.wave_of() == {"A": 1, "B": 2, "C": 2, "D": 3}
        assert analysis.critical_path == CriticalPath(keys=["A", "C", "D"], length=7)
        assert analysis.collisions == [
            GlobCollision("A", "B", (("src/api/**", "src/api/views.py"),)),
            GlobCollision("C", "D", (("web/**", "web/"),)),
        ]

    def test_empty_project_has_an_empty_shape(self) -> None:
        analysis = analyse_plan(make_project())
        assert analysis.waves == []
        assert analysis.critical_path == CriticalPath(keys=[], length=0)
        assert analysis.collisions == []
