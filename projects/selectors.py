"""Reads of the plan: lookups that respect project boundaries, and the plan's shape."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Prefetch, QuerySet

from peercode.actors import Actor
from peercode.errors import NotFound
from peercode.permissions import is_operator
from projects.globs import GlobCollision, overlapping_pairs
from projects.graph import CriticalPath, critical_path, waves
from projects.models import (
    Agent,
    Contract,
    ContractVersion,
    Membership,
    Phase,
    Project,
    Task,
)


def projects_for(actor: Actor) -> QuerySet[Project]:
    """The projects an actor can see: an agent only its own; a human those it is a member
    of; staff, superusers and the system every project."""
    if actor.agent is not None:
        return Project.objects.filter(pk=actor.agent.project_id)
    if actor.kind == "system" or is_operator(actor.user):
        return Project.objects.all()
    user_id = getattr(actor.user, "pk", None)
    if user_id is None:
        return Project.objects.none()
    return Project.objects.filter(memberships__user_id=user_id)


def get_project(*, slug: str, actor: Actor) -> Project:
    """The project by slug, if the actor may see it. A human who is not a member is told the
    same as for a project that does not exist, so slugs do not leak."""
    project = projects_for(actor).filter(slug=slug).first()
    if project is None:
        if actor.agent is not None and Project.objects.filter(slug=slug).exists():
            actor.check_project(Project.objects.get(slug=slug))
        hint = (
            "" if actor.agent is not None else " or you are not one of its members (ask its admin)"
        )
        raise NotFound(
            f"No project {slug!r}{hint}. List the projects you can see at /api/v1/projects/."
        )
    return project


def memberships_of(user: Any) -> QuerySet[Membership]:
    """A human's roles, one per project."""
    return Membership.objects.filter(user_id=user.pk).select_related("project", "user")


def members_of(project: Project) -> QuerySet[Membership]:
    return Membership.objects.filter(project=project).select_related("project", "user")


def get_user(*, username: str) -> Any:
    """A human's account by username, refused if there is none."""
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise NotFound(
            f"No user {username!r}; a staff user creates accounts in the admin.",
            code="unknown_user",
        )
    return user


def get_task(*, project: Project, key: str) -> Task:
    task = (
        Task.objects.select_related("phase", "assignee", "project")
        .prefetch_related("depends_on", "dependents", "consumes", "provides")
        .filter(project=project, key=key)
        .first()
    )
    if task is None:
        raise NotFound(
            f"No task {key!r} in project {project.slug!r}; list the plan to see the keys.",
            code="unknown_task",
        )
    return task


def get_contract(*, project: Project, name: str) -> Contract:
    contract = (
        Contract.objects.select_related("owner_task", "project")
        .prefetch_related(
            Prefetch("versions", queryset=ContractVersion.objects.order_by("number")),
            "consumers",
        )
        .filter(project=project, name=name)
        .first()
    )
    if contract is None:
        raise NotFound(
            f"No contract {name!r} in project {project.slug!r}.", code="unknown_contract"
        )
    return contract


def get_agent(*, project: Project, name: str) -> Agent:
    agent = Agent.objects.filter(project=project, name=name).first()
    if agent is None:
        raise NotFound(f"No agent {name!r} in project {project.slug!r}.", code="unknown_agent")
    return agent


def tasks_of(
    project: Project,
    *,
    status: str | None = None,
    phase: int | None = None,
    assignee: str | None = None,
) -> QuerySet[Task]:
    """A project's tasks in plan order, optionally narrowed by status, phase number and
    assignee name, with everything a task card shows loaded up front."""
    tasks = (
        Task.objects.filter(project=project)
        .select_related("phase", "assignee")
        .prefetch_related("depends_on", "consumes", "provides")
        .order_by("phase__number", "id")
    )
    if status is not None:
        tasks = tasks.filter(status=status)
    if phase is not None:
        tasks = tasks.filter(phase__number=phase)
    if assignee is not None:
        tasks = tasks.filter(assignee__name=assignee)
    return tasks


def phases_of(project: Project) -> QuerySet[Phase]:
    return Phase.objects.filter(project=project).order_by("number")


def get_phase(*, project: Project, number: int) -> Phase:
    phase = phases_of(project).filter(number=number).first()
    if phase is None:
        raise NotFound(
            f"Project {project.slug!r} has no phase {number}; list its phases to see the numbers.",
            code="unknown_phase",
        )
    return phase


def agents_of(project: Project) -> QuerySet[Agent]:
    return Agent.objects.filter(project=project).order_by("name")


