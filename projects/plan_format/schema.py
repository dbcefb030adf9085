"""The plan document's JSON Schema, and the constants the format is built on.

The validator takes each object's allowed and required fields from :data:`PLAN_JSON_SCHEMA`,
so the schema the planning model is given and the rules a file is checked against are one.
"""

from __future__ import annotations

from typing import Any

from projects.globs import GLOB_LIMITS
from projects.models import (
    ContractKind,
    TaskStatus,
)

FORMAT_VERSION = 1
DEFAULT_ESTIMATE = 1
MAX_ESTIMATE = 1000
MAX_PHASE = 2**31 - 1  # what every database's positive integer column holds
# An imported plan has no agents, so nothing in it can be in progress or in review.
IMPORTABLE_STATUSES = (TaskStatus.BACKLOG, TaskStatus.READY, TaskStatus.BLOCKED, TaskStatus.DONE)
# Statuses that are only consistent once every dependency is done.
NEEDS_DEPENDENCIES_DONE = (TaskStatus.READY, TaskStatus.DONE)


def _strings(description: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "description": description}


PLAN_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A PeerCode plan: phases, tasks with dependencies, and interface contracts.",
    "properties": {
        "version": {"type": "integer", "enum": [FORMAT_VERSION], "description": "Always 1."},
        "project": {
            "type": "object",
            "description": "Used only when the import creates the project.",
            "properties": {
                "name": {"type": "string", "description": "Human-readable project name."},
                "description": {"type": "string", "description": "What is being built."},
                "integration_branch": {
                    "type": "string",
                    "description": "Shared git branch agents push to (default peer-progress).",
                },
            },
        },
        "phases": {
            "type": "array",
            "description": "Milestones in order; every task belongs to one.",
            "items": {
                "type": "object",
                "properties": {
                    "number": {"type": "integer", "description": "1, 2, 3 ... unique."},
                    "name": {"type": "string", "description": "Short phase name."},
                    "description": {"type": "string", "description": "What the phase delivers."},
                },
                "required": ["number", "name"],
            },
        },
        "tasks": {
            "type": "array",
            "description": "Units of work for one agent each; dependencies form a DAG.",
            "items": {
                "type": "object",
                "properties": {
                    "key": {
                        "type": "string",
                        "description": "Unique key such as P1-T3: 1-40 letters, digits, . _ -",
                    },
                    "title": {"type": "string", "description": "Imperative one-line summary."},
                    "phase": {"type": "integer", "description": "Number of the task's phase."},
                    "description": {
                        "type": "string",
                        "description": "What to do and how to know it is done.",
                    },
                    "depends_on": _strings("Keys of tasks that must be done first."),
                    "file_globs": _strings(
                        "Repository-relative paths or globs the task will touch, e.g. "
                        f"src/api/**. {GLOB_LIMITS}"
                    ),
                    "provides": _strings("Names of contracts this task defines and owns."),
                    "consumes": _strings("Names of contracts this task relies on."),
                    "estimate": {
                        "type": "integer",
                        "description": f"Relative size 1-{MAX_ESTIMATE} (default 1).",
                    },
                    "status": {
                        "type": "string",
                        "enum": [str(status) for status in IMPORTABLE_STATUSES],
                        "description": "Leave out: ready when every dependency is done, else "
                        "backlog.",
                    },
                },
                "required": ["key", "title", "phase"],
            },
        },
        "contracts": {
            "type": "array",
            "description": "Interfaces between tasks (APIs, function signatures, schemas, events).",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Unique name such as AuthAPI."},
                    "kind": {
                        "type": "string",
                        "enum": [str(kind) for kind in ContractKind.values],
                        "description": "What sort of interface (default api).",
                    },
                    "description": {"type": "string", "description": "Purpose of the contract."},
                    "spec": {
                        "type": "string",
                        "description": "The interface itself; becomes version 1.",
                    },
                    "owner": {
                        "type": "string",
                        "description": "Key of the task that provides it (or list it in that "
                        "task's provides).",
                    },
                },
                "required": ["name"],
            },
        },
    },
    "required": ["phases", "tasks"],
}


def schema_fields(*path: str) -> tuple[dict[str, Any], frozenset[str]]:
    """The allowed and the required field names of one object in :data:`PLAN_JSON_SCHEMA`."""
    node = PLAN_JSON_SCHEMA
    for step in path:
        node = node["properties"][step]
        if node["type"] == "array":
            node = node["items"]
    return node["properties"], frozenset(node.get("required", ()))
