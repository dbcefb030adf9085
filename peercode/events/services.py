"""The one function that writes events."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from peercode.actors import Actor
from peercode.events.models import Event

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
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "record_event() must run inside the transaction of the change it records."
        )
    # Round-trip through JSON so dates and UUIDs are stored as the strings a reader gets back.
    clean_payload = json.loads(json.dumps(payload or {}, cls=DjangoJSONEncoder))
    return Event.objects.create(
        project=project,
        type=type,
        actor=actor.label,
        subject=subject,
        payload=clean_payload,
    )
