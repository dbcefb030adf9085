"""The one module that writes events: :func:`record_event`, and :func:`record_refusal` for
refusals that an agent may repeat many times."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from peercode.actors import Actor
from peercode.events.models import Event, RefusalTally

if TYPE_CHECKING:
    from projects.models import Project


def record_event(
    *,
    project: Project | None,
    type: str,
    actor: Actor,
    subject: str = "",
    payload: dict[str, Any] | None = None,
) -> Event:
    """Append one event in the caller's transaction.

    Must be called inside ``transaction.atomic()`` together with the change it records, so that
    a change and its event commit or roll back together; called outside one it raises.
    """
    _require_transaction()
    return _append(
        project_id=project.pk if project is not None else None,
        type=type,
        actor=actor.label,
        subject=subject,
        payload=payload or {},
    )


def record_refusal(
    *,
    project: Project | None,
    type: str,
    actor: Actor,
    subject: str,
    reason: str,
    payload: dict[str, Any],
) -> None:
    """Record a refusal in the caller's transaction, folding identical repeats into one event.

    The first refusal of ``type`` to ``actor`` about ``subject`` is recorded at once (its
    payload gets ``"count": 1``) and opens a fold window of ``PEERCODE_REFUSAL_FOLD_SECONDS``.
    Refusals for the same ``reason`` (a text naming what made it: the request and what stood in
    its way) within the window are only counted, in a :class:`RefusalTally` row. What it
    counted becomes one event, the payload of the last of them with ``"count"`` (how many) and
    ``"first_at"``, when the window closes (:func:`flush_refusals`, run by the lock sweep) or
    when a refusal for another reason, or after the window, comes first. Events are never
    updated: over the log, the ``count`` of a type's events adds up to the refusals made.

    Concurrent refusals with one subject serialize on the tally row (``select_for_update``;
    its unique key makes a racing first insert wait for the other's commit), so none is lost.
    """
    _require_transaction()
    now = timezone.now()
    clean_payload = _clean(payload)
    reason_digest = _digest(reason)
    tally, created = RefusalTally.objects.select_for_update().get_or_create(
        key=_digest(json.dumps([project.pk if project else None, type, actor.label, subject])),
        defaults={
            "project": project,
            "type": type,
            "actor_kind": actor.kind,
            "actor_name": actor.name,
            "subject": subject,
            "reason": reason_digest,
            "closes_at": _window_end(now),
        },
    )
    if not created and tally.reason == reason_digest and now < tally.closes_at:
        tally.count += 1
        tally.first_at = tally.first_at or now
        tally.last_payload = clean_payload
        tally.save(update_fields=["count", "first_at", "last_payload"])
        return
    if not created:
        _log_folded(tally)
        tally.reason = reason_digest
        tally.count = 0
        tally.first_at = None
        tally.last_payload = {}
        tally.closes_at = _window_end(now)
        tally.save()
    record_event(
        project=project,
        type=type,
        actor=actor,
        subject=subject,
        payload={**clean_payload, "count": 1},
    )


def flush_refusals(*, now: datetime | None = None) -> int:
    """Log what every fold window closed by ``now`` counted, one event each, and forget those
    windows. One transaction; returns how many events it recorded."""
    recorded = 0
    with transaction.atomic():
        closed = RefusalTally.objects.select_for_update().filter(
            closes_at__lte=now or timezone.now()
        )
        for tally in closed.order_by("pk"):
            recorded += _log_folded(tally)
            tally.delete()
    return recorded


def _log_folded(tally: RefusalTally) -> int:
    if not tally.count:
        return 0
    assert tally.first_at is not None
    _append(
        project_id=tally.project_id,
        type=tally.type,
        actor=Actor(kind=tally.actor_kind, name=tally.actor_name).label,
        subject=tally.subject,
        payload={
            **tally.last_payload,
            "count": tally.count,
            "first_at": tally.first_at.isoformat(),
        },
    )
    return 1


def _append(
    *, project_id: int | None, type: str, actor: str, subject: str, payload: dict[str, Any]
) -> Event:
    return Event.objects.create(
        project_id=project_id, type=type, actor=actor, subject=subject, payload=_clean(payload)
    )


def _clean(payload: dict[str, Any]) -> dict[str, Any]:
    # Round-trip through JSON so dates and UUIDs are stored as the strings a reader gets back.
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _window_end(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.PEERCODE_REFUSAL_FOLD_SECONDS)


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Events must be recorded inside the transaction of the change.")
