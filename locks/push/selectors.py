"""Reads of the push queue: a branch's line in serving order, its recorded head, a ticket by
id, and the one wire shape of a ticket.

None of these write. ``push_status``, which applies due expiries before it reads, lives with
the services (``locks.push.services``) for that reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from locks.models import PushStatus, PushTicket
from peercode.errors import NotFound
from projects.models import Project

OPEN_STATUSES = (PushStatus.WAITING, PushStatus.ACTIVE)


def ticket_as_dict(ticket: PushTicket) -> dict[str, Any]:
    """The one wire shape of a push ticket (MCP results, REST bodies, WebSocket frames)."""
    return {
        "id": ticket.pk,
        "branch": ticket.branch,
        "agent": ticket.agent.name,
        "status": ticket.status,
        "paths": list(ticket.paths),
        "fencing_token": ticket.fencing_token,
        "requested_at": _iso(ticket.requested_at),
        "started_at": _iso(ticket.started_at),
        "expires_at": _iso(ticket.expires_at),
        "finished_at": _iso(ticket.finished_at),
        "commit_sha": ticket.commit_sha or None,
        "previous_head": ticket.previous_head or None,
        "violations": list(ticket.violations),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def push_line(project: Project, branch: str) -> list[PushTicket]:
    """The open tickets of a branch in serving order: the active one, then the waiting ones
    in arrival order. A ticket's index in this list is its place (0: its turn)."""
    tickets = PushTicket.objects.filter(
        project=project, branch=branch, status__in=OPEN_STATUSES
    ).select_related("agent")
    return sorted(tickets, key=lambda ticket: (ticket.status != PushStatus.ACTIVE, ticket.pk))


def recorded_head(project: Project, branch: str) -> str | None:
    """The commit of the branch's last completed push (None before the first).

    Ordered by fencing token: tokens grow in the order turns are granted, and only the newest
    turn on a branch can complete, so this does not depend on clocks.
    """
    last = (
        PushTicket.objects.filter(project=project, branch=branch, status=PushStatus.COMPLETED)
        .order_by("-fencing_token", "-pk")
        .first()
    )
    return last.commit_sha if last is not None else None


def _get_ticket(project: Project, ticket_id: int) -> PushTicket:
    found = (
        PushTicket.objects.select_related("agent", "project")
        .filter(pk=ticket_id, project=project)
        .first()
    )
    if found is None:
        raise NotFound(
            f"There is no push ticket #{ticket_id} in project {project.slug!r}. Call "
            "push_status to see the line, or request_push to join it.",
            code="unknown_ticket",
        )
    return found
