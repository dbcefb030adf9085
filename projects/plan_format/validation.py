"""Checking a parsed plan document as a whole: every problem, each naming its item.

Only the document is consulted, never the database; model field validators are reused so a
plan that passes here also passes the models' own checks.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models

from projects.globs import clean_file_globs
from projects.graph import find_cycle, format_cycle
from projects.models import (
    TASK_KEY_VALIDATOR,
    Contract,
    ContractKind,
    Phase,
    Project,
    Task,
    TaskStatus,
)
from projects.plan_format.schema import (
    DEFAULT_ESTIMATE,
    FORMAT_VERSION,
    IMPORTABLE_STATUSES,
    MAX_ESTIMATE,
    MAX_PHASE,
    NEEDS_DEPENDENCIES_DONE,
    schema_fields,
)
from projects.plan_format.specs import (
    ContractSpec,
    PhaseSpec,
    PlanError,
    PlanInvalid,
    PlanSpec,
    ProjectSpec,
    TaskSpec,
    default_status,
)


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"boolean {value}"
    names = {str: "string", int: "integer", float: "number", list: "list", dict: "mapping"}
    name = names.get(type(value), type(value).__name__)
    return f"{name} {value!r}" if isinstance(value, str | int | float) else name


def _shown(value: Any) -> str:
    return repr(value) if isinstance(value, str) else _type_name(value)


def _label(value: Any) -> str:
    return f" ({value})" if isinstance(value, str | int) and not isinstance(value, bool) else ""


class _Checker:
    """Collects every problem of one document instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[PlanError] = []

    def error(self, item: str, message: str) -> None:
        self.errors.append(PlanError(self.source, item, message))

    def mapping(self, value: Any, item: str, path: tuple[str, ...]) -> dict[str, Any] | None:
        fields, required = schema_fields(*path)
        if not isinstance(value, dict):
            self.error(item, f"must be a mapping of fields, got {_type_name(value)}")
            return None
        for name in value:
            if name not in fields:
                near = difflib.get_close_matches(str(name), list(fields), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                self.error(
                    item,
                    f"unknown field {name!r}{hint}; allowed: {', '.join(fields)}",
                )
        for name in sorted(required - set(value)):
            self.error(item, f"missing required field {name!r}")
        return value

    def text(
        self,
        data: Mapping[str, Any],
        name: str,
        item: str,
        model: type[models.Model],
        field: str | None = None,
    ) -> str:
        value = data.get(name, "")
        if not isinstance(value, str):
            self.error(item, f"{name} must be a string, got {_type_name(value)}")
            return ""
        try:
            model._meta.get_field(field or name).clean(value, None)  # type: ignore[union-attr]
        except DjangoValidationError as exc:
            shown = value if len(value) <= 40 else value[:37] + "..."
            self.error(item, f"{name} {shown!r}: {' '.join(exc.messages)}")
        return value

    def integer(
        self, data: Mapping[str, Any], name: str, item: str, low: int, high: int
    ) -> int | None:
        """The whole number in ``data[name]``, or None (with the problem noted) if it's not one
        or is out of range."""
        value = data.get(name)
        if not isinstance(value, int) or isinstance(value, bool):
            self.error(item, f"{name} must be a whole number, got {_type_name(value)}")
            return None
        if not low <= value <= high:
            self.error(item, f"{name} must be between {low} and {high}, got {value}")
            return None
        return value

    def names(self, data: Mapping[str, Any], name: str, item: str) -> tuple[str, ...]:
        value = data.get(name, [])
        if not isinstance(value, list):
            self.error(item, f"{name} must be a list of strings, got {_type_name(value)}")
            return ()
        good: list[str] = []
        for entry in value:
            if not isinstance(entry, str) or not entry.strip():
                self.error(
                    item, f"{name} entries must be non-empty strings, got {_type_name(entry)}"
                )
            elif entry not in good:
                good.append(entry)
        return tuple(good)

    def file_globs(self, data: Mapping[str, Any], item: str) -> tuple[str, ...]:
        cleaned, problems = clean_file_globs(self.names(data, "file_globs", item))
        for problem in problems:
            self.error(item, problem)
        return tuple(cleaned)


def validate_plan_document(data: Any, *, source: str) -> PlanSpec:
    """Check a parsed document and return its ``PlanSpec``; raise ``PlanInvalid`` with every
    problem found otherwise. Only the document is consulted, never the database."""
    check = _Checker(source)
    top = check.mapping(data, "document", ())
    if top is None:
        raise PlanInvalid(check.errors)
    if "version" in top and (top["version"] != FORMAT_VERSION or isinstance(top["version"], bool)):
        check.error("version", f"must be {FORMAT_VERSION}, got {_shown(top['version'])}")
    project = _project(check, top.get("project", {}))
    phases = _phases(check, top)
    numbers = {phase.number for phase in phases}
    raw_tasks = _tasks(check, top, numbers)
    tasks, contracts = _cross_check(check, raw_tasks, _contracts(check, top))
    if check.errors:
        raise PlanInvalid(sorted(check.errors, key=_position))
    return PlanSpec(
        source=source,
        project=project,
        phases=tuple(phases),
        tasks=tuple(tasks),
        contracts=tuple(contracts),
    )


_SECTIONS = ("document", "version", "project", "phases", "tasks", "contracts")


def _position(error: PlanError) -> tuple[int, int]:
    """Sorts problems into the order of the file, so they read top to bottom."""
    section, _, rest = error.item.partition("[")
    index = rest.split("]", 1)[0]
    rank = _SECTIONS.index(section) if section in _SECTIONS else 0
    return rank, int(index) if index.isdigit() else -1


def _list(check: _Checker, top: Mapping[str, Any], name: str, *, required: bool) -> list[Any]:
    value = top.get(name, [])
    if not isinstance(value, list):
        check.error(name, f"must be a list, got {_type_name(value)}")
        return []
    if required and not value and name in top:
        check.error(name, f"the plan has no {name}; add at least one")
    return value


def _project(check: _Checker, value: Any) -> ProjectSpec:
    data = check.mapping(value, "project", ("project",))
    if data is None:
        return ProjectSpec()
    return ProjectSpec(
        name=check.text(data, "name", "project", Project) if "name" in data else "",
        description=check.text(data, "description", "project", Project),
        integration_branch=check.text(data, "integration_branch", "project", Project)
        if "integration_branch" in data
        else "",
    )


def _phases(check: _Checker, top: Mapping[str, Any]) -> list[PhaseSpec]:
    phases: list[PhaseSpec] = []
    first_index: dict[int, int] = {}
    for index, raw in enumerate(_list(check, top, "phases", required=True)):
        item = f"phases[{index}]" + (_label(raw.get("number")) if isinstance(raw, dict) else "")
        data = check.mapping(raw, item, ("phases",))
        if data is None or "number" not in data:
            continue
        number = check.integer(data, "number", item, 1, MAX_PHASE)
        if number is None:
            continue
        phase = PhaseSpec(
            number=number,
            name=check.text(data, "name", item, Phase) if "name" in data else "",
            description=check.text(data, "description", item, Phase),
        )
        if phase.number in first_index:
            check.error(
                item,
                f"duplicate phase number {phase.number} (also "
                f"phases[{first_index[phase.number]}]); give each phase its own number",
            )
        else:
            first_index[phase.number] = index
            phases.append(phase)
    return phases


@dataclass(frozen=True)
class _RawTask:
    index: int
    item: str
    spec: TaskSpec
    explicit_status: str | None


def _tasks(check: _Checker, top: Mapping[str, Any], phase_numbers: set[int]) -> list[_RawTask]:
    tasks: list[_RawTask] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(_list(check, top, "tasks", required=True)):
        item = f"tasks[{index}]" + (_label(raw.get("key")) if isinstance(raw, dict) else "")
        data = check.mapping(raw, item, ("tasks",))
        if data is None:
            continue
        key = data.get("key")
        if isinstance(key, str):
            try:
                TASK_KEY_VALIDATOR(key)
            except DjangoValidationError as exc:
                check.error(item, f"key {key!r}: {' '.join(exc.messages)}")
        elif "key" in data:
            check.error(item, f"key must be a string such as 'P1-T3', got {_type_name(key)}")
        title = check.text(data, "title", item, Task) if "title" in data else ""
        phase = check.integer(data, "phase", item, 1, MAX_PHASE) if "phase" in data else None
        if phase is not None and phase not in phase_numbers:
            declared = ", ".join(str(n) for n in sorted(phase_numbers)) or "none"
            check.error(item, f"phase {phase} is not declared under phases (declared: {declared})")
        estimate = DEFAULT_ESTIMATE
        if "estimate" in data:
            estimate = check.integer(data, "estimate", item, 1, MAX_ESTIMATE) or DEFAULT_ESTIMATE
        status = data.get("status")
        if status is not None and status not in IMPORTABLE_STATUSES:
            if status in (TaskStatus.IN_PROGRESS, TaskStatus.REVIEW):
                check.error(
                    item,
                    f"status {status} needs an assignee, and an imported plan has none; use ready "
                    "(an agent then claims it) or done",
                )
            else:
                allowed = ", ".join(IMPORTABLE_STATUSES)
                check.error(item, f"unknown status {_shown(status)}; use one of {allowed}")
            status = None
        spec = TaskSpec(
            key=key if isinstance(key, str) else "",
            title=title,
            phase=phase or 0,
            status=status or TaskStatus.BACKLOG.value,
            description=check.text(data, "description", item, Task),
            depends_on=check.names(data, "depends_on", item),
            file_globs=check.file_globs(data, item),
            provides=check.names(data, "provides", item),
            consumes=check.names(data, "consumes", item),
            estimate=estimate,
        )
        if spec.key in first_index:
            check.error(
                item,
                f"duplicate task key {spec.key!r} (also tasks[{first_index[spec.key]}]); "
                "give each task its own key",
            )
        elif spec.key:
            first_index[spec.key] = index
            tasks.append(_RawTask(index, item, spec, status))
    return tasks


def _contracts(check: _Checker, top: Mapping[str, Any]) -> list[ContractSpec]:
    contracts: list[ContractSpec] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(_list(check, top, "contracts", required=False)):
        item = f"contracts[{index}]" + (_label(raw.get("name")) if isinstance(raw, dict) else "")
        data = check.mapping(raw, item, ("contracts",))
        if data is None or "name" not in data:
            continue
        name = check.text(data, "name", item, Contract)
        kind = data.get("kind", ContractKind.API.value)
        if kind not in ContractKind.values:
            check.error(
                item, f"unknown kind {_shown(kind)}; use one of {', '.join(ContractKind.values)}"
            )
        spec = data.get("spec")
        if "spec" in data and not (isinstance(spec, str) and spec.strip()):
            check.error(item, "spec must be a non-empty string describing the interface")
        owner = data.get("owner")
        if owner is not None and not isinstance(owner, str):
            check.error(item, f"owner must be a task key, got {_type_name(owner)}")
        contract = ContractSpec(
            name=name,
            kind=str(kind),
            description=check.text(data, "description", item, Contract),
            spec=spec if isinstance(spec, str) else None,
            owner=owner if isinstance(owner, str) else None,
        )
        if name in first_index:
            check.error(
                item,
                f"duplicate contract name {name!r} (also contracts[{first_index[name]}]); "
                "give each contract its own name",
            )
        else:
            first_index[name] = index
            contracts.append(contract)
    return contracts


def _cross_check(
    check: _Checker, raw_tasks: list[_RawTask], contracts: list[ContractSpec]
) -> tuple[list[TaskSpec], list[ContractSpec]]:
    """References between items: dependencies, contract ownership, cycles, statuses.

    Returns the tasks with their final status and the contracts with their owner, each
    contract's owner agreeing with that task's ``provides``.
    """
    by_key = {raw.spec.key: raw for raw in raw_tasks}
    contract_names = {contract.name for contract in contracts}
    providers: dict[str, list[_RawTask]] = {}
    for raw in raw_tasks:
        unknown = [dep for dep in raw.spec.depends_on if dep not in by_key]
        if unknown:
            check.error(
                raw.item,
                f"depends_on: unknown task key{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(unknown)}; use keys of tasks in this plan",
            )
        for field in ("provides", "consumes"):
            missing = [n for n in getattr(raw.spec, field) if n not in contract_names]
            if missing:
                check.error(
                    raw.item,
                    f"{field}: unknown contract{'s' if len(missing) > 1 else ''} "
                    f"{', '.join(missing)}; declare {'it' if len(missing) == 1 else 'them'} "
                    "under contracts",
                )
        for name in raw.spec.provides:
            providers.setdefault(name, []).append(raw)

    owned: list[ContractSpec] = []
    for index, contract in enumerate(contracts):
        item = f"contracts[{index}] ({contract.name})"
        providing = providers.get(contract.name, [])
        if len(providing) > 1:
            check.error(
                item,
                f"provided by more than one task ({' and '.join(p.item for p in providing)}); "
                "a contract has one owner, so keep it in one task's provides and list it under "
                "consumes in the others",
            )
        owner = contract.owner
        if owner is not None and owner not in by_key:
            check.error(item, f"owner {owner!r} is not a task key in this plan")
        elif owner is not None and providing and providing[0].spec.key != owner:
            check.error(
                item,
                f"owner is {owner} but {providing[0].item} lists it under provides; name the "
                "same task in both places",
            )
        elif owner is None and providing:
            owner = providing[0].spec.key
        owned.append(
            ContractSpec(contract.name, contract.kind, contract.description, contract.spec, owner)
        )

    graph = {raw.spec.key: [d for d in raw.spec.depends_on if d in by_key] for raw in raw_tasks}
    for cycle in _cycles(graph):
        check.error(
            by_key[cycle[0]].item,
            f"dependency cycle {format_cycle(cycle)}; remove one of these dependencies",
        )
    if check.errors:
        return [], owned

    provided: dict[str, list[str]] = {}
    for contract in owned:
        if contract.owner is not None:
            provided.setdefault(contract.owner, []).append(contract.name)
    statuses = {raw.spec.key: raw.explicit_status for raw in raw_tasks if raw.explicit_status}
    tasks: list[TaskSpec] = []
    for raw in raw_tasks:
        unfinished = [d for d in raw.spec.depends_on if statuses.get(d) != TaskStatus.DONE]
        status = raw.explicit_status or default_status(raw.spec.depends_on, statuses)
        if status in NEEDS_DEPENDENCIES_DONE and unfinished:
            check.error(
                raw.item,
                f"status {status} needs every dependency done, but {', '.join(unfinished)} "
                f"{'is' if len(unfinished) == 1 else 'are'} not; leave status out (it is "
                "computed) or mark those tasks done",
            )
        tasks.append(
            TaskSpec(
                key=raw.spec.key,
                title=raw.spec.title,
                phase=raw.spec.phase,
                status=status,
                description=raw.spec.description,
                depends_on=raw.spec.depends_on,
                file_globs=raw.spec.file_globs,
                provides=tuple(provided.get(raw.spec.key, ())),
                consumes=raw.spec.consumes,
                estimate=raw.spec.estimate,
            )
        )
    return tasks, owned


def _cycles(graph: dict[str, list[str]], limit: int = 20) -> list[list[str]]:
    """Distinct cycles, found one at a time by cutting each found cycle out of the graph."""
    found: list[list[str]] = []
    remaining = dict(graph)
    while len(found) < limit:
        cycle = find_cycle(remaining)
        if cycle is None:
            break
        found.append(cycle)
        for key in cycle:
            remaining.pop(key, None)
        remaining = {k: [d for d in deps if d in remaining] for k, deps in remaining.items()}
    return found
