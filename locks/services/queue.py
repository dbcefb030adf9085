"""The project's lock counter row, granting, the waiting line and the sweep of what the clock
has ended.

Everything here runs with the project's ``LockSpace`` row locked (``_lock_space``), in the
transaction of the change that called it (or, for the sweep, in one transaction per project).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from locks import selectors
from locks.models import Lock, LockSpace, LockStatus
from locks.rules import LockSpec, conflicts
from locks.services.events import _iso, _notify_granted, _record
from peercode.actors import Actor
from projects.models import Project

# Expiries, wait deadlines and grants to waiting requests are the clock's and the line's doing,
# not the doing of whichever request happened to notice them.
LOCK_QUEUE = Actor.system("lock-queue")


@dataclass
class SettleOutcome:
    expired: list[Lock] = field(default_factory=list)
    cancelled: list[Lock] = field(default_factory=list)
    granted: list[Lock] = field(default_factory=list)


def _lock_space(project_id: int) -> LockSpace:
    """Lock the project's counter row (created on first use) for the rest of the transaction.

    Concurrent first uses are safe: on PostgreSQL the losing insert waits for the winner, fails
    on the primary key inside get_or_create's savepoint, and then reads and locks the winner's
    row; on SQLite the IMMEDIATE transaction has serialized them already.
    """
    space, _ = LockSpace.objects.select_for_update().get_or_create(project_id=project_id)
    return space


def _grant(lock: Lock, space: LockSpace, now: datetime) -> None:
    """Make ``lock`` (a new request, or one in line) held, with the next fencing token."""
    space.last_token += 1
    space.save(update_fields=["last_token"])
    lock.status = LockStatus.HELD
    lock.fencing_token = space.last_token
    lock.granted_at = now
    lock.expires_at = now + timedelta(seconds=lock.ttl_seconds)
    if lock.pk is None:
        lock.save()
    else:
        lock.save(update_fields=["status", "fencing_token", "granted_at", "expires_at"])


def _open_locks(
    project_id: int, now: datetime, *, path: str | None = None, lock_id: int | None = None
) -> list[Lock]:
    """In one query, in arrival order: the locks of the project that the clock and the line may
    act on now (held leases past their expiry, and every waiting request), plus the held and
    waiting locks on ``path`` (for an acquire) and lock ``lock_id`` (for a release)."""
    live = (LockStatus.HELD, LockStatus.WAITING)
    wanted = Q(status__in=live) & (Q(expires_at__lte=now) | Q(status=LockStatus.WAITING))
    if path is not None:
        wanted |= Q(status__in=live, path=path)
    if lock_id is not None:
        wanted |= Q(pk=lock_id)
    return list(
        Lock.objects.select_related("project", "holder", "task")
        .filter(wanted, project_id=project_id)
        .order_by("pk")
    )


def _grant_waiting(
    project: Project, space: LockSpace, now: datetime, open_locks: list[Lock]
) -> list[Lock]:
    """Grant waiting requests (from ``open_locks``, updated in place) whose conflicts have
    cleared, in arrival order.

    A request stays in line while a live held lock or an earlier request still in line (of
    another agent) conflicts with it, so nobody is served before an earlier request it would
    conflict with: first come, first served, and a large request is never starved by a stream
    of small ones.
    """
    waiting = [
        lock
        for lock in open_locks
        if lock.status == LockStatus.WAITING and lock.expires_at and lock.expires_at > now
    ]
    if not waiting:
        return []
    held = [
        selectors.spec_of(lock)
        for lock in Lock.objects.filter(
            project=project,
            status=LockStatus.HELD,
            expires_at__gt=now,
            path__in={lock.path for lock in waiting},
        ).order_by()
    ]
    still_waiting: list[LockSpec] = []
    granted: list[Lock] = []
    for request in waiting:
        spec = selectors.spec_of(request)
        if any(conflicts(spec, other) for other in held + still_waiting):
            still_waiting.append(spec)
            continue
        _grant(request, space, now)
        _record(request, "lock.granted", LOCK_QUEUE, now, waited=True)
        _notify_granted(request, now)
        held.append(spec)
        granted.append(request)
    return granted


def _settle(
    project: Project,
    space: LockSpace,
    now: datetime,
    open_locks: list[Lock],
    *,
    ended: bool = False,
) -> SettleOutcome:
    """Write down what the clock has decided (leases run out, waits given up) and, when that or
    the caller (``ended``) has ended something, serve the line: only an end can unblock a
    request that had to wait. ``open_locks`` comes from :func:`_open_locks` and is updated in
    place. Runs in the caller's transaction, with ``space`` locked."""
    outcome = SettleOutcome()
    for lock in open_locks:
        if lock.expires_at is None or lock.expires_at > now:
            continue
        if lock.status == LockStatus.HELD:
            lock.status = LockStatus.EXPIRED
            lock.save(update_fields=["status"])
            # The lease ended at expires_at, whenever the sweep noticed.
            _record(lock, "lock.expired", LOCK_QUEUE, now, ended_at=_iso(lock.expires_at))
            outcome.expired.append(lock)
        elif lock.status == LockStatus.WAITING:
            lock.status = LockStatus.CANCELLED
            lock.released_at = now
            lock.released_by = LOCK_QUEUE.label
            lock.save(update_fields=["status", "released_at", "released_by"])
            _record(lock, "lock.cancelled", LOCK_QUEUE, now, why="wait_deadline")
            outcome.cancelled.append(lock)
    if ended or outcome.expired or outcome.cancelled:
        outcome.granted = _grant_waiting(project, space, now, open_locks)
    return outcome


def sweep_expired(*, now: datetime | None = None) -> int:
    """Mark held locks past their expiry ``expired`` and waiting requests past their deadline
    ``cancelled`` (recording ``lock.expired`` / ``lock.cancelled``), then grant the waiting
    requests this unblocks. Returns how many locks and requests it ended; see
    :func:`sweep_locks` for what exactly."""
    outcome = sweep_locks(now=now)
    return len(outcome.expired) + len(outcome.cancelled)


def sweep_locks(*, now: datetime | None = None) -> SettleOutcome:
    """What :func:`sweep_expired` does, answering with the locks it expired, cancelled and
    granted. One transaction per project that has something due. Without ``now``, each project
    is judged by the clock once its row is locked."""
    due = (
        Lock.objects.filter(
            status__in=(LockStatus.HELD, LockStatus.WAITING),
            expires_at__lte=now or timezone.now(),
        )
        .values_list("project_id", flat=True)
        .distinct()
    )
    total = SettleOutcome()
    for project in Project.objects.filter(pk__in=list(due)).order_by("pk"):
        with transaction.atomic():
            space = _lock_space(project.pk)
            moment = now or timezone.now()
            outcome = _settle(project, space, moment, _open_locks(project.pk, moment))
        total.expired += outcome.expired
        total.cancelled += outcome.cancelled
        total.granted += outcome.granted
    return total
