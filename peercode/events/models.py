"""The append-only event log (a transactional outbox).

Every state change in PeerCode writes one row here, in the same transaction as the change,
through :func:`peercode.events.record_event`. Rows are never updated or deleted; the project
link carries no database constraint so that the audit trail outlives a deleted project.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models


class AppendOnlyError(RuntimeError):
    pass


class Event(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(
        "projects.Project",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="events",
        null=True,
        blank=True,
    )
    type = models.CharField(max_length=64, db_index=True)
    actor = models.CharField(max_length=200, help_text="agent:<name>, user:<username> or system")
    subject = models.CharField(max_length=300, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["project", "created_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.subject} by {self.actor}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Events are append-only; an existing event cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("Events are append-only; an event cannot be deleted.")


class RefusalTally(models.Model):
    """Identical refusals not yet in the log: one row per (project, type, actor, subject) while
    its fold window is open (see :func:`peercode.events.services.record_refusal`).

    Not part of the log, so rows change and go: the sweep records one event for what a closed
    window counted and deletes the row.
    """

    # sha256 of project, type, actor and subject: the one row a refusal may fold into.
    key = models.CharField(max_length=64, unique=True)
    project = models.ForeignKey(
        "projects.Project",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        null=True,
        blank=True,
    )
    type = models.CharField(max_length=64)
    actor_kind = models.CharField(max_length=16)
    actor_name = models.CharField(max_length=200)
    subject = models.CharField(max_length=300, blank=True)
    # sha256 of what made the refusal (e.g. the request and the locks in its way): a refusal
    # for another reason is not folded into this one.
    reason = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0, help_text="Refusals folded, not yet logged.")
    first_at = models.DateTimeField(null=True, blank=True)
    last_payload = models.JSONField(default=dict, blank=True)
    closes_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.type} {self.subject} by {self.actor_kind}:{self.actor_name} x{self.count}"
