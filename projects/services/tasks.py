"""Phases and tasks: the plan's DAG and each task's life.

Each function validates its input, runs in one transaction, and records its event through
:func:`peercode.events.services.record_event` in that transaction. Callers (REST views, MCP
tools, management commands, the admin) never write these models themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from peercode.actors import Actor
from peercode.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from peercode.events.services import record_event
from peercode.permissions import Action, require
from peercode.validation import full_clean
from projects.globs import MAX_FILE_GLOBS, clean_file_globs
from projects.graph import find_cycle, format_cycle
from projects.models import (
    TASK_TRANSITIONS,
    Agent,
    Contract,
    Phase,
    Project,
    Task,
    TaskStatus,
)

# Phases ----------------------------------------------------------------------------------


def add_phase(
    *,
    project: Project,
    name: str,
    actor: Actor,
    number: int | None = None,
    description: str = "",
) -> Phase:
    """Add a phase; without a number it goes after the last one. Emits ``phase.added``."""
    require(actor, Action.CHANGE_PLAN, project)
    with transaction.atomic():
        if number is None:
            number = (project.phases.aggregate(m=Max("number"))["m"] or 0) + 1
        phase = Phase(project=project, number=number, name=name, description=description)
        full_clean(phase, what="phase")
        if project.phases.filter(number=number).exists():
            raise Conflict(
                f"Project {project.slug!r} already has a phase {number}; pick another number.",
                code="duplicate_phase",
            )
        phase.save()
        record_event(
            project=project,
            type="phase.added",
            actor=actor,
            subject=f"phase:{number}",
            payload={"name": name},
        )
    return phase


def update_phase(
    *, phase: Phase, actor: Actor, name: str | None = None, description: str | None = None
) -> Phase:
    """Rename or re-describe a phase. Emits ``phase.updated``."""
    require(actor, Action.CHANGE_PLAN, phase.project)
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if description is not None:
        changes["description"] = description
    with transaction.atomic():
        for field, value in changes.items():
            setattr(phase, field, value)
        full_clean(phase, what="phase")
        phase.save()
        record_event(
            project=phase.project,
            type="phase.updated",
            actor=actor,
            subject=f"phase:{phase.number}",
            payload={"changes": changes},
        )
    return phase


# Tasks -----------------------------------------------------------------------------------


def clean_globs(
    file_globs: Iterable[str], *, what: str = "file_globs", most: int | None = None
) -> list[str]:
    """The globs as stored (:func:`projects.globs.clean_file_globs`: every glob within the
    limits of docs/limits.md, and at most ``most`` of them), or ``ValidationFailed`` naming
    each problem."""
    cleaned, problems = clean_file_globs(file_globs, most=most)
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        raise ValidationFailed(
            f"{what}: {'; '.join(problems[:3])}{more}.",
            code="invalid_globs",
            details={"problems": problems},
        )
    return cleaned


def plan_changed(project: Project) -> None:
    """Mark the plan's analysis (waves, critical path, collisions) out of date: bump the
    project's ``plan_revision`` in the caller's transaction, so the next read computes it
    afresh (:func:`projects.selectors.analyse_plan`). Every service that changes tasks, their
    order, dependencies, estimates or globs calls it, first thing in its transaction: the
    project row is locked before any task row, the order the plan import locks them in."""
    Project.objects.filter(pk=project.pk).update(plan_revision=F("plan_revision") + 1)


def tasks_by_key(project: Project, keys: Iterable[str], *, what: str) -> list[Task]:
    wanted = list(dict.fromkeys(keys))
    found = {task.key: task for task in Task.objects.filter(project=project, key__in=wanted)}
    missing = [key for key in wanted if key not in found]
    if missing:
        raise ValidationFailed(
            f"Unknown task key(s) in {what}: {', '.join(missing)}. "
            f"Use keys of tasks in project {project.slug!r}.",
            code="unknown_task",
            details={"unknown": missing},
        )
    return [found[key] for key in wanted]


def contracts_by_name(project: Project, names: Iterable[str]) -> list[Contract]:
    wanted = list(dict.fromkeys(names))
    found = {c.name: c for c in Contract.objects.filter(project=project, name__in=wanted)}
    missing = [name for name in wanted if name not in found]
    if missing:
        raise ValidationFailed(
            f"Unknown contract(s): {', '.join(missing)}. Add the contract first.",
            code="unknown_contract",
            details={"unknown": missing},
        )
    return [found[name] for name in wanted]


def _check_no_cycle(project: Project, task_key: str, new_deps: Sequence[str]) -> None:
    if task_key in new_deps:
        raise ValidationFailed(
            f"Task {task_key} cannot depend on itself.",
            code="dependency_cycle",
            details={"cycle": [task_key, task_key]},
        )
    # The edited task goes first, so the cycle is reported starting from it.
    graph: dict[str, list[str]] = {task_key: list(new_deps)}
    through = Task.depends_on.through.objects.filter(from_task__project=project)
    for source, target in through.values_list("from_task__key", "to_task__key"):
        if source != task_key:
            graph.setdefault(source, []).append(target)
    cycle = find_cycle(graph)
    if cycle:
        raise ValidationFailed(
            f"That dependency would create a cycle: {format_cycle(cycle)}. "
            "Remove one of these dependencies.",
            code="dependency_cycle",
            details={"cycle": cycle},
        )


def _unfinished(deps: Iterable[Task]) -> list[str]:
    return [dep.key for dep in deps if dep.status != TaskStatus.DONE]


def add_task(
    *,
    project: Project,
    key: str,
    title: str,
    phase_number: int,
    actor: Actor,
    description: str = "",
    depends_on: Sequence[str] = (),
    file_globs: Sequence[str] = (),
    consumes: Sequence[str] = (),
    estimate: int = 1,
) -> Task:
    """Add a task to a phase. It starts ``ready`` when every dependency is done, else
    ``backlog``. Refuses unknown phases, tasks and contracts and any cycle. Emits ``task.added``.
    """
    require(actor, Action.CHANGE_PLAN, project)
    with transaction.atomic():
        plan_changed(project)
        phase = Phase.objects.filter(project=project, number=phase_number).first()
        if phase is None:
            raise NotFound(
                f"Project {project.slug!r} has no phase {phase_number}; add the phase first.",
                code="unknown_phase",
            )
        if Task.objects.filter(project=project, key=key).exists():
            raise Conflict(
                f"Project {project.slug!r} already has a task {key}; choose another key.",
                code="duplicate_task",
            )
        deps = tasks_by_key(project, depends_on, what="depends_on")
        contracts = contracts_by_name(project, consumes)
        task = Task(
            project=project,
            phase=phase,
            key=key,
            title=title,
            description=description,
            file_globs=clean_globs(file_globs, most=MAX_FILE_GLOBS),
            estimate=estimate,
            status=TaskStatus.BACKLOG if _unfinished(deps) else TaskStatus.READY,
        )
        full_clean(task, what="task", exclude=["project", "phase"])
        task.save()
        task.depends_on.set(deps)
        task.consumes.set(contracts)
        record_event(
            project=project,
            type="task.added",
            actor=actor,
            subject=f"task:{key}",
            payload={
                "title": title,
                "phase": phase_number,
                "status": task.status,
                "depends_on": [d.key for d in deps],
            },
        )
    return task


def update_task(
    *,
    task: Task,
    actor: Actor,
    title: str | None = None,
    description: str | None = None,
    phase_number: int | None = None,
    depends_on: Sequence[str] | None = None,
    file_globs: Sequence[str] | None = None,
    consumes: Sequence[str] | None = None,
    estimate: int | None = None,
) -> Task:
    """Change a task's plan fields (not its status: see :func:`change_task_status`).

    New dependencies are refused when they would close a cycle (the cycle is named). A ready
    task that gains an unfinished dependency goes back to backlog. Emits ``task.updated``.
    """
    project = task.project
    shaping = [
        name
        for name, value in (
            ("phase", phase_number),
            ("depends_on", depends_on),
            ("consumes", consumes),
            ("estimate", estimate),
        )
        if value is not None
    ]
    _check_may_edit(actor, task, shaping)
    changes: dict[str, Any] = {}
    with transaction.atomic():
        # What the plan's analysis reads from a task, besides its key.
        if any(value is not None for value in (phase_number, depends_on, file_globs, estimate)):
            plan_changed(project)
        task = Task.objects.select_for_update().get(pk=task.pk)
        if title is not None:
            task.title = changes["title"] = title
        if description is not None:
            task.description = changes["description"] = description
        if estimate is not None:
            task.estimate = changes["estimate"] = estimate
        if file_globs is not None:
            task.file_globs = changes["file_globs"] = clean_globs(file_globs, most=MAX_FILE_GLOBS)
        if phase_number is not None:
            phase = Phase.objects.filter(project=project, number=phase_number).first()
            if phase is None:
                raise NotFound(
                    f"Project {project.slug!r} has no phase {phase_number}.",
                    code="unknown_phase",
                )
            task.phase = phase
            changes["phase"] = phase_number
        full_clean(task, what="task", exclude=["project", "phase"])
        if depends_on is not None:
            deps = tasks_by_key(project, depends_on, what="depends_on")
            _check_no_cycle(project, task.key, [d.key for d in deps])
            task.depends_on.set(deps)
            changes["depends_on"] = [d.key for d in deps]
            if task.status == TaskStatus.READY and _unfinished(deps):
                task.status = TaskStatus.BACKLOG
                changes["status"] = TaskStatus.BACKLOG
        if consumes is not None:
            contracts = contracts_by_name(project, consumes)
            task.consumes.set(contracts)
            changes["consumes"] = [c.name for c in contracts]
        task.save()
        record_event(
            project=project,
            type="task.updated",
            actor=actor,
            subject=f"task:{task.key}",
            payload={"changes": changes},
        )
    return task


# What an agent may change on its own task: what describes its work. The phase, dependencies,
# consumed contracts and estimate shape what other agents depend on (waves, the critical path,
# who hears of a contract change), so agents change those only through the recorded,
# propagated protocols (a delta or a debate), and a human lead applies them to the plan.
AGENT_EDITABLE = ("title", "description", "file_globs")


def _check_may_edit(actor: Actor, task: Task, shaping: list[str]) -> None:
    if not actor.is_agent:
        require(actor, Action.CHANGE_PLAN, task.project)
        return
    actor.check_project(task.project)
    if task.assignee_id != actor.agent.pk:  # type: ignore[union-attr]
        raise PermissionDenied(
            f"Task {task.key} is not assigned to you; only its assignee or a human lead can "
            "edit it.",
            code="not_assignee",
        )
    if shaping:
        raise PermissionDenied(
            f"Agents may change only the {', '.join(AGENT_EDITABLE)} of their own task; "
            f"{', '.join(shaping)} shape what other agents depend on. Push a delta (kind "
            "'new_dependency' or 'scope_shift') saying what should change, or open a debate; "
            "a human lead changes the plan.",
            code="plan_field_for_humans",
            details={"fields": shaping},
        )


def claim_task(*, agent: Agent, task_key: str) -> Task:
    """Assign a ready task to ``agent`` and start it.

    Atomic: the status and assignee change in one conditional UPDATE, so when several agents
    claim the same task at once exactly one wins and the others get a Conflict naming the
    winner. Emits ``task.claimed``.
    """
    actor = Actor.for_agent(agent)
    with transaction.atomic():
        task = Task.objects.filter(project_id=agent.project_id, key=task_key).first()
        if task is None:
            raise NotFound(
                f"No task {task_key!r} in project {agent.project.slug!r}; "
                "list the plan to see the keys.",
                code="unknown_task",
            )
        won = Task.objects.filter(
            pk=task.pk, status=TaskStatus.READY, assignee__isnull=True
        ).update(status=TaskStatus.IN_PROGRESS, assignee=agent, updated_at=timezone.now())
        task.refresh_from_db()
        if not won:
            if task.assignee_id == agent.pk and task.status == TaskStatus.IN_PROGRESS:
                return task  # claiming what you already hold is harmless
            holder = task.assignee.name if task.assignee else None
            hint = (
                f"it is assigned to {holder}"
                if holder
                else f"its status is {task.status}, and only ready tasks can be claimed"
            )
            if task.status == TaskStatus.BACKLOG:
                unfinished = _unfinished(task.depends_on.all())
                if unfinished:
                    hint += f" (waiting for {', '.join(unfinished)})"
            raise Conflict(
                f"Task {task_key} cannot be claimed: {hint}. Pick another ready task.",
                code="not_claimable",
                details={"status": task.status, "assignee": holder},
            )
        record_event(
            project=task.project,
            type="task.claimed",
            actor=actor,
            subject=f"task:{task.key}",
            payload={"assignee": agent.name},
        )
    return task


def change_task_status(*, task: Task, status: str, actor: Actor, note: str = "") -> Task:
    """Move a task along its legal transitions (see ``TASK_TRANSITIONS``).

    Agents may only move tasks assigned to them. Ready needs every dependency done; going back
    to ready or backlog releases the assignee; in progress needs an assignee (use
    :func:`claim_task` from ready). When a task is done, every backlog task whose
    dependencies are now all done becomes ready. Emits ``task.status_changed`` for each task
    that moved.
    """
    project = task.project
    if actor.is_agent:
        actor.check_project(project)  # and, under the row lock below, the task must be its own
    else:
        require(actor, Action.CHANGE_PLAN, project)
    if status not in TaskStatus.values:
        raise ValidationFailed(
            f"Unknown status {status!r}; use one of {', '.join(TaskStatus.values)}.",
            code="unknown_status",
        )
    with transaction.atomic():
        task = (
            Task.objects.select_for_update(of=("self",)).select_related("assignee").get(pk=task.pk)
        )
        if actor.is_agent and task.assignee_id != actor.agent.pk:  # type: ignore[union-attr]
            raise PermissionDenied(
                f"Task {task.key} is not assigned to you; claim it first or ask a human.",
                code="not_assignee",
            )
        current = task.status
        if status == current:
            return task
        if status not in TASK_TRANSITIONS[current]:
            allowed = ", ".join(sorted(TASK_TRANSITIONS[current])) or "none (done is final)"
            raise Conflict(
                f"Task {task.key} cannot go from {current} to {status}. From {current} it can "
                f"go to: {allowed}.",
                code="illegal_transition",
                details={
                    "from": current,
                    "to": status,
                    "allowed": sorted(TASK_TRANSITIONS[current]),
                },
            )
        if status == TaskStatus.READY:
            unfinished = _unfinished(task.depends_on.all())
            if unfinished:
                raise Conflict(
                    f"Task {task.key} cannot be ready while {', '.join(unfinished)} is not done.",
                    code="dependencies_unfinished",
                    details={"unfinished": unfinished},
                )
        if status == TaskStatus.IN_PROGRESS and task.assignee_id is None:
            raise Conflict(
                f"Task {task.key} has no assignee; an agent starts it with claim_task.",
                code="no_assignee",
            )
        if status in (TaskStatus.READY, TaskStatus.BACKLOG):
            task.assignee = None
        task.status = status
        task.save(update_fields=["status", "assignee", "updated_at"])
        record_event(
            project=project,
            type="task.status_changed",
            actor=actor,
            subject=f"task:{task.key}",
            payload={"from": current, "to": status, "note": note},
        )
        if status == TaskStatus.DONE:
            _promote_unblocked_dependents(task, actor)
    return task


def _promote_unblocked_dependents(done_task: Task, actor: Actor) -> None:
    candidates = done_task.dependents.filter(status=TaskStatus.BACKLOG).prefetch_related(
        "depends_on"
    )
    for dependent in candidates:
        if _unfinished(dependent.depends_on.all()):
            continue
        Task.objects.filter(pk=dependent.pk).update(status=TaskStatus.READY)
        record_event(
            project=done_task.project,
            type="task.status_changed",
            actor=actor,
            subject=f"task:{dependent.key}",
            payload={
                "from": TaskStatus.BACKLOG,
                "to": TaskStatus.READY,
                "note": f"all dependencies done ({done_task.key} finished last)",
            },
        )


def edit_task(
    *,
    task: Task,
    actor: Actor,
    status: str | None = None,
    note: str = "",
    **changes: Any,
) -> Task:
    """Change a task's plan fields and move its status in one transaction: both or neither.

    The fields are those of :func:`update_task`; the move follows :func:`change_task_status`.
    """
    with transaction.atomic():
        if changes:
            task = update_task(task=task, actor=actor, **changes)
        if status is not None:
            task = change_task_status(task=task, status=status, actor=actor, note=note)
    return task
