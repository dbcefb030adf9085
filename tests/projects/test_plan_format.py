"""Reading and checking plan documents: every problem named by file, item and what is wrong."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from projects.plan_format import (
    PLAN_JSON_SCHEMA,
    PlanInvalid,
    PlanSpec,
    dump_plan_document,
    load_plan_text,
    plan_to_document,
    validate_plan_document,
)

DEMO_PLAN = Path(__file__).resolve().parents[2] / "examples" / "demo-plan.yaml"

BASE: dict[str, Any] = {
    "version": 1,
    "phases": [{"number": 1, "name": "Build"}, {"number": 2, "name": "Ship"}],
    "tasks": [
        {"key": "A", "title": "Model", "phase": 1, "provides": ["Schema"]},
        {"key": "B", "title": "API", "phase": 1, "depends_on": ["A"], "consumes": ["Schema"]},
        {"key": "C", "title": "Deploy", "phase": 2, "depends_on": ["B"]},
    ],
    "contracts": [{"name": "Schema", "kind": "schema", "spec": "Todo: id, title"}],
}


def plan(edit: Callable[[dict[str, Any]], object] | None = None) -> dict[str, Any]:
    document = copy.deepcopy(BASE)
    if edit is not None:
        edit(document)
    return document


def problems(document: Any, source: str = "plan.yaml") -> list[str]:
    with pytest.raises(PlanInvalid) as excinfo:
        validate_plan_document(document, source=source)
    return [str(error) for error in excinfo.value.errors]


def task(document: dict[str, Any], key: str) -> dict[str, Any]:
    return next(t for t in document["tasks"] if t["key"] == key)


class TestAGoodPlan:
    def test_is_read_into_specs_with_computed_statuses_and_owners(self):
        spec = validate_plan_document(plan(), source="plan.yaml")
        assert spec.source == "plan.yaml"
        assert [p.number for p in spec.phases] == [1, 2]
        assert [(t.key, t.status) for t in spec.tasks] == [
            ("A", "ready"),
            ("B", "backlog"),
            ("C", "backlog"),
        ]
        assert spec.tasks[1].depends_on == ("A",)
        assert spec.contracts[0].owner == "A"
        assert spec.contracts[0].spec == "Todo: id, title"

    def test_a_done_dependency_makes_its_dependents_ready(self):
        spec = validate_plan_document(
            plan(lambda d: task(d, "A").update(status="done")), source="plan.yaml"
        )
        assert [t.status for t in spec.tasks] == ["done", "ready", "backlog"]

    def test_owner_on_the_contract_and_provides_on_the_task_mean_the_same(self):
        def owner_instead_of_provides(document: dict[str, Any]) -> None:
            del task(document, "A")["provides"]
            document["contracts"][0]["owner"] = "A"

        by_provides = validate_plan_document(plan(), source="plan.yaml")
        by_owner = validate_plan_document(plan(owner_instead_of_provides), source="plan.yaml")
        assert by_owner == by_provides
        assert by_owner.tasks[0].provides == ("Schema",)

    def test_backslashes_in_globs_become_slashes_and_repeats_count_once(self):
        spec = validate_plan_document(
            plan(lambda d: task(d, "A").update(file_globs=["src\\models\\**", "src/models/**"])),
            source="plan.yaml",
        )
        assert spec.tasks[0].file_globs == ("src/models/**",)

    def test_yaml_and_json_of_one_plan_give_the_same_spec(self):
        from_yaml = load_plan_text(yaml.safe_dump(plan()), source="plan.yaml")
        from_json = load_plan_text(json.dumps(plan()), source="plan.yaml.json")
        assert from_yaml.tasks == from_json.tasks
        assert from_yaml.contracts == from_json.contracts

    def test_json_is_recognised_by_its_opening_brace_whatever_the_suffix(self):
        spec = load_plan_text(json.dumps(plan()), source="plan.txt")
        assert len(spec.tasks) == 3

    def test_the_demo_plan_is_valid(self):
        spec = load_plan_text(DEMO_PLAN.read_text(encoding="utf-8"), source="demo-plan.yaml")
        assert len(spec.phases) == 3
        assert len(spec.tasks) == 12
        assert len(spec.contracts) == 4
        assert all(contract.spec and contract.owner for contract in spec.contracts)
        ready = [t.key for t in spec.tasks if t.status == "ready"]
        assert len(ready) >= 3, "the demo should show several tasks runnable in parallel"


class TestEachProblemNamesFileItemAndWhatIsWrong:
    @pytest.mark.parametrize(
        ("edit", "expected"),
        [
            pytest.param(
                lambda d: task(d, "B").update(depends_on=["A", "Z9"]),
                "plan.yaml: tasks[1] (B): depends_on: unknown task key Z9",
                id="unknown-dependency",
            ),
            pytest.param(
                lambda d: task(d, "A").update(depends_on=["C"]),
                "plan.yaml: tasks[0] (A): dependency cycle A → C → B → A",
                id="cycle",
            ),
            pytest.param(
                lambda d: task(d, "C").update(depends_on=["C"]),
                "plan.yaml: tasks[2] (C): dependency cycle C → C",
                id="self-dependency",
            ),
            pytest.param(
                lambda d: task(d, "C").update(key="A"),
                "plan.yaml: tasks[2] (A): duplicate task key 'A' (also tasks[0])",
                id="duplicate-task-key",
            ),
            pytest.param(
                lambda d: d["phases"][1].update(number=1),
                "plan.yaml: phases[1] (1): duplicate phase number 1 (also phases[0])",
                id="duplicate-phase",
            ),
            pytest.param(
                lambda d: d["contracts"].append({"name": "Schema"}),
                "plan.yaml: contracts[1] (Schema): duplicate contract name 'Schema' (also "
                "contracts[0])",
                id="duplicate-contract",
            ),
            pytest.param(
                lambda d: task(d, "A").update(status="finished"),
                "plan.yaml: tasks[0] (A): unknown status 'finished'; use one of backlog, "
                "ready, blocked, done",
                id="unknown-status",
            ),
            pytest.param(
                lambda d: task(d, "A").update(status="in_progress"),
                "plan.yaml: tasks[0] (A): status in_progress needs an assignee",
                id="in-progress-status",
            ),
            pytest.param(
                lambda d: task(d, "B").update(status="ready"),
                "plan.yaml: tasks[1] (B): status ready needs every dependency done, but A is not",
                id="ready-before-dependencies",
            ),
            pytest.param(
                lambda d: task(d, "B").update(status="done"),
                "plan.yaml: tasks[1] (B): status done needs every dependency done",
                id="done-before-dependencies",
            ),
            pytest.param(
                lambda d: task(d, "A").update(dependencies=["B"]),
                "plan.yaml: tasks[0] (A): unknown field 'dependencies' (did you mean "
                "'depends_on'?); allowed: key, title, phase, description, depends_on, "
                "file_globs, provides, consumes, estimate, status",
                id="unknown-field",
            ),
            pytest.param(
                lambda d: d.update(owner="me"),
                "plan.yaml: document: unknown field 'owner'; allowed: version, project, phases, "
                "tasks, contracts",
                id="unknown-top-level-field",
            ),
            pytest.param(
                lambda d: task(d, "A").update(title=42),
                "plan.yaml: tasks[0] (A): title must be a string, got integer 42",
                id="title-not-a-string",
            ),
            pytest.param(
                lambda d: task(d, "A").update(estimate="big"),
                "plan.yaml: tasks[0] (A): estimate must be a whole number, got string 'big'",
                id="estimate-not-a-number",
            ),
            pytest.param(
                lambda d: task(d, "A").update(estimate=1001),
                "plan.yaml: tasks[0] (A): estimate must be between 1 and 1000, got 1001",
                id="estimate-too-big",
            ),
            pytest.param(
                lambda d: task(d, "A").update(phase=True),
                "plan.yaml: tasks[0] (A): phase must be a whole number, got boolean True",
                id="phase-boolean",
            ),
            pytest.param(
                lambda d: task(d, "B").update(depends_on="A"),
                "plan.yaml: tasks[1] (B): depends_on must be a list of strings, got string 'A'",
                id="depends-on-not-a-list",
            ),
            pytest.param(
                lambda d: task(d, "C").update(phase=7),
                "plan.yaml: tasks[2] (C): phase 7 is not declared under phases (declared: 1, 2)",
                id="unknown-phase",
            ),
            pytest.param(
                lambda d: task(d, "C").update(consumes=["Billing"]),
                "plan.yaml: tasks[2] (C): consumes: unknown contract Billing; declare it under "
                "contracts",
                id="unknown-consumed-contract",
            ),
            pytest.param(
                lambda d: task(d, "C").update(provides=["Billing", "Mail"]),
                "plan.yaml: tasks[2] (C): provides: unknown contracts Billing, Mail",
                id="unknown-provided-contract",
            ),
            pytest.param(
                lambda d: task(d, "B").update(provides=["Schema"]),
                "plan.yaml: contracts[0] (Schema): provided by more than one task (tasks[0] (A) "
                "and tasks[1] (B))",
                id="two-providers",
            ),
            pytest.param(
                lambda d: d["contracts"][0].update(owner="Q"),
                "plan.yaml: contracts[0] (Schema): owner 'Q' is not a task key in this plan",
                id="unknown-owner",
            ),
            pytest.param(
                lambda d: d["contracts"][0].update(owner="B"),
                "plan.yaml: contracts[0] (Schema): owner is B but tasks[0] (A) lists it under "
                "provides",
                id="owner-disagrees-with-provides",
            ),
            pytest.param(
                lambda d: d["contracts"][0].update(kind="rpc"),
                "plan.yaml: contracts[0] (Schema): unknown kind 'rpc'; use one of api, "
                "function, schema, event, other",
                id="unknown-contract-kind",
            ),
            pytest.param(
                lambda d: d["contracts"][0].update(spec="   "),
                "plan.yaml: contracts[0] (Schema): spec must be a non-empty string",
                id="blank-spec",
            ),
            pytest.param(
                lambda d: task(d, "A").update(file_globs=["../secrets/*"]),
                "plan.yaml: tasks[0] (A): file glob '../secrets/*' must be relative to the "
                "repository root, without '..'",
                id="glob-with-parent",
            ),
            pytest.param(
                lambda d: task(d, "A").update(file_globs=["/etc/passwd"]),
                "plan.yaml: tasks[0] (A): file glob '/etc/passwd' must be relative",
                id="absolute-glob",
            ),
            pytest.param(
                lambda d: task(d, "C").update(key="has space"),
                "plan.yaml: tasks[2] (has space): key 'has space': A task key is 1-40 letters",
                id="bad-task-key",
            ),
            pytest.param(
                lambda d: d["contracts"][0].update(name="-Schema!"),
                "plan.yaml: contracts[0] (-Schema!): name '-Schema!': A contract name is",
                id="bad-contract-name",
            ),
            pytest.param(
                lambda d: d["phases"][0].update(number=0),
                "plan.yaml: phases[0] (0): number must be between 1 and",
                id="phase-zero",
            ),
            pytest.param(
                lambda d: task(d, "A").update(title="x" * 301),
                "plan.yaml: tasks[0] (A): title 'xxxx",
                id="title-too-long",
            ),
            pytest.param(
                lambda d: task(d, "A").pop("title"),
                "plan.yaml: tasks[0] (A): missing required field 'title'",
                id="missing-title",
            ),
            pytest.param(
                lambda d: d.pop("phases"),
                "plan.yaml: document: missing required field 'phases'",
                id="missing-phases",
            ),
            pytest.param(
                lambda d: d.update(tasks=[]),
                "plan.yaml: tasks: the plan has no tasks; add at least one",
                id="no-tasks",
            ),
            pytest.param(
                lambda d: d.update(version=2),
                "plan.yaml: version: must be 1, got integer 2",
                id="unknown-version",
            ),
            pytest.param(
                lambda d: d["tasks"].append("D"),
                "plan.yaml: tasks[3]: must be a mapping of fields, got string 'D'",
                id="task-not-a-mapping",
            ),
            pytest.param(
                lambda d: d.update(project={"name": "", "integration_branch": 3}),
                "plan.yaml: project: name '': This field cannot be blank.",
                id="blank-project-name",
            ),
        ],
    )
    def test_is_reported(self, edit, expected):
        found = problems(plan(edit))
        assert any(line.startswith(expected) for line in found), found

    def test_every_problem_is_reported_not_just_the_first(self):
        def many(document: dict[str, Any]) -> None:
            task(document, "A").update(status="in_progress", estimate=0)
            task(document, "B").update(depends_on=["A", "NOPE"])
            document["contracts"][0]["kind"] = "rpc"

        found = problems(plan(many))
        assert len(found) == 4
        assert {line.split(": ")[1] for line in found} == {
            "tasks[0] (A)",
            "tasks[1] (B)",
            "contracts[0] (Schema)",
        }

    def test_the_exception_message_lists_every_problem(self):
        document = plan(lambda d: task(d, "B").update(depends_on=["Z"], estimate=0))
        with pytest.raises(PlanInvalid) as excinfo:
            validate_plan_document(document, source="p.json")
        message = excinfo.value.message
        assert message.startswith("The plan in p.json has 2 problems; nothing was imported.")
        assert "p.json: tasks[1] (B): depends_on: unknown task key Z" in message
        assert excinfo.value.details["errors"][0]["item"] == "tasks[1] (B)"

    def test_a_document_that_is_not_a_mapping_is_refused(self):
        assert problems(["phases"]) == [
            "plan.yaml: document: must be a mapping of fields, got list"
        ]

    def test_an_empty_file_is_refused(self):
        with pytest.raises(PlanInvalid) as excinfo:
            load_plan_text("", source="empty.yaml")
        assert [str(e) for e in excinfo.value.errors] == [
            "empty.yaml: document: must be a mapping of fields, got nothing (null)"
        ]


class TestUnreadableFiles:
    def test_yaml_syntax_error_names_the_line(self):
        with pytest.raises(PlanInvalid) as excinfo:
            load_plan_text("phases:\n  - number: [1\n", source="bad.yaml")
        (error,) = excinfo.value.errors
        assert error.source == "bad.yaml"
        assert error.item.startswith("line ")
        assert error.message.startswith("not valid YAML")

    def test_json_syntax_error_names_line_and_column(self):
        with pytest.raises(PlanInvalid) as excinfo:
            load_plan_text('{"phases": [}', source="bad.json")
        assert str(excinfo.value.errors[0]).startswith("bad.json: line 1 column 13: not valid JSON")

    def test_a_field_given_twice_in_yaml_is_refused_not_silently_overwritten(self):
        text = "phases: []\ntasks: []\nphases: []\n"
        with pytest.raises(PlanInvalid) as excinfo:
            load_plan_text(text, source="twice.yaml")
        assert str(excinfo.value.errors[0]) == (
            "twice.yaml: line 3 column 1: not valid YAML: field 'phases' appears twice"
        )

    def test_a_field_given_twice_in_json_is_refused(self):
        with pytest.raises(PlanInvalid, match="field 'tasks' appears twice"):
            load_plan_text('{"tasks": [], "tasks": []}', source="twice.json")


class TestTheExportedDocument:
    def test_leaves_out_defaults_and_reads_back_to_the_same_spec(self):
        spec = validate_plan_document(plan(), source="plan.yaml")
        document = plan_to_document(spec)
        assert document["tasks"][0] == {
            "key": "A",
            "title": "Model",
            "phase": 1,
            "provides": ["Schema"],
        }
        assert document["contracts"][0]["owner"] == "A"
        assert "project" not in document
        assert validate_plan_document(document, source="plan.yaml") == spec

    def test_a_status_other_than_the_computed_one_is_kept(self):
        spec = validate_plan_document(
            plan(lambda d: task(d, "A").update(status="blocked")), source="plan.yaml"
        )
        assert plan_to_document(spec)["tasks"][0]["status"] == "blocked"

    @pytest.mark.parametrize("format_", ["yaml", "json"])
    def test_dumped_text_loads_back_to_the_same_spec(self, format_):
        spec = load_plan_text(DEMO_PLAN.read_text(encoding="utf-8"), source="demo.yaml")
        text = dump_plan_document(plan_to_document(spec), format=format_)
        again = load_plan_text(text, source=f"demo.{format_}")
        assert again == PlanSpec(
            source=f"demo.{format_}",
            project=spec.project,
            phases=spec.phases,
            tasks=spec.tasks,
            contracts=spec.contracts,
        )

    def test_multi_line_specs_are_written_as_yaml_blocks(self):
        document = plan(lambda d: d["contracts"][0].update(spec="line one\nline two\n"))
        text = dump_plan_document(plan_to_document(validate_plan_document(document, source="p")))
        assert "spec: |\n      line one\n      line two\n" in text


class TestTheJsonSchema:
    STANDARD = {"type", "properties", "required", "items", "enum", "description"}

    def _keywords(self, node: dict[str, Any]) -> set[str]:
        found = set(node)
        for child in node.get("properties", {}).values():
            found |= self._keywords(child)
        if "items" in node:
            found |= self._keywords(node["items"])
        return found

    def test_uses_only_standard_keywords(self):
        assert self._keywords(PLAN_JSON_SCHEMA) <= self.STANDARD

    def test_accepts_the_demo_plan_and_refuses_a_task_without_a_key(self):
        jsonschema = pytest.importorskip("jsonschema")
        document = yaml.safe_load(DEMO_PLAN.read_text(encoding="utf-8"))
        jsonschema.validate(document, PLAN_JSON_SCHEMA)
        del document["tasks"][0]["key"]
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(document, PLAN_JSON_SCHEMA)
