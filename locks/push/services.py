"""The push queue's use cases: ask for a place in line, complete a push, leave the line, end
leases that ran out, and show the line.

Every change locks the project's ``LockSpace`` row first, in the transaction that makes it (see
``locks.push.turns``), and writes its events through ``record_event``. ``push_status`` is here
rather than with the selectors because it first applies any lease that has run out, which
writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from deltas.services import coupling_guard
from locks.models import PushStatus, PushTicket
from locks.push.checks import _check_may_abandon, _check_turn, _locked_by_others
from locks.push.git import GitFindings, inspect_push
from locks.push.selectors import (
    OPEN_STATUSES,
    _get_ticket,
    _iso,
    push_line,
    recorded_head,
    ticket_as_dict,
)
from locks.push.turns import _expire_due, _fill_turn, _lock_space
from locks.push.validation import _whole_number, clean_branch, clean_paths, clean_sha
from peercode.actors import Actor
from peercode.errors import Conflict, NotFound
from peercode.events.services import record_event
from projects.models import Agent, Project


@dataclass(frozen=True)
class PushResult:
    """What ``request_push`` answers: the ticket, its place (0: your turn now) and warnings."""

    ticket: PushTicket
    position: int
    warnings: list[str] = field(default_factory=list)
    already_in_line: bool = False  # True: the agent's open ticket, returned again


def request_push(
    *, agent: Agent, branch: str | None = None, paths: Sequence[str] | None = None
) -> PushResult:
    """Put the agent in line to push to ``branch`` (default: the project's integration branch)
    and say its place; at the head of an empty line it gets the turn at once.

    One open ticket per agent and branch: asking again returns the open ticket and its current
    place (``already_in_line``). The coupling guard runs first: its warnings come back in the
    result, and in refuse mode it raises before anything is written. Emits ``push.requested``
    and, when the turn is granted, ``push.turn``.
    """
    project = agent.project
    branch = clean_branch(project.integration_branch if branch is None else branch)
    wanted = clean_paths(paths)
    warnings = list(coupling_guard(agent=agent, action="ask to push"))
    actor = Actor.for_agent(agent)
    expire_push_leases(project=project)
    with transaction.atomic():
        space = _lock_space(project)
        now = timezone.now()
        _expire_due(project, space, now)
        existing = (
            PushTicket.objects.select_related("agent")
            .filter(project=project, agent=agent, branch=branch, status__in=OPEN_STATUSES)
            .first()
        )
        if existing is not None:
            _fill_turn(project, branch, space, now, actor)
            line = push_line(project, branch)
            ticket = next(ticket for ticket in line if ticket.pk == existing.pk)
            if wanted and sorted(wanted) != sorted(ticket.paths):
                warnings.append(
                    f"Your ticket #{ticket.pk} keeps the paths it was asked with "
                    f"({', '.join(ticket.paths) or 'none'}); to change them, abandon_push and "
                    "request_push again (at the back of the line)."
                )
            return PushResult(
                ticket=ticket,
                position=line.index(ticket),
                warnings=warnings,
                already_in_line=True,
            )
        ahead = PushTicket.objects.filter(
            project=project, branch=branch, status__in=OPEN_STATUSES
        ).count()
        ticket = PushTicket.objects.create(
            project=project,
            agent=agent,
            branch=branch,
            paths=wanted,
            status=PushStatus.WAITING,
            requested_at=now,
        )
        record_event(
            project=project,
            type="push.requested",
            actor=actor,
            subject=f"push:{ticket.pk}",
            payload={"ticket": ticket.pk, "branch": branch, "paths": wanted, "position": ahead},
        )
        _fill_turn(project, branch, space, now, actor, asking=ticket)
        ticket.refresh_from_db()
    return PushResult(ticket=ticket, position=ahead, warnings=warnings)


def complete_push(
    *, agent: Agent, ticket_id: int, commit_sha: str, fencing_token: int
) -> PushTicket:
    """End the agent's turn by recording the commit it pushed, and pass the turn on.

    Only the ticket's agent, with the ticket's fencing token, while it holds the turn. A lease
    that ran out still counts when no newer turn on the branch was granted since (a fencing
    token is stale only once a newer one exists); otherwise the turn has passed. With a git
    repository configured, the commit is resolved to its full id and checked: the branch head
    is that commit, it descends from the previous recorded head, and no file it changed is
    locked exclusively by another agent. The push has already happened in git, so failed checks
    do not undo it: each is stored on the ticket, reported in its ``violations`` and recorded
    as a ``push.violation`` event for the humans. Git is run before the transaction, so the
    project's lock counter is never held while git works. Emits ``push.completed``, one
    ``push.violation`` per violation and ``push.turn`` for the next ticket.
    """
    project = agent.project
    ticket_id = _whole_number(ticket_id, "ticket_id")
    token = _whole_number(fencing_token, "fencing_token")
    sha = clean_sha(commit_sha)
    expire_push_leases(project=project)
    ticket = _get_ticket(project, ticket_id)
    _check_turn(ticket, agent, token, timezone.now())
    previous = recorded_head(project, ticket.branch)
    findings: GitFindings | None = None
    if project.git_repository:
        findings = inspect_push(project.git_repository, ticket.branch, sha, previous)
        sha = findings.commit
    actor = Actor.for_agent(agent)
    with transaction.atomic():
        space = _lock_space(project)
        now = timezone.now()
        _expire_due(project, space, now)
        ticket = PushTicket.objects.select_related("agent").get(pk=ticket.pk)
        _check_turn(ticket, agent, token, now)
        if recorded_head(project, ticket.branch) != previous:
            raise Conflict(
                f"Branch {ticket.branch!r} got a new recorded head while your push was being "
                "checked; call complete_push again.",
                code="head_moved",
            )
        violations: list[dict[str, Any]] = []
        if findings is not None:
            violations = findings.violations + _locked_by_others(
                project, agent, findings.changed_files, now
            )
        late = ticket.status == PushStatus.EXPIRED
        ticket.status = PushStatus.COMPLETED
        ticket.finished_at = now
        ticket.commit_sha = sha
        ticket.previous_head = previous or ""
        ticket.violations = violations
        ticket.save()
        subject = f"push:{ticket.pk}"
        record_event(
            project=project,
            type="push.completed",
            actor=actor,
            subject=subject,
            payload={
                "ticket": ticket.pk,
                "branch": ticket.branch,
                "commit": sha,
                "previous_head": previous,
                "fencing_token": ticket.fencing_token,
                "checked_with_git": findings is not None,
                "changed_files": len(findings.changed_files) if findings else None,
                "violations": len(violations),
                "after_lease_expired": late,
            },
        )
        for violation in violations:
            record_event(
                project=project,
                type="push.violation",
                actor=actor,
                subject=subject,
                payload={
                    "ticket": ticket.pk,
                    "branch": ticket.branch,
                    "commit": sha,
                    "agent": agent.name,
                    "attention": "humans",
                    **violation,
                },
            )
        _fill_turn(project, ticket.branch, space, now, actor)
    return ticket


def abandon_push(*, actor: Actor, ticket_id: int) -> PushTicket:
    """Leave the line: the ticket's own agent, or a staff human. When the ticket held the turn,
    it passes to the next in line. Emits ``push.abandoned`` (and ``push.turn``)."""
    ticket_id = _whole_number(ticket_id, "ticket_id")
    if actor.agent is not None:
        ticket = _get_ticket(actor.agent.project, ticket_id)
    else:
        found = PushTicket.objects.select_related("agent", "project").filter(pk=ticket_id).first()
        if found is None:
            raise NotFound(
                f"There is no push ticket #{ticket_id}; the push queue page lists the open ones.",
                code="unknown_ticket",
            )
        ticket = found
    project = ticket.project
    actor.check_project(project)
    _check_may_abandon(ticket, actor)
    expire_push_leases(project=project)
    with transaction.atomic():
        space = _lock_space(project)
        now = timezone.now()
        _expire_due(project, space, now)
        ticket = PushTicket.objects.select_related("agent").get(pk=ticket.pk)
        _check_may_abandon(ticket, actor)
        was_active = ticket.status == PushStatus.ACTIVE
        ticket.status = PushStatus.ABANDONED
        ticket.finished_at = now
        ticket.save(update_fields=["status", "finished_at"])
        record_event(
            project=project,
            type="push.abandoned",
            actor=actor,
            subject=f"push:{ticket.pk}",
            payload={
                "ticket": ticket.pk,
                "branch": ticket.branch,
                "agent": ticket.agent.name,
                "had_the_turn": was_active,
            },
        )
        if was_active:
            _fill_turn(project, ticket.branch, space, now, actor)
    return ticket


def expire_push_leases(*, now: datetime | None = None, project: Project | None = None) -> int:
    """End every push lease that ran out by ``now`` (default: the clock) and pass each turn on;
    returns how many ended. For the periodic sweeper (every project), and called by every
    push-queue service for its own project first, so an expired lease never blocks the line.
    Emits ``push.expired`` and ``push.turn``.
    """
    moment = now or timezone.now()
    due = PushTicket.objects.filter(status=PushStatus.ACTIVE, expires_at__lte=moment)
    if project is not None:
        due = due.filter(project=project)
    project_ids = sorted(set(due.values_list("project_id", flat=True)))
    ended = 0
    for project_id in project_ids:
        with transaction.atomic():
            owner = project if project is not None else Project.objects.get(pk=project_id)
            space = _lock_space(owner)
            ended += _expire_due(owner, space, moment)
    return ended


def push_status(
    *,
    agent: Agent | None = None,
    project: Project | None = None,
    ticket_id: int | None = None,
    branch: str | None = None,
) -> dict[str, Any]:
    """The line for a branch (the ticket's, the one given, or the integration branch): tickets
    in order with their agents and places, who holds the lease and until when, the recorded
    head, and the asking agent's own place (none for a human, who passes ``project``).

    A read, but it first applies any lease that has run out, so the line it shows is the one
    the next call will act on.
    """
    if project is None:
        if agent is None:
            raise TypeError("push_status needs an agent or a project")
        project = agent.project
    expire_push_leases(project=project)
    asked: PushTicket | None = None
    if ticket_id is not None:
        asked = _get_ticket(project, _whole_number(ticket_id, "ticket_id"))
        branch = asked.branch
    else:
        branch = clean_branch(project.integration_branch if branch is None else branch)
    line = push_line(project, branch)
    holder = line[0] if line and line[0].status == PushStatus.ACTIVE else None
    mine = None
    if agent is not None:
        mine = next((ticket for ticket in line if ticket.agent_id == agent.pk), None)
    status: dict[str, Any] = {
        "branch": branch,
        "head": recorded_head(project, branch),
        "line": [
            {**ticket_as_dict(ticket), "position": place} for place, ticket in enumerate(line)
        ],
        "holder": None,
        "your_ticket": mine.pk if mine is not None else None,
        "your_position": line.index(mine) if mine is not None else None,
    }
    if holder is not None:
        status["holder"] = {
            "agent": holder.agent.name,
            "ticket": holder.pk,
            "fencing_token": holder.fencing_token,
            "started_at": _iso(holder.started_at),
            "expires_at": _iso(holder.expires_at),
        }
    if asked is not None:
        status["ticket"] = {
            **ticket_as_dict(asked),
            "position": line.index(asked) if asked in line else None,
        }
    return status
