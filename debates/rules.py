"""The rules that decide a debate, as pure functions: no database, no LLM, no clock.

* **Restating** — a proposal restates another when both say the same words once the wording is
  normalized: case, spacing, line wrapping and punctuation, a short list of filler words
  (articles, auxiliaries, "please", ...) and a plural "s" do not count, nor does the order of
  paragraphs (blocks separated by a blank line). Each text is reduced to two digests
  (:func:`digests`), so the check is one comparison of stored values, whatever the length of
  the texts or the number of proposals. An exact canonical form rather than a similarity
  threshold, because in a contract debate the smallest edit of a long spec (one field's type)
  is a real alternative that a threshold would refuse, while a reworded copy of a short
  proposal must still be refused.
* **Tally** — after a round, consensus when every participant stands for the same proposal
  (an author stands for its own); otherwise escalation after the last round of the set, or
  early on a stalemate (no stance moved for :data:`STALEMATE_ROUNDS` rounds) when the project
  escalates stalemates; otherwise the next round.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

STALEMATE_ROUNDS = 2

_WORD = re.compile(r"\w+")
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# Words whose presence or absence does not make a proposal another one.
_FILLER_TEXT = """
    a an the and or but so to of in on at by for with as is are was were be been being it its
    this that these those we i you our your should would could will shall can may just really
    very please still also then here there now
"""
FILLER = frozenset(_FILLER_TEXT.split())


def words(text: str) -> list[str]:
    """The text's content words: case-folded, punctuation and filler dropped, a plural 's'
    taken off words longer than three letters."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = []
    for word in _WORD.findall(folded):
        if word in FILLER:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        kept.append(word)
    return kept


def _digest(parts: Sequence[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def digests(text: str) -> tuple[str, str]:
    """Two fingerprints of a proposal: of its content words in order, and of its paragraphs'
    content words with the paragraphs in any order. Equal either way: it restates."""
    paragraphs = [" ".join(words(block)) for block in _PARAGRAPH_BREAK.split(text)]
    return _digest(words(text)), _digest(sorted(p for p in paragraphs if p))


def restates(candidate: str, earlier: str) -> bool:
    """Whether ``candidate`` says the same as ``earlier`` (see the module's docstring)."""
    mine, theirs = digests(candidate), digests(earlier)
    return mine[0] == theirs[0] or mine[1] == theirs[1]


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
