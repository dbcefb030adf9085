"""Context deltas: numbered, append-only discoveries pushed by agents to their peers."""

from __future__ import annotations

from typing import Any

from django.db import models

from projects.models import Agent, ContractVersion, Project


class DeltaKind(models.TextChoices):
    CONTRACT_CHANGE = "contract_change", "Contract change"
    NEW_DEPENDENCY = "new_dependency", "New dependency"
    SCOPE_SHIFT = "scope_shift", "Scope shift"
    DECISION = "decision", "Decision"
    DISCOVERY = "discovery", "Discovery"
    BLOCKER = "blocker", "Blocker"
    STATUS = "status", "Status"
    DEBATE = "debate", "Debate"  # sent by the server to a debate's participants


class Significance(models.TextChoices):
    INFO = "info", "Info"
    NORMAL = "normal", "Normal"
    BREAKING = "breaking", "Breaking"


class DeltaStream(models.Model):
    """A project's delta counter: ``head`` is the highest sequence number handed out.

    Incremented in the transaction that stores the delta, under the row's lock, so numbers
    are 1, 2, 3 ... with no gap and no duplicate, and commit in number order.
    """

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="delta_stream"
    )
    head = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.project.slug} head={self.head}"


class Delta(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deltas")
    seq = models.PositiveBigIntegerField()
    author = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="deltas"
    )
    author_label = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=DeltaKind.choices)
    significance = models.CharField(
        max_length=10, choices=Significance.choices, default=Significance.NORMAL
    )
    summary = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    tasks = models.JSONField(default=list, blank=True, help_text="Task keys it touches.")
    contracts = models.JSONField(default=list, blank=True, help_text="Contract names it touches.")
    paths = models.JSONField(default=list, blank=True, help_text="Repository paths or globs.")
    agents = models.JSONField(
        default=list, blank=True, help_text="Names of agents it is addressed to (debates)."
    )
    contract_version = models.ForeignKey(
        ContractVersion,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deltas",
        help_text="The version this contract change published (its author owns the contract).",
    )
    proposed_spec = models.TextField(
        blank=True, help_text="A spec proposed by an agent that does not own the contract."
    )
    folded = models.PositiveIntegerField(
        default=0, help_text="How many duplicate pushes were folded into this delta."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["project", "seq"], name="delta_unique_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind}: {self.summary}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise RuntimeError("Deltas are append-only; push a new delta instead.")
        super().save(*args, **kwargs)


class AgentCursor(models.Model):
    """The highest sequence number an agent has acknowledged; it only moves forward."""

    agent = models.OneToOneField(
        Agent, on_delete=models.CASCADE, primary_key=True, related_name="delta_cursor"
    )
    acked_seq = models.PositiveBigIntegerField(default=0)
    acked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.agent.name} acked {self.acked_seq}"
