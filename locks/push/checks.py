"""The checks a push must pass: who may complete a ticket (its agent, with its token, on its
turn), who may take one out of the line, and which of a push's changed files another agent
holds locked exclusively.

The first two refuse with a domain error; the lock check returns violations, because by then
the push has already happened in git and is reported rather than undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from locks.models import Mode, PushStatus, PushTicket
from locks.push.selectors import OPEN_STATUSES, _iso, push_line
from locks.selectors import live_locks
from peercode.actors import Actor
from peercode.errors import Conflict, PermissionDenied
from peercode.permissions import Action, require
from projects.models import Agent, Project


def _check_turn(ticket: PushTicket, agent: Agent, token: int, now: datetime) -> None:
    """Refuse unless ``agent`` may complete ``ticket`` with ``token`` now."""
    if ticket.agent_id != agent.pk:
        raise PermissionDenied(
            f"Push ticket #{ticket.pk} belongs to {ticket.agent.name}; complete your own "
            "ticket (request_push gives it).",
            code="not_your_ticket",
        )
    if ticket.status in (PushStatus.COMPLETED, PushStatus.ABANDONED):
        raise Conflict(
            f"Push ticket #{ticket.pk} is already {ticket.status}; request_push again to push "
            "more.",
            code="ticket_closed",
        )
    if ticket.status == PushStatus.WAITING:
        line = push_line(ticket.project, ticket.branch)
        place = next(place for place, queued in enumerate(line) if queued.pk == ticket.pk)
        holder = line[0] if line[0].status == PushStatus.ACTIVE else None
        held = (
            f"{holder.agent.name} holds it until {_iso(holder.expires_at)}"
            if holder is not None
            else "nobody holds it"
        )
        raise Conflict(
            f"It is not your turn to push to {ticket.branch!r} yet: ticket #{ticket.pk} has "
            f"{place} ahead of it in line ({held}). Wait for the push.turn notification or watch "
            "push_status, then push and call complete_push with the token you get.",
            code="not_your_turn",
            details={"position": place},
        )
    lapsed = ticket.status == PushStatus.EXPIRED or (
        ticket.expires_at is not None and ticket.expires_at <= now
    )
    if lapsed:
        newer = (
            PushTicket.objects.select_related("agent")
            .filter(
                project_id=ticket.project_id,
                branch=ticket.branch,
                fencing_token__gt=ticket.fencing_token,
            )
            .order_by("fencing_token")
            .first()
        )
        if newer is not None:
            raise Conflict(
                f"Your push lease on ticket #{ticket.pk} expired at {_iso(ticket.expires_at)} "
                f"and {newer.agent.name} got the turn since (token {newer.fencing_token}): "
                "your turn passed; request_push again.",
                code="turn_passed",
                details={"newer_fencing_token": newer.fencing_token},
            )
    if token != ticket.fencing_token:
        raise Conflict(
            f"Fencing token {token} is not the token of push ticket #{ticket.pk}; pass the "
            f"token you were given with your turn ({ticket.fencing_token}, shown by "
            "push_status).",
            code="stale_fencing_token",
        )


def _check_may_abandon(ticket: PushTicket, actor: Actor) -> None:
    if actor.agent is not None and actor.agent.pk != ticket.agent_id:
        raise PermissionDenied(
            f"Push ticket #{ticket.pk} belongs to {ticket.agent.name}; only that agent or a "
            "human lead can take it out of the line.",
            code="not_your_ticket",
        )
    if actor.agent is None:
        require(actor, Action.STEER_LOCKS, ticket.project)
    if ticket.status not in OPEN_STATUSES:
        raise Conflict(
            f"Push ticket #{ticket.pk} is already {ticket.status} and no longer in line; "
            "nothing to abandon.",
            code="ticket_closed",
        )


def _locked_by_others(
    project: Project, agent: Agent, files: Sequence[str], now: datetime
) -> list[dict[str, Any]]:
    """A violation per live exclusive lock another agent holds on one of ``files``."""
    violations: list[dict[str, Any]] = []
    chunk = 500  # keeps each IN (...) well under SQLite's variable limit
    for start in range(0, len(files), chunk):
        locks = (
            live_locks(project, now=now)
            .filter(mode=Mode.EXCLUSIVE, path__in=files[start : start + chunk])
            .exclude(holder=agent)
            .order_by("path", "fencing_token")
        )
        for lock in locks:
            where = lock.path
            if lock.section:
                where += f" ({lock.section})"
            if lock.start_line is not None:
                where += f" lines {lock.start_line}-{lock.end_line}"
            violations.append(
                {
                    "code": "locked_by_another_agent",
                    "message": (
                        f"{where} is locked exclusively by {lock.holder.name} until "
                        f"{_iso(lock.expires_at)} (lock #{lock.pk}, token {lock.fencing_token}), "
                        f"and this push changed it. Tell {lock.holder.name}: their work on it "
                        "may now conflict with yours."
                    ),
                    "path": lock.path,
                    "lock": lock.pk,
                    "holder": lock.holder.name,
                    "scope": lock.scope,
                    "section": lock.section or None,
                    "start_line": lock.start_line,
                    "end_line": lock.end_line,
                    "lock_fencing_token": lock.fencing_token,
                    "lock_expires_at": _iso(lock.expires_at),
                }
            )
    return violations
