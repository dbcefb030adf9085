"""Acquiring, renewing and releasing locks; the waiting line; the sweep of expired leases.

Every function that changes locks runs in one transaction that first locks the project's
``LockSpace`` row (``select_for_update``; SQLite's IMMEDIATE transactions give the same
exclusion), and reads the clock only after it holds that row. So, for one project, checking for
conflicts, granting, taking the next fencing token and recording the event never interleave with
another request, in any number of threads or server processes, and the times in the event log
follow the order in which the changes happened. The push queue (``locks.push``) takes the same
row, so lock tokens and push-lease tokens come from one strictly increasing counter.

On PostgreSQL, exclusion constraints (migration ``0002``) refuse two held, overlapping,
conflicting line ranges at the database level as a second line of defence.

Events (all through ``record_event``, in the transaction of the change; payloads carry enough
to replay the log alone): ``lock.granted``, ``lock.refused``, ``lock.queued``,
``lock.renewed``, ``lock.released``, ``lock.expired``, ``lock.cancelled``,
``lock.force_released``.

The package's modules: ``leases`` (acquire, renew, release, force-release), ``queue`` (the
counter row, granting, the waiting line and the sweep), ``dry_run`` (``check_conflicts``),
``events`` (event payloads and the live grant message) and ``validation`` (input). Every public
name is importable from ``locks.services`` itself.
"""

from locks.services.dry_run import check_conflicts
from locks.services.leases import (
    AcquireResult,
    LockConflict,
    acquire_lock,
    force_release,
    release_lock,
    renew_lock,
)
from locks.services.queue import LOCK_QUEUE, SettleOutcome, sweep_expired, sweep_locks
from locks.services.validation import MAX_CHECK_SPECS, MAX_REASON_LENGTH, clean_ttl, ttl_bounds

__all__ = [
    "LOCK_QUEUE",
    "MAX_CHECK_SPECS",
    "MAX_REASON_LENGTH",
    "AcquireResult",
    "LockConflict",
    "SettleOutcome",
    "acquire_lock",
    "check_conflicts",
    "clean_ttl",
    "force_release",
    "release_lock",
    "renew_lock",
    "sweep_expired",
    "sweep_locks",
    "ttl_bounds",
]
