"""Debates: structured, multi-round negotiation between agents of one project.

A debate has participants (agents), rounds and turns. In each round every participant takes
exactly one turn: it proposes a concrete alternative or supports a proposal, with a rationale,
objections to other proposals and answers to the objections of the round before. The server
tallies each round by rule (:mod:`debates.rules`): consensus when every participant stands for
the same proposal; after the last round, or a stalemate, the debate escalates to a human.

Turns, proposals, objections and evidence are append-only: a debate's transcript is never
rewritten. The debate row itself carries the state machine and is locked while a turn is taken
or a round closed, so each round closes exactly once.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from projects.models import Agent, Contract, ContractVersion, Project, Task


class DebateStatus(models.TextChoices):
    OPEN = "open", "Open"
    CONSENSUS = "consensus", "Consensus"
    ESCALATED = "escalated", "Escalated to a human"
    RESOLVED = "resolved", "Resolved by a human"
    WITHDRAWN = "withdrawn", "Withdrawn"


# The legal moves of the state machine. Returning an escalated debate with guidance opens a
# fresh set of rounds; consensus, resolved and withdrawn are final.
DEBATE_TRANSITIONS: dict[str, frozenset[str]] = {
    DebateStatus.OPEN: frozenset(
        {DebateStatus.CONSENSUS, DebateStatus.ESCALATED, DebateStatus.WITHDRAWN}
    ),
    DebateStatus.ESCALATED: frozenset({DebateStatus.RESOLVED, DebateStatus.OPEN}),
    DebateStatus.CONSENSUS: frozenset(),
    DebateStatus.RESOLVED: frozenset(),
    DebateStatus.WITHDRAWN: frozenset(),
}


class SubjectKind(models.TextChoices):
    CONTRACT = "contract", "A contract version"
    TASK = "task", "A task"
    FREE = "free", "Free"


class EscalationReason(models.TextChoices):
    MAX_ROUNDS = "max_rounds", "Last round without consensus"
    STALEMATE = "stalemate", "Stalemate: no stance moved for two rounds"


class DecisionKind(models.TextChoices):
    CONSENSUS = "consensus", "Consensus of the participants"
    ACCEPTED = "accepted", "A human accepted a proposal"
    EDITED = "edited", "A human decided on an edited proposal"
    REJECTED = "rejected", "A human rejected every proposal"


class Debate(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="debates")
    topic = models.CharField(max_length=300)
    subject_kind = models.CharField(
        max_length=10, choices=SubjectKind.choices, default=SubjectKind.FREE
    )
    contract = models.ForeignKey(
        Contract, on_delete=models.SET_NULL, null=True, blank=True, related_name="debates"
    )
    contract_version = models.ForeignKey(
        ContractVersion,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="debates",
        help_text="The version under discussion when the debate opened.",
    )
    task = models.ForeignKey(
        Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="debates"
    )
    initiator = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    initiator_label = models.CharField(max_length=200)
    participants = models.ManyToManyField(Agent, related_name="debates")
    status = models.CharField(
        max_length=10, choices=DebateStatus.choices, default=DebateStatus.OPEN, db_index=True
    )
    max_rounds = models.PositiveSmallIntegerField(
        help_text="Rounds in each set before escalation (the project's setting when opened)."
    )
    current_round = models.PositiveSmallIntegerField(default=1)
    cycle_start = models.PositiveSmallIntegerField(
        default=1,
        help_text="The first round of the current set; a human's guidance starts a fresh set.",
    )
    round_deadline = models.DateTimeField(null=True, blank=True)
    guidance = models.TextField(blank=True, help_text="A human's guidance for the current set.")
    source_delta_seq = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The contract proposal (a delta) this debate came from."
    )
    # Escalation
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_reason = models.CharField(
        max_length=20, choices=EscalationReason.choices, blank=True
    )
    summary = models.TextField(blank=True, help_text="What the humans are shown on escalation.")
    compromise = models.TextField(blank=True, help_text="An AI mediator's suggestion, if any.")
    summary_source = models.CharField(
        max_length=20, blank=True, help_text="'anthropic' (AI mediation) or 'structured'."
    )
    # Decision
    decision_kind = models.CharField(max_length=10, choices=DecisionKind.choices, blank=True)
    decision = models.TextField(blank=True, help_text="The decided text (a spec or approach).")
    decided_proposal = models.ForeignKey(
        "Proposal", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_by = models.CharField(max_length=200, blank=True)
    decision_reason = models.TextField(blank=True)
    dissent = models.JSONField(
        default=list, blank=True, help_text="[{agent, stance, position}] of who did not agree."
    )
    resulting_version = models.ForeignKey(
        ContractVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "-id"]
        indexes = [
            models.Index(fields=["project", "status"]),
            # The sweep's question every few seconds: which open rounds are overdue.
            models.Index(fields=["status", "round_deadline"]),
        ]

    def __str__(self) -> str:
        return f"Debate #{self.pk}: {self.topic}"

    @property
    def round_in_set(self) -> int:
        """1 for the first round of the current set of rounds."""
        return self.current_round - self.cycle_start + 1

    @property
    def is_blind(self) -> bool:
        """The first round of each set is blind: turns stay hidden until it closes."""
        return self.round_in_set == 1


class DebateRound(models.Model):
    """One round: opened, then closed exactly once with its tally."""

    debate = models.ForeignKey(Debate, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveSmallIntegerField()
    opened_at = models.DateTimeField(auto_now_add=True)
    deadline = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(
        max_length=20, blank=True, help_text="'turns' (everyone spoke) or 'deadline'."
    )
    outcome = models.CharField(
        max_length=20, blank=True, help_text="next_round, consensus, escalated or withdrawn."
    )
    tally = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["debate", "number"]
        constraints = [
            models.UniqueConstraint(fields=["debate", "number"], name="debate_round_unique")
        ]

    def __str__(self) -> str:
        return f"Debate #{self.debate_id} round {self.number}"


class AppendOnly(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise RuntimeError(f"{type(self).__name__} rows are append-only.")
        super().save(*args, **kwargs)


class Proposal(AppendOnly):
    """A concrete proposal: for a contract debate the full new spec text, otherwise the
    approach. Labelled P1, P2 ... within its debate. Round 0 is the opening proposal."""

    debate = models.ForeignKey(Debate, on_delete=models.CASCADE, related_name="proposals")
    number = models.PositiveSmallIntegerField()
    author = models.ForeignKey(Agent, on_delete=models.SET_NULL, null=True, related_name="+")
    author_label = models.CharField(max_length=200)
    round_number = models.PositiveSmallIntegerField()
    text = models.TextField()
    # debates.rules.digests(text): what the restating rule compares, so it never rereads texts.
    words_digest = models.CharField(max_length=64)
    paragraphs_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["debate", "number"]
        constraints = [
            models.UniqueConstraint(fields=["debate", "number"], name="proposal_unique_number")
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"P{self.number}"


class TurnKind(models.TextChoices):
    PROPOSE = "propose", "Propose"
    SUPPORT = "support", "Support"
    SILENT = "silent", "Silent (the round's deadline passed)"


class Turn(AppendOnly):
    """One participant's turn in one round; ``stance`` is the proposal it stands for."""

    debate = models.ForeignKey(Debate, on_delete=models.CASCADE, related_name="turns")
    round_number = models.PositiveSmallIntegerField()
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="debate_turns")
    kind = models.CharField(max_length=10, choices=TurnKind.choices)
    # RESTRICT, not PROTECT: a proposal never goes alone, but its debate (or project) may.
    stance = models.ForeignKey(
        Proposal, on_delete=models.RESTRICT, null=True, blank=True, related_name="stances"
    )
    rationale = models.TextField(blank=True)
    answers = models.JSONField(
        default=list, blank=True, help_text="[{objection: 'O3', response}] from round 2 on."
    )
    moved = models.BooleanField(
        null=True, blank=True, help_text="Stance changed since the agent's last turn (None: first)."
    )
    # NULL, not "", for silent turns: the unique key constraint must not count them.
    client_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["debate", "round_number", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["debate", "round_number", "agent"], name="turn_one_per_round"
            ),
            models.UniqueConstraint(
                fields=["debate", "agent", "client_key"],
                condition=Q(client_key__isnull=False),
                name="turn_unique_client_key",
            ),
        ]

    def __str__(self) -> str:
        return f"Debate #{self.debate_id} R{self.round_number} {self.agent_id} {self.kind}"


