"""What a debate's admin page shows: the human's full view of the debate, shaped for the
templates under ``admin/debates/debate/``, with the decision forms the human may use.

Everything the agents wrote or quoted is untrusted: the templates show it auto-escaped, and
only web links (http and https) become links.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.urls import reverse

from debates import selectors
from debates.admin.decisions import DECISIONS
from debates.mediation import SOURCE_ANTHROPIC, SOURCE_STRUCTURED
from debates.models import Debate, DebateStatus, DecisionKind, EscalationReason, TurnKind

OUTCOMES = {
    "next_round": "no consensus; the next round opened",
    "consensus": "consensus",
    "escalated": "escalated to a human",
    "withdrawn": "withdrawn",
}
CLOSED_BY = {
    "turns": "everyone took a turn",
    "deadline": "the deadline passed",
    "withdrawn": "the debate was withdrawn",
}
SUMMARY_SOURCES = {
    SOURCE_ANTHROPIC: "AI-written by the mediator: advice only. Check it against the transcript.",
    SOURCE_STRUCTURED: "Built from the transcript by PeerCode's rules (no AI).",
}


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _evidence(item: dict[str, Any]) -> dict[str, Any]:
    # Only web links become links: anything else is shown as text, never followed.
    link = item["url"] if urlsplit(item["url"]).scheme in ("http", "https") else None
    return {**item, "link": link, "retrieved_at": _when(item["retrieved_at"])}


def _turn(turn: dict[str, Any]) -> dict[str, Any]:
    stance = turn["stance"] or "no stance"
    if turn["kind"] == TurnKind.SILENT:
        says, movement = f"was silent, so holds {stance}", "silent"
    else:
        says = f"{'proposes' if turn['kind'] == TurnKind.PROPOSE else 'supports'} {stance}"
        movement = {True: "moved", False: "held", None: "first stance"}[turn["moved"]]
    return {
        **turn,
        "says": says,
        "movement": movement,
        "evidence": [_evidence(item) for item in turn["evidence"]],
    }


def _round(row: dict[str, Any], turns: list[dict[str, Any]], awaiting: list[str]) -> dict[str, Any]:
    tally = row["tally"] or {}
    return {
        "number": row["number"],
        "opened_at": _when(row["opened_at"]),
        "deadline": _when(row["deadline"]),
        "closed_at": _when(row["closed_at"]),
        "closed_by": CLOSED_BY.get(row["closed_by"] or "", row["closed_by"]),
        "outcome": OUTCOMES.get(row["outcome"] or "", row["outcome"]),
        "turns": turns,
        "awaiting": awaiting if row["closed_at"] is None else [],
        "support": [(label, ", ".join(names)) for label, names in tally.get("support", {}).items()],
        "moved": ", ".join(tally.get("moved", [])),
        "silent": ", ".join(tally.get("silent", [])),
        "consensus_on": tally.get("consensus_on"),
    }


def debate_page(debate: Debate, *, may_decide: bool, edit: str = "") -> dict[str, Any]:
    """What the debate's page shows, from the human's full view of the debate
    (:func:`debates.selectors.debate_as_dict` with no viewer), shaped for the templates."""
    shape = selectors.debate_as_dict(debate, viewer=None)
    by_round: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for turn in shape["turns"]:
        by_round[turn["round"]].append(_turn(turn))
    rounds = [_round(row, by_round[row["number"]], shape["awaiting"]) for row in shape["rounds"]]
    escalation = shape["escalation"]
    decision = shape["decision"]
    offered = [d for d in DECISIONS.values() if d.offered_when == debate.status]
    if escalation:
        escalation = {
            **escalation,
            "at": _when(escalation["at"]),
            "reason": EscalationReason(escalation["reason"]).label if escalation["reason"] else "",
            "source": SUMMARY_SOURCES.get(escalation["summary_source"], ""),
            "ai_written": escalation["summary_source"] == SOURCE_ANTHROPIC,
        }
    if decision:
        decision = {**decision, "kind": DecisionKind(decision["kind"]).label}
    proposals = [
        {**proposal, "decided": decision is not None and proposal["id"] == decision["proposal"]}
        for proposal in shape["proposals"]
    ]
    return {
        "debate": shape,
        "rounds": rounds,
        "proposals": proposals,
        "escalation": escalation,
        "decision": decision,
        "withdrawal": (
            {"by": debate.decided_by, "reason": debate.decision_reason, "at": debate.closed_at}
            if debate.status == DebateStatus.WITHDRAWN
            else None
        ),
        "may_edit": may_decide and any(d.slug == "edit" for d in offered),
        "decisions": [
            {
                "slug": d.slug,
                "title": d.title,
                "url": reverse("admin:debates_debate_decide", args=[debate.pk, d.slug]),
                "form": d(
                    auto_id=f"id_{d.slug}_%s",  # several forms on one page: unique ids
                    initial=_initial(d.slug, edit, shape["proposals"]),
                    proposals=_choices(shape["proposals"]),
                ),
            }
            for d in offered
        ]
        if may_decide
        else [],
    }


def _choices(proposals: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(p["id"], f"{p['id']} by {p['author']}") for p in proposals]


def _initial(slug: str, edit: str, proposals: list[dict[str, Any]]) -> dict[str, str]:
    """The edit form starts from the proposal the human chose to edit (``?edit=P2``)."""
    chosen = next((p for p in proposals if p["id"] == edit.strip().upper()), None)
    if slug != "edit" or chosen is None:
        return {}
    return {"based_on": chosen["id"], "text": chosen["text"]}
