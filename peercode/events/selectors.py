"""Reads of the event log."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from peercode.events.models import Event

if TYPE_CHECKING:
    from projects.models import Project


def events_of(
    project: Project,
    *,
    type: str | None = None,
    subject: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
) -> QuerySet[Event]:
    """A project's events, oldest first, narrowed by exact type, subject, actor and time."""
    events = Event.objects.filter(project=project).order_by("created_at", "id")
    if type is not None:
        events = events.filter(type=type)
    if subject is not None:
        events = events.filter(subject=subject)
    if actor is not None:
        events = events.filter(actor=actor)
    if since is not None:
        events = events.filter(created_at__gte=since)
    return events