class Objection(AppendOnly):
    """An objection a turn raises against a proposal; labelled O1, O2 ... within its debate.
    Participants standing for that proposal answer it in the next round."""

    debate = models.ForeignKey(Debate, on_delete=models.CASCADE, related_name="objections")
    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="objections")
    number = models.PositiveSmallIntegerField()
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="objections")
    text = models.TextField()

    class Meta:
        ordering = ["debate", "number"]
        constraints = [
            models.UniqueConstraint(fields=["debate", "number"], name="objection_unique_number")
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"O{self.number}"


class SearchHit(AppendOnly):
    """One web-search result as the server retrieved it, so that evidence citing it carries
    the provider, query and retrieval time the server saw (not what an agent claims)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=40)
    query = models.CharField(max_length=400)
    rank = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=500, blank=True)
    url = models.URLField(max_length=2000)
    snippet = models.TextField(blank=True)
    retrieved_at = models.DateTimeField()

    class Meta:
        ordering = ["-retrieved_at", "rank"]

    def __str__(self) -> str:
        return f"{self.provider}: {self.url}"


class Evidence(AppendOnly):
    """A URL and a quote cited by a turn; from a search result (provider, query and retrieval
    time recorded) or by hand (provider empty). Untrusted text: always shown as a quote."""

    debate = models.ForeignKey(Debate, on_delete=models.CASCADE, related_name="evidence")
    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="evidence")
    url = models.URLField(max_length=2000)
    quote = models.TextField()
    provider = models.CharField(max_length=40, blank=True)
    query = models.CharField(max_length=400, blank=True)
    retrieved_at = models.DateTimeField(null=True, blank=True)
    search_hit = models.ForeignKey(
        SearchHit, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["debate", "id"]

    def __str__(self) -> str:
        return self.url
