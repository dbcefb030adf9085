"""The plain records a mediation works on, and what it gives back.

The debate services fill a :class:`Dossier` from the database (see
:func:`debates.selectors.dossier_of`); :mod:`.summary` and :mod:`.mediator` read it and
neither reads nor writes the database. Every text in it that a participant wrote or quoted is
untrusted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EvidenceRecord:
    """A quote a participant cited. Untrusted text: shown as a quote, never interpreted."""

    agent: str
    round: int
    url: str
    quote: str
    provider: str  # "" when cited by hand
    query: str  # "" when cited by hand


@dataclass(frozen=True)
class TurnRecord:
    round: int
    agent: str
    kind: str  # "propose" | "support" | "silent"
    proposal: str | None  # label the turn proposed or supported; None when silent with no stance
    rationale: str
    objections: tuple[str, ...]
    answers: tuple[str, ...]
    moved: bool | None  # None in round 1


@dataclass(frozen=True)
class ProposalRecord:
    label: str  # "P1"
    author: str
    round: int
    text: str
    supporters: tuple[str, ...]  # participants whose final stance is this proposal


@dataclass(frozen=True)
class Dossier:
    debate_id: int
    project: str
    topic: str
    subject: str  # e.g. "contract AuthAPI v3", "task P1-T2", "free"
    participants: tuple[str, ...]
    reason: str  # "max_rounds" | "stalemate"
    rounds: int  # rounds held
    proposals: tuple[ProposalRecord, ...]
    transcript: tuple[TurnRecord, ...]
    evidence: tuple[EvidenceRecord, ...]


@dataclass(frozen=True)
class Mediation:
    summary: str
    compromise: str  # "" when none; otherwise starts with COMPROMISE_LABEL
    source: str  # "anthropic" | "structured"
    model: str  # "" for structured
    # Tokens spent, also when a reply came back but could not be used.
    input_tokens: int
    output_tokens: int
    error: str  # why the AI mediation was not used; "" when it was or when no key is set


SOURCE_ANTHROPIC = "anthropic"
SOURCE_STRUCTURED = "structured"

# Whatever the model writes, the compromise reaches the human marked as advice.
COMPROMISE_LABEL = "Suggestion only, not a decision: "
