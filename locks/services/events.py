"""The events a lock change records and the live message a granted request's holder receives.

Payloads carry full-precision times and enough about the lock that the event log alone can be
replayed; the live message goes out only after the transaction commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from deltas.services import group_name
from locks import selectors
from locks.models import Lock
from peercode.actors import Actor
from peercode.events.services import record_event


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _payload(lock: Lock, now: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "lock": lock.pk,
        "path": lock.path,
        "scope": lock.scope,
        "section": lock.section,
        "start_line": lock.start_line,
        "end_line": lock.end_line,
        "mode": lock.mode,
        "holder": lock.holder.name,
        "holder_id": lock.holder_id,
        "task": lock.task.key if lock.task is not None else None,
        "fencing_token": lock.fencing_token,
        "ttl_seconds": lock.ttl_seconds,
        # Full-precision ISO strings (the JSON encoder would cut datetimes to milliseconds),
        # so that a replay of the log can order grants, renewals and ends exactly.
        "expires_at": _iso(lock.expires_at),
        "at": now.isoformat(),
        **extra,
    }


def _record(lock: Lock, type: str, actor: Actor, now: datetime, **extra: Any) -> None:
    record_event(
        project=lock.project,
        type=type,
        actor=actor,
        subject=f"lock:{lock.pk}",
        payload=_payload(lock, now, **extra),
    )


def _notify_granted(lock: Lock, now: datetime) -> None:
    """After commit, tell the holder of a request that waited that it now holds the lock."""
    message = {
        "type": "lock.granted",
        "agent_id": lock.holder_id,
        "lock": selectors.as_dict(lock, now=now),
    }
    project_id = lock.project_id
    transaction.on_commit(lambda: _send(project_id, message), robust=True)


def _send(project_id: int, message: dict[str, Any]) -> None:
    # Best effort, like delta fan-out (robust on_commit logs a failure): an agent that misses
    # it still sees the grant in list_locks and in its updates.
    layer = get_channel_layer()
    if layer is None:
        return
    async_to_sync(layer.group_send)(group_name(project_id), message)
