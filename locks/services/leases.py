"""The use cases of one lease: acquire (at once, in line, or refused), renew, release and a
staff human's force-release.

Each runs in one transaction that locks the project's counter row first and reads the clock only
after it holds that row (see ``locks.services``), settles what the clock has already decided,
and records its event there.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from deltas.services import coupling_guard
from locks import selectors
from locks.models import Lock, LockSpace, LockStatus, Mode, Scope
from locks.rules import LockSpec, validate_spec, where
from locks.services.events import _record
from locks.services.queue import _grant, _lock_space, _open_locks, _settle
from locks.services.validation import (
    _check_active,
    _clean_reason,
    _task,
    _whole_number,
    clean_ttl,
)
from peercode.actors import Actor
from peercode.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from peercode.events.services import record_refusal
from peercode.permissions import Action, require
from projects.models import Agent


class LockConflict(Conflict):
    """The lock asked for overlaps a live lock of another agent, or a request ahead of it."""

    default_code = "lock_conflict"


@dataclass
class AcquireResult:
    """What ``acquire_lock`` answers: the lock (held, or waiting at ``position``) and the
    coupling guard's warnings."""

    lock: Lock
    granted: bool
    position: int | None = None
    warnings: list[str] = field(default_factory=list)


def _refusal(spec: LockSpec, blockers: Sequence[Lock]) -> str:
    reasons = []
    for lock in blockers:
        other = selectors.spec_of(lock)
        expires = lock.expires_at.isoformat() if lock.expires_at else "?"
        if lock.status == LockStatus.HELD:
            reasons.append(
                f"{where(other)} is locked {lock.mode} by {lock.holder.name} until {expires} "
                f"(lock #{lock.pk}, token {lock.fencing_token})"
            )
        else:
            reasons.append(
                f"{lock.holder.name} has been waiting since {lock.requested_at.isoformat()} for "
                f"a {lock.mode} lock on {where(other)} (request #{lock.pk}) and is ahead of you "
                "in line"
            )
    return (
        f"Cannot lock {spec.describe()}: "
        + "; ".join(reasons)
        + ". Try again after that, lock a part that does not overlap, or call acquire_lock "
        "with wait=true to queue (you will be told when it is granted)."
    )


def acquire_lock(
    *,
    agent: Agent,
    path: str,
    scope: str = Scope.FILE,
    section: str = "",
    start_line: int | None = None,
    end_line: int | None = None,
    mode: str = Mode.EXCLUSIVE,
    ttl_seconds: int | None = None,
    reason: str = "",
    task_key: str | None = None,
    wait: bool = False,
) -> AcquireResult:
    """Lease ``path`` (the whole file, a section or a line range) for ``ttl_seconds``.

    Granted at once when no live lock of another agent, and no earlier waiting request of
    another agent, conflicts with it: the lock gets the project's next fencing token and
    ``lock.granted`` is recorded. Otherwise, with ``wait``, it joins the line (``lock.queued``;
    its wait deadline is one TTL from now) and is granted, in arrival order, as soon as its
    conflicts clear; without ``wait`` it is refused with LockConflict naming each conflicting
    lock (``lock.refused`` is recorded and committed, repeats against the same locks folded into
    one event with a count by ``record_refusal``; nothing else changes). The coupling guard
    runs first: its warnings come back in the result, and in ``refuse`` mode it raises before
    anything is written.
    """
    _check_active(agent)
    project = agent.project
    spec = validate_spec(
        path=path,
        scope=scope,
        section=section,
        start_line=start_line,
        end_line=end_line,
        mode=mode,
        holder_id=agent.pk,
    )
    ttl = clean_ttl(project, ttl_seconds, default=project.default_lock_ttl_seconds)
    clean_reason = _clean_reason(reason)
    task = _task(project, task_key)
    if not isinstance(wait, bool):
        raise ValidationFailed(f"wait must be true or false, got {wait!r}.", code="bad_wait")
    warnings = coupling_guard(agent=agent, action="acquire a lock", task_key=task_key or None)
    actor = Actor.for_agent(agent)
    refusal: LockConflict | None = None
    with transaction.atomic():
        space = _lock_space(project.pk)
        now = timezone.now()
        open_locks = _open_locks(project.pk, now, path=spec.path)
        _settle(project, space, now, open_locks)
        blockers = selectors.blockers_among(spec, open_locks, now=now)
        lock = Lock(
            project=project,
            holder=agent,
            task=task,
            path=spec.path,
            scope=spec.scope,
            section=spec.section,
            start_line=spec.start_line,
            end_line=spec.end_line,
            mode=spec.mode,
            reason=clean_reason,
            ttl_seconds=ttl,
            requested_at=now,
        )
        if not blockers:
            _grant(lock, space, now)
            _record(lock, "lock.granted", actor, now, waited=False)
            return AcquireResult(lock=lock, granted=True, warnings=warnings)
        described = [
            selectors.as_dict(
                other, now=now, position=selectors.position_among(other, open_locks, now=now)
            )
            for other in blockers
        ]
        if wait:
            lock.status = LockStatus.WAITING
            lock.expires_at = now + timedelta(seconds=ttl)
            lock.save()
            position = 1 + sum(1 for other in blockers if other.status == LockStatus.WAITING)
            _record(
                lock,
                "lock.queued",
                actor,
                now,
                position=position,
                blocked_by=[other.pk for other in blockers],
            )
            return AcquireResult(lock=lock, granted=False, position=position, warnings=warnings)
        refusal = LockConflict(
            _refusal(spec, blockers),
            details={"conflicts": described, "request": _request_dict(spec, ttl)},
        )
        # Committed with the transaction (which changes nothing else, bar what the clock had
        # already decided), so that the log shows every refusal and why; an agent retrying
        # against the same locks is counted into one event rather than logged each time.
        record_refusal(
            project=project,
            type="lock.refused",
            actor=actor,
            subject=f"path:{spec.path}",
            reason=json.dumps(
                [
                    [spec.scope, spec.section, spec.start_line, spec.end_line, spec.mode],
                    sorted(other.pk for other in blockers),
                ]
            ),
            payload={
                **_request_dict(spec, ttl),
                "holder": agent.name,
                "holder_id": agent.pk,
                "task": task.key if task is not None else None,
                "at": now.isoformat(),
                "conflicts": described,
            },
        )
    raise refusal


