"""The exported document: a ``PlanSpec`` as plain data, and as YAML or JSON text."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from projects.plan_format.schema import DEFAULT_ESTIMATE, FORMAT_VERSION
from projects.plan_format.specs import PlanSpec, default_status


def plan_to_document(plan: PlanSpec) -> dict[str, Any]:
    """The plan as a document :func:`validate_plan_document` reads back to the same spec.

    Defaults are left out (empty text and lists, estimate 1, a status equal to the computed
    one) so an export reads like a hand-written plan.
    """
    document: dict[str, Any] = {"version": FORMAT_VERSION}
    project = {
        "name": plan.project.name,
        "description": plan.project.description,
        "integration_branch": plan.project.integration_branch,
    }
    if any(project.values()):
        document["project"] = {name: value for name, value in project.items() if value}
    document["phases"] = [
        _without_empty({"number": p.number, "name": p.name, "description": p.description})
        for p in plan.phases
    ]
    statuses = {task.key: task.status for task in plan.tasks}
    document["tasks"] = [
        _without_empty(
            {
                "key": task.key,
                "title": task.title,
                "phase": task.phase,
                "description": task.description,
                "depends_on": list(task.depends_on),
                "file_globs": list(task.file_globs),
                "provides": list(task.provides),
                "consumes": list(task.consumes),
                "estimate": task.estimate if task.estimate != DEFAULT_ESTIMATE else None,
                "status": None
                if task.status == default_status(task.depends_on, statuses)
                else str(task.status),
            }
        )
        for task in plan.tasks
    ]
    if plan.contracts:
        document["contracts"] = [
            _without_empty(
                {
                    "name": c.name,
                    "kind": str(c.kind),
                    "description": c.description,
                    "owner": c.owner,
                    "spec": c.spec,
                }
            )
            for c in plan.contracts
        ]
    return document


def _without_empty(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value not in ("", None, [])}


class _PlanDumper(yaml.SafeDumper):
    """Writes a plan the way the docs show it: indented lists, ``[a, b]`` for short lists of
    names and globs, and ``|`` blocks for multi-line text such as contract specs."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    names = all(isinstance(entry, str) and "\n" not in entry for entry in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=names)


_PlanDumper.add_representer(str, _represent_text)
_PlanDumper.add_representer(list, _represent_list)


def dump_plan_document(document: Mapping[str, Any], *, format: str = "yaml") -> str:
    """Serialise an exported document as ``yaml`` or ``json``."""
    if format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if format != "yaml":
        raise ValueError(f"Unknown plan format {format!r}; use yaml or json.")
    return yaml.dump(
        dict(document),
        Dumper=_PlanDumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )
