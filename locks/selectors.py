"""Reads of locks: what is live, what waits, who is in the way, and the wire form of a lock.

"Live" is decided by the clock, not by the sweep: a held lock whose ``expires_at`` has passed is
ignored at once, even while its row still says ``held``; a waiting request past its wait
deadline likewise no longer waits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from locks.models import Lock, LockStatus
from locks.rules import LockSpec, conflicts
from projects.models import Agent, Project


def spec_of(lock: Lock) -> LockSpec:
    return LockSpec(
        path=lock.path,
        scope=lock.scope,
        section=lock.section,
        start_line=lock.start_line,
        end_line=lock.end_line,
        mode=lock.mode,
        holder_id=lock.holder_id,
    )


def _now(now: datetime | None) -> datetime:
    return timezone.now() if now is None else now


def live_locks(project: Project, *, now: datetime | None = None) -> QuerySet[Lock]:
    """Held locks of the project whose lease has not run out, oldest grant first."""
    return (
        Lock.objects.filter(project=project, status=LockStatus.HELD, expires_at__gt=_now(now))
        .select_related("holder", "task")
        .order_by("fencing_token")
    )


def waiting_queue(project: Project, *, now: datetime | None = None) -> QuerySet[Lock]:
    """Requests still waiting (not past their wait deadline), in arrival order."""
    return (
        Lock.objects.filter(project=project, status=LockStatus.WAITING, expires_at__gt=_now(now))
        .select_related("holder", "task")
        .order_by("pk")
    )


def locks_of(agent: Agent, *, now: datetime | None = None) -> QuerySet[Lock]:
    """The agent's live held locks and its still-waiting requests, oldest first."""
    moment = _now(now)
    return (
        Lock.objects.filter(
            holder=agent,
            status__in=(LockStatus.HELD, LockStatus.WAITING),
            expires_at__gt=moment,
        )
        .select_related("holder", "task")
        .order_by("pk")
    )


def blockers_among(
    spec: LockSpec,
    locks: Iterable[Lock],
    *,
    now: datetime,
    waiting: bool = True,
    before: int | None = None,
) -> list[Lock]:
    """Of ``locks``, those that ``spec`` conflicts with and that are live by the clock: held
    ones first (by token), then — with ``waiting`` — the waiting requests it may not jump over
    (in arrival order; only those that arrived before request ``before`` when given).

    A waiting request of another agent that conflicts with ``spec`` blocks it as much as a held
    lock does: that is what serves requests first come, first served, and keeps a large request
    from being starved by a stream of small ones.
    """
    held: list[Lock] = []
    queued: list[Lock] = []
    for lock in locks:
        if lock.expires_at is None or lock.expires_at <= now or lock.path != spec.path:
            continue
        if lock.status == LockStatus.HELD:
            into = held
        elif lock.status == LockStatus.WAITING and waiting:
            if before is not None and lock.pk >= before:
                continue
            into = queued
        else:
            continue
        if conflicts(spec, spec_of(lock)):
            into.append(lock)
    held.sort(key=lambda lock: lock.fencing_token or 0)
    queued.sort(key=_pk)
    return held + queued


def find_conflicts(
    project: Project | int,
    spec: LockSpec,
    *,
    now: datetime,
    waiting: bool = True,
    before: int | None = None,
) -> list[Lock]:
    """The live locks of the project that ``spec`` conflicts with, as :func:`blockers_among`
    orders them (``project`` may be given by id)."""
    project_id = project if isinstance(project, int) else project.pk
    statuses = (LockStatus.HELD, LockStatus.WAITING) if waiting else (LockStatus.HELD,)
    candidates = (
        Lock.objects.filter(
            project_id=project_id, path=spec.path, status__in=statuses, expires_at__gt=now
        )
        .select_related("holder", "task")
        .order_by()
    )
    if spec.holder_id is not None:
        candidates = candidates.exclude(holder_id=spec.holder_id)
    return blockers_among(spec, candidates, now=now, waiting=waiting, before=before)


