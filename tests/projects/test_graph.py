from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projects.graph import CriticalPath, critical_path, find_cycle, waves

DIAMOND = {"A": [], "B": ["A"], "C": ["A"], "D": ["B", "C"]}


class TestWaves:
    def test_diamond_runs_its_two_middle_tasks_in_parallel(self) -> None:
        assert waves(DIAMOND) == [["A"], ["B", "C"], ["D"]]

    def test_tasks_in_a_wave_keep_plan_order(self) -> None:
        plan = {"Z": [], "Y": ["Z"], "X": ["Z"], "W": []}
        assert waves(plan) == [["Z", "W"], ["Y", "X"]]

    def test_disconnected_components_share_waves(self) -> None:
        plan = {"A1": [], "A2": ["A1"], "A3": ["A2"], "B1": [], "B2": ["B1"], "C": []}
        assert waves(plan) == [["A1", "B1", "C"], ["A2", "B2"], ["A3"]]

    def test_a_task_waits_for_its_latest_dependency(self) -> None:
        plan = {"A": [], "B": ["A"], "C": ["B"], "D": ["A", "C"]}
        assert waves(plan) == [["A"], ["B"], ["C"], ["D"]]

    def test_empty_plan_and_single_task(self) -> None:
        assert waves({}) == []
        assert waves({"only": []}) == [["only"]]

    def test_a_cycle_is_refused_with_the_cycle_named(self) -> None:
        plan = {"A": [], "B": ["A", "D"], "C": ["B"], "D": ["C"]}
        with pytest.raises(ValueError, match="B → D → C → B"):
            waves(plan)

    def test_deep_chain_needs_no_recursion(self) -> None:
        plan = {f"T{i}": [f"T{i - 1}"] if i else [] for i in range(10_000)}
        layers = waves(plan)
        assert len(layers) == 10_000
        assert layers[-1] == ["T9999"]


class TestFindCycle:
    def test_acyclic_plans_have_no_cycle(self) -> None:
        assert find_cycle(DIAMOND) is None
        assert find_cycle({}) is None

    def test_cycle_is_listed_from_a_task_back_to_itself(self) -> None:
        assert find_cycle({"A": ["B"], "B": ["C"], "C": ["A"]}) == ["A", "B", "C", "A"]

    def test_self_dependency_is_a_cycle(self) -> None:
        assert find_cycle({"A": ["A"]}) == ["A", "A"]

    def test_cycle_at_the_end_of_a_deep_chain_is_found(self) -> None:
        plan = {f"T{i}": [f"T{i + 1}"] for i in range(10_000)}
        plan["T10000"] = ["T9998"]
        assert find_cycle(plan) == ["T9998", "T9999", "T10000", "T9998"]


class TestCriticalPath:
    def test_heavier_branch_of_a_diamond_is_critical(self) -> None:
        path = critical_path(DIAMOND, {"A": 1, "B": 1, "C": 5, "D": 2})
        assert path == CriticalPath(keys=["A", "C", "D"], length=8)

    def test_equal_branches_are_broken_by_plan_order(self) -> None:
        assert critical_path(DIAMOND).keys == ["A", "B", "D"]
        assert critical_path({"X": [], "Y": []}) == CriticalPath(keys=["X"], length=1)

    def test_shorter_chain_of_heavier_tasks_beats_a_longer_light_one(self) -> None:
        plan = {"A1": [], "A2": ["A1"], "A3": ["A2"], "B1": [], "B2": ["B1"]}
        estimates = {"A1": 1, "A2": 1, "A3": 1, "B1": 5, "B2": 5}
        assert critical_path(plan, estimates) == CriticalPath(keys=["B1", "B2"], length=10)

    def test_without_estimates_every_task_counts_one(self) -> None:
        plan = {"A1": [], "A2": ["A1"], "A3": ["A2"], "B1": [], "B2": ["B1"]}
        assert critical_path(plan) == CriticalPath(keys=["A1", "A2", "A3"], length=3)

    def test_empty_plan_and_single_task(self) -> None:
        assert critical_path({}) == CriticalPath(keys=[], length=0)
        assert critical_path({"only": []}, {"only": 4}) == CriticalPath(keys=["only"], length=4)

    def test_deep_chain_needs_no_recursion(self) -> None:
        plan = {f"T{i}": [f"T{i - 1}"] if i else [] for i in range(10_000)}
        path = critical_path(plan, dict.fromkeys(plan, 2))
        assert path.length == 20_000
        assert path.keys[0] == "T0"
        assert path.keys[-1] == "T9999"

    def test_a_cycle_is_refused(self) -> None:
        with pytest.raises(ValueError, match="dependency cycle"):
            critical_path({"A": ["B"], "B": ["A"]})


@st.composite
def dags(draw: st.DrawFn) -> tuple[dict[str, list[str]], dict[str, int]]:
    """A random DAG: task i may depend on tasks created before it, listed in a shuffled plan
    order so that dependencies can come later in the plan than their dependents."""
    size = draw(st.integers(min_value=0, max_value=9))
    created = [f"T{i}" for i in range(size)]
    depends_on = {
        key: draw(st.lists(st.sampled_from(created[:i]), unique=True)) if i else []
        for i, key in enumerate(created)
    }
    plan_order = draw(st.permutations(created))
    estimates = {key: draw(st.integers(min_value=1, max_value=9)) for key in created}
    return {key: depends_on[key] for key in plan_order}, estimates


class TestGraphProperties:
    @given(dags())
    def test_waves_place_every_task_once_one_wave_after_its_latest_dependency(
        self, dag: tuple[dict[str, list[str]], dict[str, int]]
    ) -> None:
        depends_on, _ = dag
        layers = waves(depends_on)
        wave_of = {key: number for number, layer in enumerate(layers) for key in layer}
        assert sorted(key for layer in layers for key in layer) == sorted(depends_on)
        for key, deps in depends_on.items():
            assert wave_of[key] == max((wave_of[dep] + 1 for dep in deps), default=0)
        order = list(depends_on)
        for layer in layers:
            assert layer == sorted(layer, key=order.index)

    @given(dags())
    def test_critical_path_is_a_heaviest_dependency_chain(
        self, dag: tuple[dict[str, list[str]], dict[str, int]]
    ) -> None:
        depends_on, estimates = dag

        @cache
        def heaviest_chain_ending_at(key: str) -> int:
            deps = depends_on[key]
            return estimates[key] + max(map(heaviest_chain_ending_at, deps), default=0)

        path = critical_path(depends_on, estimates)
        assert path.length == max(map(heaviest_chain_ending_at, depends_on), default=0)
        assert path.length == sum(estimates[key] for key in path.keys)
        for earlier, later in zip(path.keys, path.keys[1:], strict=False):
            assert earlier in depends_on[later]
        assert find_cycle(depends_on) is None
