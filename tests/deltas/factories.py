"""Factories for delta tests: agents on tasks, and pushes with sensible defaults."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from deltas import services
from deltas.models import Significance
from peercode.actors import Actor
from projects import services as plan
from projects.models import Agent, CouplingGuard, Project, Task, TaskStatus
from tests.factories import SYSTEM, make_agent, make_task

_counter = itertools.count(1)


def agent_on(
    project: Project,
    key: str,
    *,
    name: str | None = None,
    depends_on: Sequence[str] = (),
    file_globs: Sequence[str] = (),
    consumes: Sequence[str] = (),
) -> tuple[Agent, Task]:
    """A new agent that has claimed a new task ``key`` (its dependencies must be done)."""
    agent, _ = make_agent(project, name)
    make_task(project, key, depends_on=depends_on, file_globs=file_globs, consumes=consumes)
    task = plan.claim_task(agent=agent, task_key=key)
    return agent, task


def finish(task: Task) -> Task:
    """Take a claimed task through review to done, as its reviewer would."""
    task = plan.change_task_status(task=task, status=TaskStatus.REVIEW, actor=SYSTEM)
    return plan.change_task_status(task=task, status=TaskStatus.DONE, actor=SYSTEM)


def push(
    project: Project,
    by: Agent | Actor,
    *,
    kind: str = "discovery",
    summary: str | None = None,
    significance: str = Significance.NORMAL,
    tasks: Sequence[str] = (),
    contracts: Sequence[str] = (),
    paths: Sequence[str] = (),
    spec: str | None = None,
    body: str = "",
) -> services.PushResult:
    """Push a delta; each call gets a distinct summary unless one is given (so none folds)."""
    actor = by if isinstance(by, Actor) else Actor.for_agent(by)
    return services.push_delta(
        project=project,
        actor=actor,
        kind=kind,
        summary=f"discovery {next(_counter)}" if summary is None else summary,
        significance=significance,
        body=body,
        tasks=tasks,
        contracts=contracts,
        paths=paths,
        spec=spec,
    )


def set_coupling_guard(project: Project, mode: CouplingGuard) -> Project:
    # No service changes Project.coupling_guard yet (update_project does not accept the
    # field, and the admin form does not show it), so the test stores it directly.
    Project.objects.filter(pk=project.pk).update(coupling_guard=mode)
    project.refresh_from_db()
    return project
