"""Importing a whole plan at once, and reading one back out as a plan document.

The plan has been validated by :mod:`projects.plan_format` before it gets here, so writing it
is a fixed number of bulk queries whatever its size: a 5,000-task plan imports in seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from peercode.actors import Actor
from peercode.errors import Conflict
from peercode.events.services import record_event
from projects.models import Contract, ContractVersion, Phase, Project, Task, TaskStatus
from projects.plan_format import (
    ContractSpec,
    PhaseSpec,
    PlanSpec,
    ProjectSpec,
    TaskSpec,
    plan_to_document,
)
from projects.services.common import check_may_import
from projects.services.projects import create_project
from projects.services.tasks import plan_changed

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImportResult:
    """What one import wrote (and, with replace, how many tasks it deleted)."""

    project: Project
    phases_created: int
    tasks_created: int
    dependencies_created: int
    contracts_created: int
    contract_versions_created: int
    consumes_created: int
    tasks_replaced: int = 0

    def summary(self) -> str:
        return (
            f"{self.phases_created} phases, {self.tasks_created} tasks, "
            f"{self.dependencies_created} dependencies, {self.contracts_created} contracts "
            f"({self.contract_versions_created} with a spec)"
        )


def _quiet(message: str) -> None:
    """The default progress sink: callers without a terminal don't need the steps."""


def import_plan(
    *,
    project: Project,
    plan: PlanSpec,
    actor: Actor,
    replace: bool = False,
    progress: Progress = _quiet,
) -> ImportResult:
    """Write a validated plan into ``project``: phases, tasks, dependencies, contracts, the
    tasks' consumed contracts, and version 1 of every contract that has a spec.

    All or nothing, in one transaction of bulk inserts (no query per task). A project that
    already has a plan is refused unless ``replace``, which deletes its phases, tasks and
    contracts in the same transaction (humans only; an agent may give its own project its
    first plan). The project's own settings are left alone. Emits one
    ``plan.imported`` event with the counts.
    """
    check_may_import(actor, project, replace=replace)
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        plan_changed(locked)
        existing = {
            "phases": Phase.objects.filter(project=locked).count(),
            "tasks": Task.objects.filter(project=locked).count(),
            "contracts": Contract.objects.filter(project=locked).count(),
        }
        if any(existing.values()) and not replace:
            raise Conflict(
                f"Project {locked.slug!r} already has a plan ({existing['phases']} phases, "
                f"{existing['tasks']} tasks, {existing['contracts']} contracts). Import with "
                "replace (--replace) to delete it and import this one, or import into a new "
                "project.",
                code="plan_exists",
                details=existing,
            )
        if any(existing.values()):
            # Contracts first: their owner link points at tasks.
            Contract.objects.filter(project=locked).delete()
            Task.objects.filter(project=locked).delete()
            Phase.objects.filter(project=locked).delete()
            progress(
                f"deleted the old plan: {existing['phases']} phases, {existing['tasks']} tasks, "
                f"{existing['contracts']} contracts"
            )
        result = _write(locked, plan, actor, progress, tasks_replaced=existing["tasks"])
        record_event(
            project=locked,
            type="plan.imported",
            actor=actor,
            subject=f"project:{locked.slug}",
            payload={
                "source": plan.source,
                "phases": result.phases_created,
                "tasks": result.tasks_created,
                "dependencies": result.dependencies_created,
                "contracts": result.contracts_created,
                "contract_versions": result.contract_versions_created,
                "consumes": result.consumes_created,
                "replaced": existing if any(existing.values()) else None,
            },
        )
    return result


def _write(
    project: Project, plan: PlanSpec, actor: Actor, progress: Progress, *, tasks_replaced: int
) -> ImportResult:
    Phase.objects.bulk_create(
        Phase(project=project, number=p.number, name=p.name, description=p.description)
        for p in plan.phases
    )
    phase_ids = dict(Phase.objects.filter(project=project).values_list("number", "id"))
    progress(f"wrote {len(phase_ids)} phases")

    Task.objects.bulk_create(
        (
            Task(
                project=project,
                phase_id=phase_ids[t.phase],
                key=t.key,
                title=t.title,
                description=t.description,
                status=t.status,
                estimate=t.estimate,
                file_globs=list(t.file_globs),
            )
            for t in plan.tasks
        ),
        batch_size=1000,
    )
    task_ids = dict(Task.objects.filter(project=project).values_list("key", "id"))
    progress(f"wrote {len(task_ids)} tasks")

    edges = [
        Task.depends_on.through(from_task_id=task_ids[t.key], to_task_id=task_ids[dep])
        for t in plan.tasks
        for dep in t.depends_on
    ]
    Task.depends_on.through.objects.bulk_create(edges, batch_size=1000)
    progress(f"wrote {len(edges)} dependencies")

    Contract.objects.bulk_create(
        Contract(
            project=project,
            name=c.name,
            kind=c.kind,
            description=c.description,
            owner_task_id=task_ids[c.owner] if c.owner else None,
        )
        for c in plan.contracts
    )
    contract_ids = dict(Contract.objects.filter(project=project).values_list("name", "id"))
    ContractVersion.objects.bulk_create(
        ContractVersion(
            contract_id=contract_ids[c.name],
            number=1,
            spec=c.spec,
            rationale=f"Imported from {plan.source}",
            author=actor.label,
            author_agent=actor.agent,
        )
        for c in plan.contracts
        if c.spec is not None
    )
    versions = sum(1 for c in plan.contracts if c.spec is not None)
    consumes = [
        Task.consumes.through(task_id=task_ids[t.key], contract_id=contract_ids[name])
        for t in plan.tasks
        for name in t.consumes
    ]
    Task.consumes.through.objects.bulk_create(consumes, batch_size=1000)
    progress(f"wrote {len(contract_ids)} contracts, {versions} specs, {len(consumes)} consumes")
    return ImportResult(
        project=project,
        phases_created=len(phase_ids),
        tasks_created=len(task_ids),
        dependencies_created=len(edges),
        contracts_created=len(contract_ids),
        contract_versions_created=versions,
        consumes_created=len(consumes),
        tasks_replaced=tasks_replaced,
    )


