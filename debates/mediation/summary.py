"""The structured summary of an escalated debate: PeerCode's own rendering, without a model.

It is the summary a human gets when no model is configured or the model fails, and the part of
the dossier a model is sent (with :func:`_transcript_section`, every turn in full). Untrusted
text is rendered only inside quote blocks (each line prefixed with ``> ``), or collapsed onto
one line after a label, so it can never pose as a heading or as PeerCode's own text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from debates.mediation.records import Dossier, EvidenceRecord, ProposalRecord, TurnRecord

# How much of each untrusted text the summary shows.
_PROPOSAL_CHARS = 2_000
_RATIONALE_CHARS = 1_500
_POINT_CHARS = 800  # one objection or answer
_QUOTE_CHARS = 1_000
_INLINE_CHARS = 200  # names, URLs, queries: anything shown on one line after a label

_ARROW = " → "
_NO_STANCE = "—"
_NO_TURN = "(no turn)"


def structured_summary(dossier: Dossier) -> str:
    """A deterministic markdown summary of an escalated debate, for the human who decides.

    Says why it escalated, then each proposal with its supporters and text, each
    participant's stance round by round, final positions with their rationales, the objections
    still raised in each participant's latest turn, and the evidence cited. Untrusted text
    appears only in ``> `` quote blocks or collapsed onto one line after a label; long texts
    are cut with a marker saying how much was left out.
    """
    participants = _participants(dossier)
    latest = _latest_turns(dossier.transcript)
    sections = [
        _header(dossier),
        _proposals_section(dossier.proposals),
        _stances_section(dossier, participants),
        _positions_section(participants, latest),
        _objections_section(participants, latest),
        _evidence_section(dossier.evidence),
    ]
    return "\n\n".join(sections) + "\n"


def _header(dossier: Dossier) -> str:
    lines = [
        f"# Debate {dossier.debate_id} escalated to a human",
        "",
        f"Why: {_reason(dossier)}",
        f"Project: {_inline(dossier.project)}",
        f"Subject: {_inline(dossier.subject)}",
        "Participants: " + _names(dossier.participants),
        "Topic:",
        _quote(dossier.topic, limit=_RATIONALE_CHARS),
    ]
    return "\n".join(lines)


def _reason(dossier: Dossier) -> str:
    held = f"{dossier.rounds} round{'' if dossier.rounds == 1 else 's'} held"
    if dossier.reason == "max_rounds":
        return f"no consensus after the last round ({held})."
    if dossier.reason == "stalemate":
        return f"stalemate: the debate stopped converging before its last round ({held})."
    return f"{_inline(dossier.reason)} ({held})."


def _proposals_section(proposals: tuple[ProposalRecord, ...]) -> str:
    if not proposals:
        return "## Proposals\n\nNo proposal was made."
    blocks = ["## Proposals"]
    for proposal in proposals:
        blocks.append(
            f"### {_inline(proposal.label)} by {_inline(proposal.author)}, "
            f"round {proposal.round}\n"
            f"Final supporters: {_names(proposal.supporters, empty='nobody')}\n"
            + _quote(proposal.text, limit=_PROPOSAL_CHARS)
        )
    return "\n\n".join(blocks)


def _stances_section(dossier: Dossier, participants: list[str]) -> str:
    lines = [
        "## Stances by round",
        "",
        f"Each participant's stance in rounds 1 to {dossier.rounds}: a proposal label, "
        f"{_NO_STANCE} for a turn without a stance, {_NO_TURN} for a missed round.",
        "",
    ]
    turns = {(turn.agent, turn.round): turn for turn in dossier.transcript}
    rounds = max([dossier.rounds, *(turn.round for turn in dossier.transcript)])
    for agent in participants:
        stances = [_stance(turns.get((agent, number))) for number in range(1, rounds + 1)]
        lines.append(f"- {_inline(agent)}: {_ARROW.join(stances)}")
    return "\n".join(lines)


def _stance(turn: TurnRecord | None) -> str:
    if turn is None:
        return _NO_TURN
    if turn.proposal is None:
        return _NO_STANCE
    label = _inline(turn.proposal)
    return f"{label} (silent)" if turn.kind == "silent" else label


def _positions_section(participants: list[str], latest: dict[str, TurnRecord]) -> str:
    blocks = ["## Final positions"]
    for agent in participants:
        turn = latest.get(agent)
        if turn is None:
            blocks.append(f"- {_inline(agent)}: took no turn.")
            continue
        blocks.append(
            f"- {_inline(agent)} (round {turn.round}): {_doing(turn)}\n"
            + _quote(turn.rationale, limit=_RATIONALE_CHARS, indent="  ")
        )
    return "\n\n".join(blocks)


def _objections_section(participants: list[str], latest: dict[str, TurnRecord]) -> str:
    blocks = ["## Open objections", "Objections raised in each participant's latest turn."]
    for agent in participants:
        turn = latest.get(agent)
        if turn is None:
            continue
        for objection in turn.objections:
            blocks.append(
                f"- {_inline(agent)} (round {turn.round}):\n"
                + _quote(objection, limit=_POINT_CHARS, indent="  ")
            )
    if len(blocks) == 2:
        blocks.append("None.")
    return "\n\n".join(blocks)


def _evidence_section(evidence: tuple[EvidenceRecord, ...]) -> str:
    if not evidence:
        return "## Evidence\n\nNo evidence was cited."
    blocks = ["## Evidence"]
    for number, item in enumerate(evidence, start=1):
        if item.provider:
            found = f"found with {_inline(item.provider)}"
            found += f' for the query "{_inline(item.query)}"' if item.query else ""
        else:
            found = "cited by hand"
        blocks.append(
            f"- E{number}: cited by {_inline(item.agent)} in round {item.round}, {found}\n"
            f"  URL: {_inline(item.url, limit=_QUOTE_CHARS) or '(none)'}\n"
            + _quote(item.quote, limit=_QUOTE_CHARS, indent="  ")
        )
    return "\n\n".join(blocks)


def _transcript_section(transcript: tuple[TurnRecord, ...]) -> str:
    """Every turn in full, for the model: the summary shows only the latest ones."""
    blocks = ["## Full transcript"]
    current_round: int | None = None
    for turn in sorted(transcript, key=lambda turn: turn.round):
        if turn.round != current_round:
            current_round = turn.round
            blocks.append(f"### Round {turn.round}")
        moved = " (changed stance)" if turn.moved else ""
        parts = [
            f"- {_inline(turn.agent)}: {_doing(turn)}{moved}",
            _quote(turn.rationale, limit=_RATIONALE_CHARS, indent="  "),
        ]
        for heading, points in (("Objection", turn.objections), ("Answer", turn.answers)):
            for point in points:
                parts.append(f"  {heading}:\n" + _quote(point, limit=_POINT_CHARS, indent="  "))
        blocks.append("\n".join(parts))
    if len(blocks) == 1:
        blocks.append("No turns were taken.")
    return "\n\n".join(blocks) + "\n"


def _doing(turn: TurnRecord) -> str:
    label = _inline(turn.proposal) if turn.proposal is not None else ""
    if turn.kind == "propose" and label:
        return f"proposes {label}"
    if turn.kind == "support" and label:
        return f"supports {label}"
    if label:
        return f"silent, keeps {label}"
    return "silent, no stance"


def _participants(dossier: Dossier) -> list[str]:
    """The participants, then anyone else who took a turn, each once, in order of appearance."""
    return list(dict.fromkeys([*dossier.participants, *(t.agent for t in dossier.transcript)]))


def _latest_turns(transcript: Iterable[TurnRecord]) -> dict[str, TurnRecord]:
    latest: dict[str, TurnRecord] = {}
    for turn in sorted(transcript, key=lambda turn: turn.round):
        latest[turn.agent] = turn
    return latest


def _names(names: Iterable[str], *, empty: str = "none") -> str:
    return ", ".join(_inline(name) for name in names) or empty


# Quoting untrusted text ---------------------------------------------------------------------

# C0/C1 controls (escape sequences) and the bidirectional overrides that can make text read
# differently from what it is; tabs and line breaks are handled separately.
_HIDDEN_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _clean(text: str) -> str:
    return _HIDDEN_CHARACTERS.sub("", text.replace("\t", "    "))


def _cut(text: str, limit: int) -> tuple[str, int]:
    """``text`` cut to ``limit`` characters, and how many were left out."""
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def _quote(text: str, *, limit: int, indent: str = "") -> str:
    """``text`` as a quote block: every line starts with ``>``, so none can pose as structure."""
    shown, left_out = _cut(_clean(text).strip(), limit)
    if not shown:
        return f"{indent}(nothing written)"
    lines = [f"{indent}> {line}".rstrip() for line in shown.splitlines()]
    if left_out:
        lines.append(f"{indent}[… truncated: {left_out} more characters not shown]")
    return "\n".join(lines)


def _inline(text: str, *, limit: int = _INLINE_CHARS) -> str:
    """``text`` on one line (every run of whitespace, line breaks included, becomes a space)."""
    shown, left_out = _cut(" ".join(_clean(text).split()), limit)
    return shown + ("…" if left_out else "")
