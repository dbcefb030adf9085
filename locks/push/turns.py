"""Handing the turn on: locking the project's counter row, ending leases that ran out, and
granting the turn, with a fencing token, to the first ticket waiting.

These run inside the caller's transaction, with the project's ``LockSpace`` row locked first,
so the line's order, "exactly one active ticket per branch" and the tokens stay consistent
however many agents and server processes act at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from deltas.services import group_name
from locks.models import LockSpace, PushStatus, PushTicket
from locks.push.selectors import ticket_as_dict
from peercode.actors import Actor
from peercode.events.services import record_event
from projects.models import Project

# Expiry is the clock's doing, not the doing of whoever's call happened to notice it.
QUEUE_CLOCK = Actor.system("push-queue")


def _lock_space(project: Project) -> LockSpace:
    """Lock the project's counter row: every writer of locks and push tickets takes it first,
    so their checks and writes never interleave (created on first use)."""
    space, _ = LockSpace.objects.select_for_update().get_or_create(project=project)
    return space


def _expire_due(project: Project, space: LockSpace, now: datetime) -> int:
    due = list(
        PushTicket.objects.select_related("agent").filter(
            project=project, status=PushStatus.ACTIVE, expires_at__lte=now
        )
    )
    for ticket in due:
        ticket.status = PushStatus.EXPIRED
        ticket.finished_at = now
        ticket.save(update_fields=["status", "finished_at"])
        record_event(
            project=project,
            type="push.expired",
            actor=QUEUE_CLOCK,
            subject=f"push:{ticket.pk}",
            payload={
                "ticket": ticket.pk,
                "branch": ticket.branch,
                "agent": ticket.agent.name,
                "fencing_token": ticket.fencing_token,
                "expired_at": ticket.expires_at,
            },
        )
    for branch in sorted({ticket.branch for ticket in due}):
        _fill_turn(project, branch, space, now, QUEUE_CLOCK)
    return len(due)


def _fill_turn(
    project: Project,
    branch: str,
    space: LockSpace,
    now: datetime,
    actor: Actor,
    *,
    asking: PushTicket | None = None,
) -> PushTicket | None:
    """Give the turn to the first waiting ticket when nobody holds it. Runs in the caller's
    transaction, with ``space`` locked. An agent that waited is told after commit; ``asking``
    (a ticket granted in the request that made it) learns it from the answer."""
    if PushTicket.objects.filter(project=project, branch=branch, status=PushStatus.ACTIVE).exists():
        return None
    following = (
        PushTicket.objects.select_related("agent")
        .filter(project=project, branch=branch, status=PushStatus.WAITING)
        .order_by("pk")
        .first()
    )
    if following is None:
        return None
    space.last_token += 1
    space.save(update_fields=["last_token"])
    following.status = PushStatus.ACTIVE
    following.fencing_token = space.last_token
    following.started_at = now
    following.expires_at = now + timedelta(seconds=project.push_lease_seconds)
    following.save(update_fields=["status", "fencing_token", "started_at", "expires_at"])
    record_event(
        project=project,
        type="push.turn",
        actor=actor,
        subject=f"push:{following.pk}",
        payload={
            "ticket": following.pk,
            "branch": branch,
            "agent": following.agent.name,
            "fencing_token": following.fencing_token,
            "expires_at": following.expires_at,
        },
    )
    if asking is None or following.pk != asking.pk:
        message = {
            "type": "push.turn",
            "agent_id": following.agent_id,
            "ticket": ticket_as_dict(following),
        }
        transaction.on_commit(lambda: _notify(project.pk, message), robust=True)
    return following


def _notify(project_id: int, message: dict[str, Any]) -> None:
    """Best effort, like delta fan-out: an agent that misses it sees its turn in push_status."""
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(group_name(project_id), message)