def _request_dict(spec: LockSpec, ttl: int) -> dict[str, Any]:
    return {
        "path": spec.path,
        "scope": spec.scope,
        "section": spec.section,
        "start_line": spec.start_line,
        "end_line": spec.end_line,
        "mode": spec.mode,
        "ttl_seconds": ttl,
    }


def _space_for(actor: Actor, lock_id: object) -> tuple[LockSpace, int]:
    """In the caller's transaction: lock the row of the project that lock ``lock_id`` belongs
    to (for an agent, its own project: it only ever finds locks there)."""
    pk = _whole_number(lock_id, "lock_id")
    if actor.agent is not None:
        project_id: int | None = actor.agent.project_id
    else:
        project_id = Lock.objects.filter(pk=pk).values_list("project_id", flat=True).first()
    if project_id is None:
        raise _unknown(pk)
    return _lock_space(project_id), pk


def _unknown(pk: int) -> NotFound:
    return NotFound(
        f"No lock #{pk} in this project. List your locks (list_locks) for their ids.",
        code="unknown_lock",
    )


def _check_may_change(lock: Lock, actor: Actor, verb: str) -> None:
    if actor.agent is not None:
        if actor.agent.pk == lock.holder_id:
            return
        raise PermissionDenied(
            f"Lock #{lock.pk} on {lock.path} is held by {lock.holder.name}, not by you; only "
            f"its holder (or a human lead) may {verb} it. Ask {lock.holder.name} over a delta, "
            "or a human lead to force-release it.",
            code="not_lock_holder",
        )
    require(actor, Action.STEER_LOCKS, lock.project)


