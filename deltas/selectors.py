"""Reads of the delta stream: the feed, what concerns an agent, and how far behind it is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from deltas.models import AgentCursor, Delta, DeltaKind, DeltaStream, Significance
from projects.globs import any_intersect
from projects.models import Agent, Project, Task, TaskStatus


def head_of(project: Project) -> int:
    """The highest sequence number handed out in the project (0 before the first delta)."""
    stream = DeltaStream.objects.filter(project=project).first()
    return stream.head if stream else 0


def cursor_of(agent: Agent) -> int:
    cursor = AgentCursor.objects.filter(agent=agent).first()
    return cursor.acked_seq if cursor else 0


def feed(
    project: Project,
    *,
    since: int = 0,
    until: int | None = None,
    kind: str | None = None,
    significance: str | None = None,
    author: str | None = None,
) -> QuerySet[Delta]:
    """A project's deltas after ``since`` (up to ``until``), in sequence order."""
    deltas = (
        Delta.objects.filter(project=project, seq__gt=since)
        .select_related("author", "contract_version")
        .order_by("seq")
    )
    if until is not None:
        deltas = deltas.filter(seq__lte=until)
    if kind is not None:
        deltas = deltas.filter(kind=kind)
    if significance is not None:
        deltas = deltas.filter(significance=significance)
    if author is not None:
        deltas = deltas.filter(author__name=author)
    return deltas


@dataclass
class Interest:
    """What an agent's open tasks touch: the yardstick for which deltas concern it."""

    agent_id: int
    agent_name: str = ""
    tasks: set[str] = field(default_factory=set)
    contracts: set[str] = field(default_factory=set)
    consumed: set[str] = field(default_factory=set)
    globs: list[str] = field(default_factory=list)


def interest_of(agent: Agent) -> Interest:
    """The agent's unfinished tasks, their neighbours in the DAG, their contracts and globs."""
    interest = Interest(agent_id=agent.pk, agent_name=agent.name)
    tasks = (
        Task.objects.filter(assignee=agent)
        .exclude(status=TaskStatus.DONE)
        .prefetch_related("depends_on", "dependents", "consumes", "provides")
    )
    for task in tasks:
        interest.tasks.add(task.key)
        interest.tasks.update(dep.key for dep in task.depends_on.all())
        interest.tasks.update(dependent.key for dependent in task.dependents.all())
        consumed = {contract.name for contract in task.consumes.all()}
        interest.consumed |= consumed
        interest.contracts |= consumed | {contract.name for contract in task.provides.all()}
        interest.globs.extend(task.file_globs)
    interest.globs = list(dict.fromkeys(interest.globs))  # each glob matched once
    return interest


def breaks_for(delta: Delta, interest: Interest) -> bool:
    """Breaking for this agent: marked breaking, or a new version of a contract it consumes."""
    if delta.significance == Significance.BREAKING:
        return True
    return (
        delta.kind == DeltaKind.CONTRACT_CHANGE
        and delta.contract_version_id is not None
        and bool(interest.consumed.intersection(delta.contracts))
    )


# How much matching of a delta's paths against an agent's globs one relevance check may do,
# in steps (see projects.globs.any_intersect): a few milliseconds at most, as it runs on the
# WebSocket consumer's event loop for every live delta and subscriber. A delta naming three
# files, for an agent with a dozen globs, needs about 1,300.
MAX_RELEVANCE_WORK = 20_000


def concerns(delta: Delta, interest: Interest) -> bool:
    """Whether a delta concerns the agent (its own deltas never do).

    Its paths are matched against the agent's globs within MAX_RELEVANCE_WORK: a delta with
    so many paths that this does not settle it counts as relevant, which errs towards telling.
    """
    if delta.author_id == interest.agent_id:
        return False
    if delta.significance == Significance.BREAKING or interest.agent_name in delta.agents:
        return True
    if interest.tasks.intersection(delta.tasks) or interest.contracts.intersection(delta.contracts):
        return True
    return any_intersect(delta.paths, interest.globs, work=MAX_RELEVANCE_WORK) is not False


def drift_of(agent: Agent) -> list[Delta]:
    """The deltas that concern the agent and that it has not acknowledged, oldest first."""
    interest = interest_of(agent)
    return [d for d in feed(agent.project, since=cursor_of(agent)) if concerns(d, interest)]


def unacknowledged_breaking_contract_changes(
    agent: Agent, *, also_consumed: Iterable[str] = ()
) -> list[Delta]:
    """New versions of contracts the agent's tasks consume (plus ``also_consumed``, e.g. those
    of a task it is about to claim) that it has not acknowledged."""
    interest = interest_of(agent)
    interest.consumed.update(also_consumed)
    if not interest.consumed:
        return []
    changes = feed(agent.project, since=cursor_of(agent), kind=DeltaKind.CONTRACT_CHANGE)
    return [
        delta
        for delta in changes.filter(contract_version__isnull=False)
        if delta.author_id != agent.pk and interest.consumed.intersection(delta.contracts)
    ]


def as_dict(delta: Delta, interest: Interest | None = None) -> dict[str, Any]:
    """The one wire shape of a delta (WebSocket frames, MCP results, REST bodies)."""
    body: dict[str, Any] = {
        "seq": delta.seq,
        "kind": delta.kind,
        "significance": delta.significance,
        "summary": delta.summary,
        "body": delta.body,
        "author": delta.author_label,
        "tasks": list(delta.tasks),
        "contracts": list(delta.contracts),
        "paths": list(delta.paths),
        "agents": list(delta.agents),
        "contract_version": delta.contract_version.number if delta.contract_version else None,
        "proposed_spec": delta.proposed_spec or None,
        "folded": delta.folded,
        "created_at": delta.created_at.isoformat(),
    }
    if interest is not None:
        body["relevant"] = concerns(delta, interest)
        body["breaking_for_you"] = breaks_for(delta, interest)
    return body


def acknowledgement_of(project: Project) -> list[dict[str, Any]]:
    """Per agent: its cursor, how many deltas it pushed, and how far behind the head it is."""
    head = head_of(project)
    cursors = dict(
        AgentCursor.objects.filter(agent__project=project).values_list("agent_id", "acked_seq")
    )
    pushed: dict[int, int] = {}
    for author_id in Delta.objects.filter(project=project).values_list("author_id", flat=True):
        if author_id is not None:
            pushed[author_id] = pushed.get(author_id, 0) + 1
    rows = []
    for agent in Agent.objects.filter(project=project).order_by("name"):
        acked = cursors.get(agent.pk, 0)
        rows.append(
            {
                "agent": agent.name,
                "acked_seq": acked,
                "behind": head - acked,
                "pushed": pushed.get(agent.pk, 0),
                "acknowledged_share": (acked / head) if head else 1.0,
            }
        )
    return rows
