"""PeerCode's MCP tools for the plan: who you are, the plan, tasks, contracts, decomposition.

Each parses its arguments and calls one service or selector of ``projects``. The model reads
every docstring and field description, so they say precisely what a tool does, when to call
it, and what comes back. They register on the one :data:`peercode.mcp.server.server` like
every app's ``mcp.py``; domain errors come back as ``isError`` results whose text says what
happened and what to do next, through :func:`peercode.mcp.shared.call`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from debates.selectors import awaiting_count
from deltas.selectors import drift_of
from deltas.services import coupling_guard
from locks.models import LockStatus
from locks.selectors import locks_of
from peercode.actors import Actor
from peercode.mcp.server import server
from peercode.mcp.shared import READ_ONLY, NoNul, NulFreeStr, TaskKey, agent_of, call
from projects import selectors, services
from projects.globs import GLOB_LIMITS
from projects.models import Agent, Contract, DecompositionRun, Task, TaskStatus

logger = logging.getLogger(__name__)


# Output shapes ---------------------------------------------------------------------------


class AgentInfo(BaseModel):
    name: str
    client_kind: str


class ProjectInfo(BaseModel):
    slug: str
    name: str
    description: str
    integration_branch: str = Field(description="The shared branch pushes are serialized to.")


class TaskSummary(BaseModel):
    key: str
    title: str
    status: str = Field(description="backlog, ready, in_progress, review, blocked or done")
    phase: int
    assignee: str | None
    depends_on: list[str]
    wave: int | None = Field(
        default=None, description="1 has no dependencies; n depends only on earlier waves."
    )


class TaskDetail(TaskSummary):
    description: str
    estimate: int
    dependents: list[str] = Field(description="Tasks that wait for this one.")
    file_globs: list[str] = Field(description="Repository paths the task expects to touch.")
    provides: list[str] = Field(description="Contracts this task owns.")
    consumes: list[str] = Field(description="Contracts this task relies on.")
    updated_at: datetime


class ClaimResult(TaskDetail):
    warnings: list[str] = Field(
        description="Breaking changes to contracts your tasks consume that you have not "
        "acknowledged: read them (get_updates) and acknowledge them (ack_updates)."
    )


class WhoAmI(BaseModel):
    agent: AgentInfo
    project: ProjectInfo
    current_task: TaskDetail | None = Field(
        description="Your most recently started in-progress task, if any."
    )
    my_tasks: list[TaskSummary] = Field(description="Every task assigned to you.")
    ready_tasks: int = Field(description="How many tasks are ready to claim right now.")
    unacknowledged_updates: int = Field(
        description="Deltas that concern you and that you have not acknowledged (get_updates)."
    )
    held_locks: int = Field(description="Locks you hold now (list_locks with mine=true).")
    waiting_locks: int = Field(description="Your lock requests waiting in line.")
    debates_awaiting: int = Field(
        description="Open debates whose current round waits for your turn (list_debates "
        "awaiting_me=true)."
    )


class PhaseOut(BaseModel):
    number: int
    name: str
    description: str
    tasks: list[TaskSummary]


class Collision(BaseModel):
    first: str
    second: str
    globs: list[tuple[str, str]] = Field(description="Glob pairs some path matches both of.")


class PlanOut(BaseModel):
    project: ProjectInfo
    phases: list[PhaseOut]
    waves: list[list[str]] = Field(description="Task keys that can run in parallel, in order.")
    critical_path: list[str] = Field(description="The longest chain of dependent tasks.")
    critical_path_length: int
    ready: list[str] = Field(description="Keys of tasks ready to claim now.")
    collisions: list[Collision] = Field(description="Task pairs whose file globs overlap.")
    collisions_complete: bool = Field(
        description="False when the plan has more globs to compare than one analysis does: "
        "collisions then lists those found within the limit."
    )


class ContractVersionOut(BaseModel):
    number: int
    spec: str
    rationale: str
    author: str
    created_at: datetime


class ContractOut(BaseModel):
    name: str
    kind: str
    description: str
    owner_task: str | None = Field(description="The task that provides (owns) the contract.")
    consumers: list[str] = Field(description="Tasks that consume the contract.")
    current_version: int | None
    versions: list[ContractVersionOut] = Field(
        description="Every version, oldest first (or only the one asked for)."
    )


class DecompositionOut(BaseModel):
    run: int
    outcome: str
    model: str
    tasks_created: int
    input_tokens: int
    output_tokens: int
    duration_ms: int


def task_summary(task: Task, wave: int | None = None) -> TaskSummary:
    return TaskSummary(
        key=task.key,
        title=task.title,
        status=task.status,
        phase=task.phase.number,
        assignee=task.assignee.name if task.assignee else None,
        depends_on=[dep.key for dep in task.depends_on.all()],
        wave=wave,
    )


def task_detail(task: Task) -> TaskDetail:
    return TaskDetail(
        **task_summary(task).model_dump(),
        description=task.description,
        estimate=task.estimate,
        dependents=[dependent.key for dependent in task.dependents.all()],
        file_globs=list(task.file_globs),
        provides=[contract.name for contract in task.provides.all()],
        consumes=[contract.name for contract in task.consumes.all()],
        updated_at=task.updated_at,
    )


def project_info(agent: Agent) -> ProjectInfo:
    project = agent.project
    return ProjectInfo(
        slug=project.slug,
        name=project.name,
        description=project.description,
        integration_branch=project.integration_branch,
    )


def contract_out(contract: Contract, version: int | None) -> ContractOut:
    versions = list(contract.versions.all())
    chosen = [v for v in versions if v.number == version] if version is not None else versions
    if version is not None and not chosen:
        raise ToolError(
            f"Contract {contract.name!r} has no version {version}; it has versions "
            f"1 to {len(versions)}. Omit 'version' to get them all."
        )
    return ContractOut(
        name=contract.name,
        kind=contract.kind,
        description=contract.description,
        owner_task=contract.owner_task.key if contract.owner_task else None,
        # (reverse of Task.consumes; the stubs can't see it through the annotated field)
        consumers=[task.key for task in contract.consumers.all()],  # type: ignore[attr-defined]
        current_version=versions[-1].number if versions else None,
        versions=[
            ContractVersionOut(
                number=v.number,
                spec=v.spec,
                rationale=v.rationale,
                author=v.author,
                created_at=v.created_at,
            )
            for v in chosen
        ],
    )


# Identity and plan -------------------------------------------------------------------------


@server.tool(title="Who am I", annotations=READ_ONLY)
async def whoami(ctx: Context) -> WhoAmI:
    """Who you are in PeerCode: your agent name, your project, your current task and every task
    assigned to you, how many tasks are ready to claim, how many updates wait for you, how
    many locks you hold and how many debates wait for your turn. Call it first in a session."""
    agent = agent_of(ctx)

    def read() -> WhoAmI:
        mine = list(selectors.tasks_of(agent.project, assignee=agent.name))
        in_progress = [t for t in mine if t.status == TaskStatus.IN_PROGRESS]
        current = max(in_progress, key=lambda t: t.updated_at) if in_progress else None
        mine_locks = list(locks_of(agent))
        return WhoAmI(
            agent=AgentInfo(name=agent.name, client_kind=agent.client_kind),
            project=project_info(agent),
            current_task=task_detail(current) if current else None,
            my_tasks=[task_summary(task) for task in mine],
            ready_tasks=selectors.tasks_of(agent.project, status=TaskStatus.READY).count(),
            unacknowledged_updates=len(drift_of(agent)),
            held_locks=sum(1 for lock in mine_locks if lock.status == LockStatus.HELD),
            waiting_locks=sum(1 for lock in mine_locks if lock.status == LockStatus.WAITING),
            debates_awaiting=awaiting_count(agent),
        )

    return await call(read)


@server.tool(title="Get the plan", annotations=READ_ONLY)
async def get_plan(ctx: Context) -> PlanOut:
    """The whole plan of your project: phases with their tasks (status, assignee, dependencies,
    wave), the waves of tasks that can run in parallel, the critical path, the tasks ready to
    claim, and pairs of tasks whose file globs overlap (likely to collide)."""
    agent = agent_of(ctx)

    def read() -> PlanOut:
        overview = selectors.plan_overview(agent.project)
        analysis = overview.analysis
        wave_of = analysis.wave_of()
        return PlanOut(
            project=project_info(agent),
            phases=[
                PhaseOut(
                    number=entry.phase.number,
                    name=entry.phase.name,
                    description=entry.phase.description,
                    tasks=[task_summary(t, wave_of.get(t.key)) for t in entry.tasks],
                )
                for entry in overview.phases
            ],
            waves=analysis.waves,
            critical_path=analysis.critical_path.keys,
            critical_path_length=analysis.critical_path.length,
            ready=[t.key for t in overview.tasks if t.status == TaskStatus.READY],
            collisions=[
                Collision(first=c.first, second=c.second, globs=list(c.globs))
                for c in analysis.collisions
            ],
            collisions_complete=analysis.collisions_complete,
        )

    return await call(read)


@server.tool(title="Get a task", annotations=READ_ONLY)
async def get_task(key: TaskKey, ctx: Context) -> TaskDetail:
    """One task of your project in full: description, status, assignee, dependencies and
    dependents, the files it expects to touch, and the contracts it provides and consumes."""
    agent = agent_of(ctx)
    return await call(lambda: task_detail(selectors.get_task(project=agent.project, key=key)))


@server.tool(
    title="Claim a task",
    annotations=ToolAnnotations(
        read_only_hint=False, idempotent_hint=True, destructive_hint=False, open_world_hint=False
    ),
)
async def claim_task(key: TaskKey, ctx: Context) -> ClaimResult:
    """Claim a ready task: it becomes yours and in_progress. Atomic: when several agents claim
    the same task at once exactly one wins; the others are told who holds it. Claiming a task
    you already hold is harmless. Only 'ready' tasks (all dependencies done) can be claimed.
    'warnings' lists breaking contract changes you have not acknowledged (in some projects
    they refuse the claim until you acknowledge them)."""
    agent = agent_of(ctx)

    def claim() -> ClaimResult:
        warnings = coupling_guard(agent=agent, action=f"claim task {key}", task_key=key)
        task = services.claim_task(agent=agent, task_key=key)
        detail = task_detail(selectors.get_task(project=agent.project, key=task.key))
        return ClaimResult(**detail.model_dump(), warnings=warnings)

    return await call(claim)


@server.tool(
    title="Update your task",
    annotations=ToolAnnotations(
        read_only_hint=False, idempotent_hint=False, destructive_hint=False, open_world_hint=False
    ),
)
async def update_task(
    key: TaskKey,
    ctx: Context,
    status: Annotated[
        Literal["ready", "in_progress", "review", "blocked", "done", "backlog"] | None,
        Field(
            description=(
                "Move the task: in_progress -> review -> done; 'blocked' when stuck; 'ready' "
                "gives it back unassigned."
            )
        ),
    ] = None,
    note: Annotated[
        str, NoNul, Field(max_length=2000, description="Why you moved it (kept in the log).")
    ] = "",
    title: Annotated[NulFreeStr | None, Field(min_length=1, max_length=300)] = None,
    description: Annotated[NulFreeStr | None, Field(max_length=20000)] = None,
    file_globs: Annotated[
        list[Annotated[str, NoNul, Field(min_length=1, max_length=500)]] | None,
        Field(
            max_length=200,
            description=f"Replaces the task's file globs, e.g. ['src/api/**']. {GLOB_LIMITS}",
        ),
    ] = None,
) -> TaskDetail:
    """Change a task assigned to you: move its status and/or edit its title, description or
    file globs, all in one step (both or neither). Illegal moves are refused with the moves
    that are allowed from the current status."""
    agent = agent_of(ctx)
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("title", title),
            ("description", description),
            ("file_globs", file_globs),
        )
        if value is not None
    }
    if status is None and not changes:
        raise ToolError("Nothing to update: give a status and/or title, description, file_globs.")

    def update() -> TaskDetail:
        task = selectors.get_task(project=agent.project, key=key)
        services.edit_task(
            task=task, actor=Actor.for_agent(agent), status=status, note=note, **changes
        )
        return task_detail(selectors.get_task(project=agent.project, key=key))

    return await call(update)


@server.tool(title="Get a contract", annotations=READ_ONLY)
async def get_contract(
    name: Annotated[
        str,
        NoNul,
        Field(min_length=1, max_length=120, description="The contract's name, e.g. 'AuthAPI'."),
    ],
    ctx: Context,
    version: Annotated[
        int | None, Field(ge=1, description="One version only; omit for all versions.")
    ] = None,
) -> ContractOut:
    """An interface contract of your project: its kind, owner task, consumers and its numbered,
    immutable versions (the spec text, rationale and author of each). Read the contracts your
    task consumes before you code against them."""
    agent = agent_of(ctx)
    return await call(
        lambda: contract_out(selectors.get_contract(project=agent.project, name=name), version)
    )


@server.tool(
    title="Decompose the project",
    annotations=ToolAnnotations(
        read_only_hint=False, idempotent_hint=False, destructive_hint=False, open_world_hint=True
    ),
)
async def decompose_project(
    description: Annotated[
        str,
        NoNul,
        Field(
            min_length=1,
            max_length=50000,
            description="What the project should build: features, stack, constraints.",
        ),
    ],
    ctx: Context,
) -> DecompositionOut:
    """Give your project its first plan: the Anthropic API decomposes the description into
    phases, small parallel tasks with dependencies, and interface contracts, validated like an
    imported plan file. Only for a project without a plan (replacing a plan is for humans).
    Takes a minute or more; progress is reported while it runs."""
    agent = agent_of(ctx)
    loop = asyncio.get_running_loop()
    steps = 0

    def progress(message: str) -> None:
        nonlocal steps
        steps += 1
        # Called from the worker thread: hand the notification to the event loop.
        future = asyncio.run_coroutine_threadsafe(ctx.report_progress(steps, None, message), loop)
        try:
            future.result(timeout=5)
        except Exception:
            logger.debug("progress notification not delivered", exc_info=True)

    def decompose() -> DecompositionOut:
        run: DecompositionRun = services.decompose_project(
            project=agent.project,
            description=description,
            actor=Actor.for_agent(agent),
            progress=progress,
        )
        return DecompositionOut(
            run=run.pk,
            outcome=run.outcome,
            model=run.model,
            tasks_created=run.tasks_created,
            input_tokens=run.input_tokens,
            output_tokens=run.output_tokens,
            duration_ms=run.duration_ms,
        )

    return await call(decompose)
