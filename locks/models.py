"""Locks (leases on repository paths, sections and line ranges) and the push queue."""

from __future__ import annotations

from django.db import models

from projects.models import Agent, Project, Task


class Scope(models.TextChoices):
    FILE = "file", "Whole file"
    SECTION = "section", "Section (a symbol)"
    LINES = "lines", "Line range"


class Mode(models.TextChoices):
    EXCLUSIVE = "exclusive", "Exclusive"
    SHARED = "shared", "Shared"


class LockStatus(models.TextChoices):
    WAITING = "waiting", "Waiting in line"
    HELD = "held", "Held"
    RELEASED = "released", "Released"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled (gave up waiting)"


class LockSpace(models.Model):
    """A project's lock counter: ``last_token`` is the highest fencing token handed out.

    Every grant (and every push lease) locks this row and takes ``last_token + 1`` in the
    transaction that stores it, so tokens strictly increase in commit order, and grants in one
    project are serialized: checking for conflicts and inserting can never interleave.
    """

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="lock_space"
    )
    last_token = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.project.slug} token={self.last_token}"


class Lock(models.Model):
    """A lease on a path, a section of it or a line range of it, or a request waiting for one."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="locks")
    holder = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="locks")
    task = models.ForeignKey(
        Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="locks"
    )
    path = models.CharField(max_length=1000, help_text="Relative, forward slashes, no '..'.")
    scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.FILE)
    section = models.CharField(max_length=300, blank=True, help_text="e.g. AuthService.login")
    start_line = models.PositiveIntegerField(null=True, blank=True)
    end_line = models.PositiveIntegerField(null=True, blank=True)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.EXCLUSIVE)
    reason = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=LockStatus.choices)
    fencing_token = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Set when granted; strictly increasing per project."
    )
    ttl_seconds = models.PositiveIntegerField()
    requested_at = models.DateTimeField()
    granted_at = models.DateTimeField(null=True, blank=True)
    renewed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="When the lease ends (held) or the wait ends (waiting)."
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["project", "id"]
        indexes = [
            models.Index(fields=["project", "status", "path"], name="lock_live_by_path"),
            models.Index(fields=["holder", "status"], name="lock_by_holder"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "fencing_token"], name="lock_unique_fencing_token"
            ),
            models.CheckConstraint(
                condition=models.Q(start_line__isnull=True, end_line__isnull=True)
                | models.Q(start_line__gte=1, end_line__gte=models.F("start_line")),
                name="lock_range_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.path} [{self.scope}] {self.mode} by {self.holder.name} ({self.status})"


class PushStatus(models.TextChoices):
    WAITING = "waiting", "Waiting in line"
    ACTIVE = "active", "Its turn (holds the push lease)"
    COMPLETED = "completed", "Completed"
    ABANDONED = "abandoned", "Abandoned"
    EXPIRED = "expired", "Lease expired (turn passed on)"


class PushTicket(models.Model):
    """A place in a project's push queue for its integration branch."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="push_tickets")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="push_tickets")
    branch = models.CharField(max_length=200)
    paths = models.JSONField(default=list, blank=True, help_text="Paths it means to change.")
    status = models.CharField(max_length=10, choices=PushStatus.choices)
    fencing_token = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Set when its turn comes (from the lock counter)."
    )
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    commit_sha = models.CharField(max_length=64, blank=True)
    previous_head = models.CharField(max_length=64, blank=True)
    violations = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["project", "id"]
        indexes = [models.Index(fields=["project", "branch", "status"], name="push_queue")]

    def __str__(self) -> str:
        return f"push #{self.pk} {self.branch} by {self.agent.name} ({self.status})"
