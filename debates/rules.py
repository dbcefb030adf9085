"""The rules that decide a debate, as pure functions: no database, no LLM, no clock.

* **Restating** — a proposal restates another when their normalized texts are equal, or when
  their word-trigram sets overlap by at least :data:`RESTATE_SIMILARITY` (Jaccard index). The
  measure is linear in the text's length (a spec may be 200,000 characters), ignores case,
  whitespace and punctuation, and is insensitive to reordered paragraphs only as far as the
  trigrams inside them survive: moving whole sections around is a restatement, changing one
  word in a short proposal is not.
* **Tally** — after a round, consensus when every participant stands for the same proposal
  (an author stands for its own); otherwise escalation after the last round of the set, or
  early on a stalemate (no stance moved for :data:`STALEMATE_ROUNDS` rounds) when the project
  escalates stalemates; otherwise the next round.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

RESTATE_SIMILARITY = 0.9
STALEMATE_ROUNDS = 2

_WORD = re.compile(r"\w+")


def normalize(text: str) -> str:
    """Lowercase words separated by single spaces; punctuation and layout dropped."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_WORD.findall(folded))


def _trigrams(words: Sequence[str]) -> set[tuple[str, ...]]:
    if len(words) < 3:
        return {tuple(words)}
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def similarity(first: str, second: str) -> float:
    """Jaccard index of the word trigrams of two normalized texts (1.0: the same text)."""
    a, b = normalize(first), normalize(second)
    if a == b:
        return 1.0
    grams_a, grams_b = _trigrams(a.split()), _trigrams(b.split())
    union = len(grams_a | grams_b)
    return len(grams_a & grams_b) / union if union else 1.0


def restates(candidate: str, earlier: str) -> bool:
    return similarity(candidate, earlier) >= RESTATE_SIMILARITY


@dataclass(frozen=True)
class Tally:
    """What a closed round decided. ``stances`` maps each participant to the proposal number it
    stands for (None: no stance yet)."""

    stances: dict[str, int | None]
    moved: tuple[str, ...]
    silent: tuple[str, ...]
    outcome: str  # "consensus", "escalated" or "next_round"
    consensus_on: int | None = None
    escalation_reason: str = ""  # "max_rounds" or "stalemate"

    def support(self) -> dict[int, list[str]]:
        """Proposal number -> the participants standing for it, by name."""
        backing: dict[int, list[str]] = {}
        for agent, stance in sorted(self.stances.items()):
            if stance is not None:
                backing.setdefault(stance, []).append(agent)
        return backing

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tally:
        """The tally a closed round stored (:meth:`as_json`), read back."""

        def number(label: str | None) -> int | None:
            return int(label[1:]) if label else None

        return cls(
            stances={agent: number(label) for agent, label in data["stances"].items()},
            moved=tuple(data["moved"]),
            silent=tuple(data["silent"]),
            outcome=data["outcome"],
            consensus_on=number(data.get("consensus_on")),
            escalation_reason=data.get("escalation_reason") or "",
        )

    def as_json(self) -> dict[str, object]:
        return {
            "stances": {
                agent: (f"P{stance}" if stance is not None else None)
                for agent, stance in sorted(self.stances.items())
            },
            "support": {f"P{number}": names for number, names in sorted(self.support().items())},
            "moved": list(self.moved),
            "silent": list(self.silent),
            "outcome": self.outcome,
            "consensus_on": f"P{self.consensus_on}" if self.consensus_on else None,
            "escalation_reason": self.escalation_reason or None,
        }


def tally(
    *,
    stances: Mapping[str, int | None],
    moved: Sequence[str],
    silent: Sequence[str],
    round_in_set: int,
    max_rounds: int,
    still_rounds: int,
    stalemate_escalates: bool,
) -> Tally:
    """Decide a closed round.

    ``still_rounds`` counts the consecutive rounds, ending with this one, in which no stance
    moved (the first round of a set never counts: nobody had a stance to move from).
    """
    chosen = set(stances.values())

    def decided(outcome: str, *, on: int | None = None, reason: str = "") -> Tally:
        return Tally(
            stances=dict(stances),
            moved=tuple(moved),
            silent=tuple(silent),
            outcome=outcome,
            consensus_on=on,
            escalation_reason=reason,
        )

    if len(chosen) == 1 and None not in chosen:
        return decided("consensus", on=chosen.pop())
    if round_in_set >= max_rounds:
        return decided("escalated", reason="max_rounds")
    if stalemate_escalates and still_rounds >= STALEMATE_ROUNDS:
        return decided("escalated", reason="stalemate")
    return decided("next_round")