def _pk(lock: Lock) -> int:
    return int(lock.pk)


def _waiting_live(lock: Lock, now: datetime) -> bool:
    return (
        lock.status == LockStatus.WAITING and lock.expires_at is not None and lock.expires_at > now
    )


def position_among(lock: Lock, locks: Iterable[Lock], *, now: datetime) -> int | None:
    """:func:`queue_position` worked out from ``locks`` (which must include every waiting
    request on the lock's path) instead of a query."""
    if not _waiting_live(lock, now):
        return None
    ahead = blockers_among(spec_of(lock), locks, now=now, before=lock.pk)
    return 1 + sum(1 for other in ahead if other.status == LockStatus.WAITING)


def queue_position(lock: Lock, *, now: datetime | None = None) -> int | None:
    """A waiting request's place in line: 1 + the earlier waiting requests of other agents it
    conflicts with (those are served first). None unless it is waiting."""
    moment = _now(now)
    if not _waiting_live(lock, moment):
        return None
    ahead = find_conflicts(lock.project_id, spec_of(lock), now=moment, before=lock.pk)
    return 1 + sum(1 for other in ahead if other.status == LockStatus.WAITING)


def is_live(lock: Lock, *, now: datetime | None = None) -> bool:
    """Held and not yet expired by the clock."""
    return (
        lock.status == LockStatus.HELD
        and lock.expires_at is not None
        and lock.expires_at > _now(now)
    )


def effective_status(lock: Lock, *, now: datetime | None = None) -> str:
    """The status the clock gives: a held lock or a waiting request past its time reads as
    expired or cancelled before the sweep has written so."""
    moment = _now(now)
    if lock.expires_at is not None and lock.expires_at <= moment:
        if lock.status == LockStatus.HELD:
            return LockStatus.EXPIRED
        if lock.status == LockStatus.WAITING:
            return LockStatus.CANCELLED
    return lock.status


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def as_dict(
    lock: Lock, *, now: datetime | None = None, position: int | None = None
) -> dict[str, Any]:
    """A lock as the API, MCP tools, events and WebSocket frames show it."""
    moment = _now(now)
    status = effective_status(lock, now=moment)
    if status == LockStatus.WAITING and position is None:
        position = queue_position(lock, now=moment)
    return {
        "id": lock.pk,
        "holder": lock.holder.name,
        "holder_id": lock.holder_id,
        "path": lock.path,
        "scope": lock.scope,
        "section": lock.section or None,
        "start_line": lock.start_line,
        "end_line": lock.end_line,
        "mode": lock.mode,
        "status": status,
        "reason": lock.reason,
        "task": lock.task.key if lock.task is not None else None,
        "fencing_token": lock.fencing_token,
        "ttl_seconds": lock.ttl_seconds,
        "requested_at": _iso(lock.requested_at),
        "granted_at": _iso(lock.granted_at),
        "renewed_at": _iso(lock.renewed_at),
        # For a waiting request: its wait deadline.
        "expires_at": _iso(lock.expires_at),
        "released_at": _iso(lock.released_at),
        "released_by": lock.released_by or None,
        "position": position if status == LockStatus.WAITING else None,
    }


def lock_board(
    project: Project,
    *,
    holder: str | None = None,
    path: str | None = None,
    now: datetime | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The project's live locks and its waiting line in wire shape, optionally only one
    holder's (by agent name) or one path's; places in line are worked out in memory."""
    moment = _now(now)
    held = list(live_locks(project, now=moment))
    line = list(waiting_queue(project, now=moment))

    def chosen(lock: Lock) -> bool:
        return (holder is None or lock.holder.name == holder) and (
            path is None or lock.path == path
        )

    return {
        "locks": [as_dict(lock, now=moment) for lock in held if chosen(lock)],
        "waiting": [
            as_dict(lock, now=moment, position=position_among(lock, line, now=moment))
            for lock in line
            if chosen(lock)
        ],
    }
