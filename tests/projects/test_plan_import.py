"""Importing whole plans in one transaction, and exporting them back unchanged."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peercode.actors import Actor
from peercode.errors import Conflict, PermissionDenied
from peercode.events.models import Event
from projects import services
from projects.models import Contract, ContractVersion, Phase, Project, Task
from projects.plan_format import PlanSpec, load_plan_text, validate_plan_document
from tests.factories import SYSTEM, make_agent, make_contract, make_project, make_task

pytestmark = pytest.mark.django_db

DEMO_PLAN = Path(__file__).resolve().parents[2] / "examples" / "demo-plan.yaml"
_slugs = itertools.count(1)


def demo_plan() -> PlanSpec:
    return load_plan_text(DEMO_PLAN.read_text(encoding="utf-8"), source="demo-plan.yaml")


def small_plan(*keys: str, source: str = "small.yaml") -> PlanSpec:
    return validate_plan_document(
        {
            "phases": [{"number": 1, "name": "Only"}],
            "tasks": [{"key": key, "title": f"Do {key}", "phase": 1} for key in keys],
        },
        source=source,
    )


def fresh_slug() -> str:
    return f"fresh-{next(_slugs)}"


class TestImport:
    def test_writes_phases_tasks_dependencies_contracts_and_versions(self):
        project = make_project()
        result = services.import_plan(project=project, plan=demo_plan(), actor=SYSTEM)

        assert (result.phases_created, result.tasks_created, result.contracts_created) == (
            3,
            12,
            4,
        )
        assert list(Phase.objects.filter(project=project).values_list("number", "name")) == [
            (1, "Foundations"),
            (2, "Core features"),
            (3, "Polish and ship"),
        ]
        api = Task.objects.get(project=project, key="P2-T1")
        assert sorted(api.depends_on.values_list("key", flat=True)) == ["P1-T2", "P1-T3"]
        assert sorted(api.consumes.values_list("name", flat=True)) == ["AuthAPI", "TodoSchema"]
        assert api.phase.number == 2
        assert api.estimate == 3
        assert "backend/urls.py" in api.file_globs
        statuses = dict(Task.objects.filter(project=project).values_list("key", "status"))
        assert statuses["P1-T1"] == "done"
        assert {statuses[k] for k in ("P1-T2", "P1-T3", "P1-T4")} == {"ready"}
        assert statuses["P3-T3"] == "backlog"
        contract = Contract.objects.get(project=project, name="TodoAPI")
        assert contract.owner_task == api
        assert contract.kind == "api"
        (version,) = contract.versions.all()
        assert version.number == 1
        assert version.spec.startswith("All endpoints need a session")
        assert version.author == "tests"
        assert version.rationale == "Imported from demo-plan.yaml"
        assert (
            result.dependencies_created
            == Task.depends_on.through.objects.filter(from_task__project=project).count()
        )

    def test_records_one_event_with_the_counts_not_one_per_task(self):
        project = make_project()
        before = Event.objects.count()
        services.import_plan(project=project, plan=demo_plan(), actor=SYSTEM)
        (event,) = Event.objects.filter(project=project, type="plan.imported")
        assert Event.objects.count() == before + 1
        assert event.actor == "tests"
        assert event.subject == f"project:{project.slug}"
        assert event.payload == {
            "source": "demo-plan.yaml",
            "phases": 3,
            "tasks": 12,
            "dependencies": 15,
            "contracts": 4,
            "contract_versions": 4,
            "consumes": 11,
            "replaced": None,
        }

    def test_into_a_project_that_has_a_plan_is_refused_and_changes_nothing(self):
        project = make_project()
        make_task(project, "OLD")
        before = Event.objects.count()
        with pytest.raises(Conflict) as excinfo:
            services.import_plan(project=project, plan=small_plan("NEW"), actor=SYSTEM)
        assert excinfo.value.code == "plan_exists"
        assert "already has a plan (1 phases, 1 tasks, 0 contracts)" in excinfo.value.message
        assert "--replace" in excinfo.value.message
        assert list(Task.objects.filter(project=project).values_list("key", flat=True)) == ["OLD"]
        assert Event.objects.count() == before

    def test_into_a_project_with_only_a_phase_is_refused_too(self):
        project = make_project()
        services.add_phase(project=project, name="Early", number=1, actor=SYSTEM)
        with pytest.raises(Conflict, match="already has a plan"):
            services.import_plan(project=project, plan=small_plan("NEW"), actor=SYSTEM)

    def test_replace_deletes_the_old_plan_and_imports_the_new_one(self):
        project = make_project()
        agent, _ = make_agent(project, "alice")
        make_task(project, "OLD-1")
        make_task(project, "OLD-2", depends_on=["OLD-1"])
        make_contract(project, "OldAPI", owner="OLD-1")
        services.claim_task(agent=agent, task_key="OLD-1")

        result = services.import_plan(project=project, plan=demo_plan(), actor=SYSTEM, replace=True)

        keys = set(Task.objects.filter(project=project).values_list("key", flat=True))
        assert len(keys) == 12
        assert "OLD-1" not in keys
        assert not Contract.objects.filter(project=project, name="OldAPI").exists()
        assert not ContractVersion.objects.filter(contract__name="OldAPI").exists()
        assert result.tasks_replaced == 2
        (event,) = Event.objects.filter(project=project, type="plan.imported")
        assert event.payload["replaced"] == {"phases": 1, "tasks": 2, "contracts": 1}
        assert project.agents.filter(name="alice").exists(), "agents survive a replace"

    def test_leaves_other_projects_alone(self):
        other = make_project()
        make_task(other, "P1-T1")
        project = make_project()
        services.import_plan(project=project, plan=demo_plan(), actor=SYSTEM)
        services.import_plan(project=project, plan=small_plan("X"), actor=SYSTEM, replace=True)
        assert list(Task.objects.filter(project=other).values_list("key", flat=True)) == ["P1-T1"]

    def test_an_agent_may_give_its_own_empty_project_a_first_plan(self):
        project = make_project()
        agent, _ = make_agent(project, "planner")
        services.import_plan(project=project, plan=small_plan("A"), actor=Actor.for_agent(agent))
        assert Task.objects.filter(project=project).exists()
        assert Event.objects.get(project=project, type="plan.imported").actor == "agent:planner"

    def test_agents_cannot_replace_a_plan(self):
        project = make_project()
        services.import_plan(project=project, plan=small_plan("A"), actor=SYSTEM)
        agent, _ = make_agent(project)
        with pytest.raises(PermissionDenied, match="Agents cannot change the plan"):
            services.import_plan(
                project=project, plan=small_plan("B"), actor=Actor.for_agent(agent), replace=True
            )
        assert list(Task.objects.filter(project=project).values_list("key", flat=True)) == ["A"]

    def test_agents_cannot_import_into_another_project(self):
        project = make_project()
        outsider, _ = make_agent(make_project())
        with pytest.raises(PermissionDenied, match="another project"):
            services.import_plan(
                project=project, plan=small_plan("A"), actor=Actor.for_agent(outsider)
            )
        assert not Task.objects.filter(project=project).exists()

    def test_a_large_plan_takes_a_bounded_number_of_queries(self):
        count = 600
        document: dict[str, Any] = {
            "phases": [{"number": 1, "name": "One"}, {"number": 2, "name": "Two"}],
            "tasks": [
                {
                    "key": f"T{i}",
                    "title": f"Task {i}",
                    "phase": 1 + i % 2,
                    "depends_on": [f"T{i - 1}"] if i else [],
                    "consumes": ["API"] if i > 1 else [],
                }
                for i in range(count)
            ],
            "contracts": [{"name": "API", "owner": "T0", "spec": "GET /"}],
        }
        plan = validate_plan_document(document, source="big.yaml")
        project = make_project()
        with CaptureQueriesContext(connection) as queries:
            result = services.import_plan(project=project, plan=plan, actor=SYSTEM)
        assert result.tasks_created == count
        assert result.dependencies_created == count - 1
        assert len(queries) < 60, "the import must not run queries per task"


class TestCreateProjectFromPlan:
    def test_names_the_project_from_the_plan(self):
        result = services.create_project_from_plan(slug="todo", plan=demo_plan(), actor=SYSTEM)
        project = Project.objects.get(slug="todo")
        assert result.project == project
        assert project.name == "Demo: a todo app built by three agents"
        assert project.description.startswith("A multi-user todo list")
        assert project.integration_branch == "peer-progress"
        types = list(Event.objects.filter(project=project).values_list("type", flat=True))
        assert types == ["project.created", "plan.imported"]

    def test_without_a_project_section_the_name_is_the_slug(self):
        services.create_project_from_plan(slug="bare", plan=small_plan("A"), actor=SYSTEM)
        assert Project.objects.get(slug="bare").name == "bare"

    def test_a_taken_slug_writes_nothing(self):
        make_project(slug="taken")
        before = (Task.objects.count(), Event.objects.count())
        with pytest.raises(Conflict, match="already exists"):
            services.create_project_from_plan(slug="taken", plan=small_plan("A"), actor=SYSTEM)
        assert (Task.objects.count(), Event.objects.count()) == before


class TestExport:
    def test_export_import_export_gives_the_same_document(self):
        services.create_project_from_plan(slug="first", plan=demo_plan(), actor=SYSTEM)
        exported = services.export_plan(Project.objects.get(slug="first"))
        again = validate_plan_document(exported, source="export.yaml")
        services.create_project_from_plan(slug="second", plan=again, actor=SYSTEM)
        assert services.export_plan(Project.objects.get(slug="second")) == exported

    def test_export_of_the_demo_plan_reads_back_to_the_file_itself(self):
        services.create_project_from_plan(slug="demo-copy", plan=demo_plan(), actor=SYSTEM)
        exported = services.export_plan(Project.objects.get(slug="demo-copy"))
        assert validate_plan_document(exported, source="demo-plan.yaml") == demo_plan()

    def test_a_plan_built_by_hand_exports_its_latest_specs_and_work_in_flight_as_ready(self):
        project = make_project()
        agent, _ = make_agent(project)
        make_task(project, "A", file_globs=["src/a/**"], estimate=5)
        make_task(project, "B", phase=2, depends_on=["A"])
        contract = make_contract(project, "AuthAPI", owner="A", spec="v1")
        services.publish_contract_version(contract=contract, spec="v2", actor=SYSTEM)
        services.update_task(task=Task.objects.get(key="B"), consumes=["AuthAPI"], actor=SYSTEM)
        services.claim_task(agent=agent, task_key="A")

        document = services.export_plan(project)

        assert document["tasks"] == [
            {
                "key": "A",
                "title": "Task A",
                "phase": 1,
                "file_globs": ["src/a/**"],
                "provides": ["AuthAPI"],
                "estimate": 5,
            },
            {
                "key": "B",
                "title": "Task B",
                "phase": 2,
                "depends_on": ["A"],
                "consumes": ["AuthAPI"],
            },
        ]
        assert document["contracts"] == [
            {"name": "AuthAPI", "kind": "api", "owner": "A", "spec": "v2"}
        ]
        reimported = services.create_project_from_plan(
            slug=fresh_slug(),
            plan=validate_plan_document(document, source="export"),
            actor=SYSTEM,
        )
        assert services.export_plan(reimported.project) == document


# Random plans -----------------------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(
        categories=("L", "N", "P", "S", "Zs"), exclude_characters="\ufeff\u2028\u2029\x85"
    ),
    min_size=1,
    max_size=20,
).filter(str.strip)


@st.composite
def random_plans(draw: st.DrawFn) -> dict[str, Any]:
    """A valid plan document: a random DAG (dependencies only on earlier tasks), statuses
    consistent with it, globs, and contracts with owners and consumers."""
    phase_count = draw(st.integers(1, 3))
    task_count = draw(st.integers(1, 12))
    keys = [f"K{i}-{draw(st.sampled_from(['a', 'b', 'x.y', 'z_9']))}" for i in range(task_count)]
    done: set[str] = set()
    tasks: list[dict[str, Any]] = []
    for index, key in enumerate(keys):
        deps = draw(st.lists(st.sampled_from(keys[:index]), unique=True)) if index else []
        task: dict[str, Any] = {
            "key": key,
            "title": draw(_text),
            "phase": draw(st.integers(1, phase_count)),
            "depends_on": deps,
            "file_globs": draw(
                st.lists(st.sampled_from(["src/**", "docs/*.md", "src/api/x.py"]), unique=True)
            ),
            "estimate": draw(st.integers(1, 1000)),
        }
        if draw(st.booleans()):
            task["description"] = draw(_text) + "\n" + draw(_text)
        choices = ["backlog", "blocked"]
        if all(dep in done for dep in deps):
            choices += ["ready", "done"]
        status = draw(st.sampled_from([None, *choices]))
        if status is not None:
            task["status"] = status
        if status == "done":
            done.add(key)
        tasks.append(task)
    contracts: list[dict[str, Any]] = []
    for number in range(draw(st.integers(0, 3))):
        contract: dict[str, Any] = {
            "name": f"Contract {number}",
            "kind": draw(st.sampled_from(["api", "function", "schema", "event", "other"])),
        }
        owner = draw(st.none() | st.sampled_from(keys))
        if owner is not None:
            contract["owner"] = owner
        if draw(st.booleans()):
            contract["spec"] = draw(_text)
        contracts.append(contract)
        for task in tasks:
            if draw(st.booleans()):
                task.setdefault("consumes", []).append(contract["name"])
    return {
        "version": 1,
        "project": {"name": draw(_text)},
        "phases": [{"number": n, "name": draw(_text)} for n in range(1, phase_count + 1)],
        "tasks": tasks,
        "contracts": contracts,
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=random_plans())
def test_random_plans_round_trip_through_import_and_export_unchanged(document):
    plan = validate_plan_document(document, source="random.yaml")
    first = services.create_project_from_plan(slug=fresh_slug(), plan=plan, actor=SYSTEM)
    exported = services.export_plan(first.project)
    read_back = validate_plan_document(exported, source="random.yaml")
    assert (read_back.phases, read_back.tasks, read_back.contracts) == (
        plan.phases,
        plan.tasks,
        plan.contracts,
    )
    assert read_back.project.name == plan.project.name

    second = services.create_project_from_plan(
        slug=fresh_slug(), plan=validate_plan_document(exported, source="export"), actor=SYSTEM
    )
    assert services.export_plan(second.project) == exported