def create_project_from_plan(
    *, slug: str, plan: PlanSpec, actor: Actor, progress: Progress = _quiet
) -> ImportResult:
    """Create project ``slug`` from the plan's ``project`` section (name defaults to the slug)
    and import the plan into it, in one transaction: a failure leaves no project behind.

    Emits ``project.created`` then ``plan.imported``.
    """
    with transaction.atomic():
        project = create_project(
            slug=slug,
            name=plan.project.name or slug,
            description=plan.project.description,
            integration_branch=plan.project.integration_branch or None,
            actor=actor,
        )
        return import_plan(project=project, plan=plan, actor=actor, progress=progress)


# Reading a plan back out ------------------------------------------------------------------


def read_plan(project: Project, *, source: str = "") -> PlanSpec:
    """The project's plan as a ``PlanSpec``, in a fixed number of queries.

    Phases by number; tasks, contracts, dependencies and consumed contracts in the order they
    were added, which is the order an import wrote them: an imported file reads back in its
    own order, and an export re-imported and exported again is the same document. Work in
    flight (in progress or in review) reads as ready, since a plan carries no agents to hold it.
    """
    phases = tuple(
        PhaseSpec(number=number, name=name, description=description)
        for number, name, description in Phase.objects.filter(project=project)
        .order_by("number")
        .values_list("number", "name", "description")
    )
    depends_on: dict[int, list[str]] = {}
    for from_id, key in (
        Task.depends_on.through.objects.filter(from_task__project=project)
        .order_by("id")
        .values_list("from_task_id", "to_task__key")
    ):
        depends_on.setdefault(from_id, []).append(key)
    consumes: dict[int, list[str]] = {}
    for task_id, name in (
        Task.consumes.through.objects.filter(task__project=project)
        .order_by("id")
        .values_list("task_id", "contract__name")
    ):
        consumes.setdefault(task_id, []).append(name)
    contracts = list(
        Contract.objects.filter(project=project)
        .order_by("id")
        .values_list("id", "name", "kind", "description", "owner_task__key")
    )
    provides: dict[str | None, list[str]] = {}
    for _, name, _, _, owner in contracts:
        provides.setdefault(owner, []).append(name)
    specs: dict[int, str] = {}
    for contract_id, spec in (
        ContractVersion.objects.filter(contract__project=project)
        .order_by("contract_id", "number")
        .values_list("contract_id", "spec")
    ):
        specs[contract_id] = spec  # the last one read is the latest version
    in_flight = {TaskStatus.IN_PROGRESS, TaskStatus.REVIEW}
    tasks = tuple(
        TaskSpec(
            key=key,
            title=title,
            phase=phase,
            status=TaskStatus.READY.value if status in in_flight else status,
            description=description,
            depends_on=tuple(depends_on.get(task_id, ())),
            file_globs=tuple(globs or ()),
            provides=tuple(provides.get(key, ())),
            consumes=tuple(consumes.get(task_id, ())),
            estimate=estimate,
        )
        for task_id, key, title, phase, status, description, globs, estimate in Task.objects.filter(
            project=project
        )
        .order_by("id")
        .values_list(
            "id", "key", "title", "phase__number", "status", "description", "file_globs", "estimate"
        )
    )
    return PlanSpec(
        source=source or f"project {project.slug}",
        project=ProjectSpec(
            name=project.name,
            description=project.description,
            integration_branch=project.integration_branch,
        ),
        phases=phases,
        tasks=tasks,
        contracts=tuple(
            ContractSpec(
                name=name,
                kind=kind,
                description=description,
                spec=specs.get(contract_id),
                owner=owner,
            )
            for contract_id, name, kind, description, owner in contracts
        ),
    )


def export_plan(project: Project) -> dict[str, Any]:
    """The project's plan as a document in the plan format, ready to dump as YAML or JSON."""
    return plan_to_document(read_plan(project))