def contracts_of(project: Project) -> QuerySet[Contract]:
    return (
        Contract.objects.filter(project=project)
        .select_related("owner_task")
        .prefetch_related(
            Prefetch("versions", queryset=ContractVersion.objects.order_by("number")),
            "consumers",
        )
        .order_by("name")
    )


@dataclass
class PlanGraph:
    """The plan's tasks as plain data: keys in plan order, dependencies, estimates, globs."""

    depends_on: dict[str, list[str]] = field(default_factory=dict)
    estimates: dict[str, int] = field(default_factory=dict)
    file_globs: dict[str, list[str]] = field(default_factory=dict)


def plan_graph(project: Project) -> PlanGraph:
    """Load the DAG in two queries, whatever the plan's size.

    Each task's dependencies are listed in plan order (the database returns edges in no
    particular order), so the critical path's tie-breaks are the same on every backend.
    """
    graph = PlanGraph()
    rows = (
        Task.objects.filter(project=project)
        .order_by("phase__number", "id")
        .values_list("id", "key", "estimate", "file_globs")
    )
    keys: list[str] = []
    place: dict[int, int] = {}  # task id -> position in plan order
    for task_id, key, estimate, globs in rows:
        place[task_id] = len(keys)
        keys.append(key)
        graph.estimates[key] = estimate
        graph.file_globs[key] = list(globs or [])
    # Ids rather than keys: no join back to the task table for either end of an edge.
    edges = Task.depends_on.through.objects.filter(from_task__project=project).values_list(
        "from_task_id", "to_task_id"
    )
    dependencies: list[list[int]] = [[] for _ in keys]
    for source, target in edges:
        dependencies[place[source]].append(place[target])
    for key, deps in zip(keys, dependencies, strict=True):
        deps.sort()
        graph.depends_on[key] = [keys[dep] for dep in deps]
    return graph


@dataclass
class PlanAnalysis:
    waves: list[list[str]]
    critical_path: CriticalPath
    collisions: list[GlobCollision]
    # False when the plan has more globs to compare than one analysis does (docs/limits.md).
    collisions_complete: bool

    def wave_of(self) -> dict[str, int]:
        return {key: number for number, layer in enumerate(self.waves, 1) for key in layer}


# Bump when PlanAnalysis changes shape, so that no process unpickles an older one.
ANALYSIS_FORMAT = 1
ANALYSIS_CACHE_SECONDS = 24 * 60 * 60


def analyse_plan(project: Project) -> PlanAnalysis:
    """Waves (what can run in parallel), the critical path, and tasks likely to collide.

    Computed once per revision of the plan and kept in Django's cache: every service that
    changes what the analysis reads bumps the project's ``plan_revision`` in its transaction
    (:func:`projects.services.tasks.plan_changed`), so a read after the first is one small
    query and a cache lookup. The key holds the project's creation time as well as its pk,
    as a cache (Redis) can outlive the database whose pks it saw.
    """
    revision = Project.objects.filter(pk=project.pk).values_list("plan_revision", flat=True).get()
    key = (
        f"plan-analysis:{ANALYSIS_FORMAT}:{project.pk}:{project.created_at.timestamp()}:{revision}"
    )
    analysis: PlanAnalysis | None = cache.get(key)
    if analysis is None:
        analysis = analyse_graph(plan_graph(project))
        cache.set(key, analysis, timeout=ANALYSIS_CACHE_SECONDS)
    return analysis


def analyse_graph(graph: PlanGraph) -> PlanAnalysis:
    collisions = overlapping_pairs(graph.file_globs)
    return PlanAnalysis(
        waves=waves(graph.depends_on),
        critical_path=critical_path(graph.depends_on, graph.estimates),
        collisions=collisions.pairs,
        collisions_complete=collisions.complete,
    )


@dataclass
class PhaseWithTasks:
    phase: Phase
    tasks: list[Task]


@dataclass
class PlanOverview:
    """Everything a reader of the whole plan needs, loaded in a fixed number of queries."""

    project: Project
    phases: list[PhaseWithTasks]
    analysis: PlanAnalysis

    @property
    def tasks(self) -> list[Task]:
        return [task for entry in self.phases for task in entry.tasks]


def plan_overview(project: Project) -> PlanOverview:
    """Phases in order with their tasks in plan order, plus waves, critical path, collisions."""
    by_phase: dict[int, list[Task]] = {}
    for task in tasks_of(project):
        by_phase.setdefault(task.phase_id, []).append(task)
    phases = [
        PhaseWithTasks(phase=phase, tasks=by_phase.get(phase.pk, []))
        for phase in phases_of(project)
    ]
    return PlanOverview(project=project, phases=phases, analysis=analyse_plan(project))
