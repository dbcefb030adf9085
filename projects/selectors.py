"""Reads of the plan: lookups that respect project boundaries, and the plan's shape."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Prefetch, QuerySet

from peercode.actors import Actor
from peercode.errors import NotFound
from projects.globs import GlobCollision, overlapping_pairs
from projects.graph import CriticalPath, critical_path, waves
from projects.models import Agent, Contract, ContractVersion, Phase, Project, Task


def projects_for(actor: Actor) -> QuerySet[Project]:
    """The projects an actor can see: an agent only its own, a human all of them."""
    if actor.agent is not None:
        return Project.objects.filter(pk=actor.agent.project_id)
    return Project.objects.all()


def get_project(*, slug: str, actor: Actor) -> Project:
    project = projects_for(actor).filter(slug=slug).first()
    if project is None:
        if actor.agent is not None and Project.objects.filter(slug=slug).exists():
            actor.check_project(Project.objects.get(slug=slug))
        raise NotFound(f"No project {slug!r}. List projects at /api/v1/projects/.")
    return project


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

    def wave_of(self) -> dict[str, int]:
        return {key: number for number, layer in enumerate(self.waves, 1) for key in layer}


def analyse_plan(project: Project) -> PlanAnalysis:
    """Waves (what can run in parallel), the critical path, and tasks likely to collide."""
    graph = plan_graph(project)
    return analyse_graph(graph)


def analyse_graph(graph: PlanGraph) -> PlanAnalysis:
    return PlanAnalysis(
        waves=waves(graph.depends_on),
        critical_path=critical_path(graph.depends_on, graph.estimates),
        collisions=overlapping_pairs(graph.file_globs),
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