def _not_held(lock: Lock, now: datetime, verb: str) -> Conflict:
    """Why a lock that is not live cannot be renewed or released."""
    again = "Acquire it again (acquire_lock) if you still need it."
    if lock.status == LockStatus.WAITING and lock.expires_at and lock.expires_at > now:
        return Conflict(
            f"Lock #{lock.pk} on {lock.path} is still waiting in line (position "
            f"{selectors.queue_position(lock, now=now)}); it can be renewed once it is granted. "
            "Release it to leave the line.",
            code="lock_waiting",
        )
    expires = lock.expires_at.isoformat() if lock.expires_at else "?"
    if lock.status in (LockStatus.HELD, LockStatus.EXPIRED):
        return Conflict(
            f"Lock #{lock.pk} on {lock.path} expired at {expires}, so there is nothing to "
            f"{verb}: another agent may have locked it since, and changes you made after that "
            f"were not protected. {again}",
            code="lock_expired",
        )
    if lock.status == LockStatus.WAITING:
        return Conflict(
            f"Request #{lock.pk} for {lock.path} stopped waiting at {expires} (its wait "
            f"deadline) without being granted; there is nothing to {verb}. {again}",
            code="lock_not_held",
        )
    ended = lock.released_at.isoformat() if lock.released_at else "?"
    by = f" by {lock.released_by}" if lock.released_by else ""
    return Conflict(
        f"Lock #{lock.pk} on {lock.path} was {lock.status} at {ended}{by}; there is nothing "
        f"to {verb}. {again}",
        code="lock_not_held",
    )


def renew_lock(*, actor: Actor, lock_id: int, ttl_seconds: int | None = None) -> Lock:
    """Extend a live lease to ``ttl_seconds`` from now (by default, its own TTL again).

    Only its holder or a staff human; a lease that has run out (even if the sweep has not
    marked it yet), was released, or is still waiting is refused with what to do instead. The
    fencing token stays. Emits ``lock.renewed``.
    """
    with transaction.atomic():
        space, pk = _space_for(actor, lock_id)
        lock = (
            Lock.objects.select_related("project", "holder", "task")
            .filter(pk=pk, project_id=space.project_id)
            .first()
        )
        if lock is None:
            raise _unknown(pk)
        _check_may_change(lock, actor, "renew")
        now = timezone.now()
        if not selectors.is_live(lock, now=now):
            raise _not_held(lock, now, "renew")
        ttl = clean_ttl(lock.project, ttl_seconds, default=lock.ttl_seconds)
        lock.ttl_seconds = ttl
        lock.renewed_at = now
        lock.expires_at = now + timedelta(seconds=ttl)
        lock.save(update_fields=["ttl_seconds", "renewed_at", "expires_at"])
        _record(lock, "lock.renewed", actor, now)
    return lock


def release_lock(*, actor: Actor, lock_id: int) -> Lock:
    """End a held lease (``lock.released``) or leave the line (``lock.cancelled``).

    Only its holder or a staff human. Waiting requests whose conflicts this clears are granted
    in the same transaction, in arrival order. A lease that has already run out is refused
    (``lock_expired``): the holder should know its work was unprotected after that moment.
    """
    return _end(actor=actor, lock_id=lock_id, force=False, reason="")


def force_release(*, actor: Actor, lock_id: int, reason: str = "") -> Lock:
    """A human lead ends someone's lease or waiting request (``lock.force_released``, naming
    who and why); waiting requests it unblocks are granted at once."""
    if actor.is_agent:
        raise PermissionDenied(
            "Agents cannot force-release a lock; an agent releases its own locks with "
            "release_lock, or asks the holder or a human lead.",
            code="humans_only",
        )
    return _end(actor=actor, lock_id=lock_id, force=True, reason=_clean_reason(reason))


def _end(*, actor: Actor, lock_id: int, force: bool, reason: str) -> Lock:
    with transaction.atomic():
        space, pk = _space_for(actor, lock_id)
        now = timezone.now()
        open_locks = _open_locks(space.project_id, now, lock_id=pk)
        lock = next((lock for lock in open_locks if lock.pk == pk), None)
        if lock is None:
            raise _unknown(pk)
        if force:
            require(actor, Action.STEER_LOCKS, lock.project)
        else:
            _check_may_change(lock, actor, "release")
        was = lock.status
        if was == LockStatus.WAITING and lock.expires_at and lock.expires_at > now:
            lock.status = LockStatus.CANCELLED
        elif selectors.is_live(lock, now=now):
            lock.status = LockStatus.RELEASED
        else:
            raise _not_held(lock, now, "release")
        lock.released_at = now
        lock.released_by = actor.label[:200]
        lock.save(update_fields=["status", "released_at", "released_by"])
        if force:
            _record(lock, "lock.force_released", actor, now, was=was, by=actor.label, why=reason)
        elif lock.status == LockStatus.CANCELLED:
            _record(lock, "lock.cancelled", actor, now, why="withdrawn")
        else:
            _record(lock, "lock.released", actor, now)
        _settle(lock.project, space, now, open_locks, ended=True)
    return lock
