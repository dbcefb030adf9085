"""Input shapes of the debates' REST API.

They check types, lengths and choices, with the limits of :mod:`debates.services.common`, and
refuse unknown fields (see :class:`peercode.api.StrictSerializer`); the services check
everything else.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from debates import search
from debates.models import DebateStatus, SubjectKind, TurnKind
from debates.services.common import (
    MAX_CLIENT_KEY,
    MAX_ITEM_TEXT,
    MAX_ITEMS,
    MAX_PARTICIPANTS,
    MAX_PROPOSAL,
    MAX_RATIONALE,
    MAX_TOPIC,
)
from peercode.api import MAX_ROW_ID, QuerySerializer, StrictSerializer
from projects.api.serializers import choice_field, text_field

MAX_LABEL = 20  # a proposal or objection label such as 'P2' or 'O13'
MAX_URL = 2_000


class DebateQuery(QuerySerializer):
    whole_proposal = serializers.CharField(
        max_length=MAX_LABEL,
        required=False,
        help_text="A proposal's label (e.g. 'P2') to receive whole although no longer in play.",
    )


class DebateFilter(QuerySerializer):
    status = choice_field(DebateStatus.choices, "debate status", required=False)
    awaiting = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Agents only: true keeps the open debates whose round waits for your turn.",
    )
    participant = serializers.CharField(
        max_length=64, required=False, help_text="An agent's name: debates it takes part in."
    )


# What opening a debate needs unless it comes from a contract proposal (from_delta).
OPEN_NEEDS = {
    "topic": "say in one line what is being decided (or give from_delta)",
    "participants": "name the agents who take part (an agent opening it takes part anyway)",
}


class DebateOpenIn(StrictSerializer):
    topic = serializers.CharField(
        max_length=MAX_TOPIC,
        required=False,
        help_text="One line saying what is being decided (optional with from_delta).",
    )
    participants = serializers.ListField(
        child=serializers.CharField(max_length=64),
        max_length=MAX_PARTICIPANTS,
        required=False,
        help_text="Names of the agents taking part; an agent opening it takes part anyway. "
        "At least two in all.",
    )
    subject = choice_field(SubjectKind.choices, "debate subject", required=False)
    contract = serializers.CharField(
        max_length=120, required=False, help_text="subject 'contract': the contract's name."
    )
    contract_version = serializers.IntegerField(
        min_value=1, required=False, help_text="subject 'contract': default its newest version."
    )
    task = serializers.CharField(
        max_length=40, required=False, help_text="subject 'task': the task's key."
    )
    proposal = serializers.CharField(
        max_length=MAX_PROPOSAL,
        trim_whitespace=False,
        required=False,
        help_text="An opening proposal (P1), visible to every participant from the start.",
    )
    rationale = text_field(max_length=MAX_RATIONALE, required=False, help_text="Why debate it.")
    from_delta = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ROW_ID,
        required=False,
        help_text="The seq of a contract proposal (a contract_change delta with a proposed "
        "spec): debate it between its proposer and the contract's owner, with the spec as P1. "
        "Takes only 'topic' besides.",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if "from_delta" in data:
            extra = sorted(set(data) - {"from_delta", "topic"})
            if extra:
                raise serializers.ValidationError(
                    {
                        name: [
                            "from_delta takes only 'topic' besides: the participants, subject "
                            "and opening proposal come from the delta."
                        ]
                        for name in extra
                    }
                )
            return data
        missing = {
            name: [f"This field is required: {why}."]
            for name, why in OPEN_NEEDS.items()
            if name not in data
        }
        if missing:
            raise serializers.ValidationError(missing)
        return data


class AnswerIn(StrictSerializer):
    objection = serializers.CharField(max_length=MAX_LABEL, help_text="e.g. 'O1'.")
    response = serializers.CharField(max_length=MAX_ITEM_TEXT)


class ObjectionIn(StrictSerializer):
    proposal = serializers.CharField(max_length=MAX_LABEL, help_text="e.g. 'P2'.")
    text = serializers.CharField(max_length=MAX_ITEM_TEXT)


class EvidenceIn(StrictSerializer):
    search_result = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ROW_ID,
        required=False,
        help_text="The id of a result the search endpoint returned; give it alone, or give "
        "'url' and 'quote' instead.",
    )
    url = serializers.CharField(
        max_length=MAX_URL, required=False, help_text="An http(s) URL, with 'quote'."
    )
    quote = serializers.CharField(
        max_length=MAX_ITEM_TEXT, required=False, help_text="The words you rely on."
    )


class TurnIn(StrictSerializer):
    client_key = serializers.CharField(
        max_length=MAX_CLIENT_KEY,
        help_text="Your own unique key for this turn: a retry with the same key and content "
        "returns the turn already taken instead of taking another.",
    )
    kind = choice_field(
        [(TurnKind.PROPOSE, "Propose"), (TurnKind.SUPPORT, "Support")],
        "turn kind",
        help_text="propose: a concrete alternative in 'proposal'; support: a proposal's label "
        "in 'supports'.",
    )
    rationale = serializers.CharField(
        max_length=MAX_RATIONALE, help_text="Why, so that the others can answer it."
    )
    proposal = serializers.CharField(
        max_length=MAX_PROPOSAL,
        trim_whitespace=False,
        required=False,
        help_text="propose: the whole spec (contract debates) or the approach.",
    )
    supports = serializers.CharField(
        max_length=MAX_LABEL, required=False, help_text="support: a label such as 'P2'."
    )
    answers = serializers.ListField(
        child=AnswerIn(),
        max_length=MAX_ITEMS,
        required=False,
        help_text="From the second round of a set: answers to the previous round's objections "
        "against the proposal you stood for.",
    )
    objections = serializers.ListField(
        child=ObjectionIn(), max_length=MAX_ITEMS, required=False, help_text="Against proposals."
    )
    evidence = serializers.ListField(
        child=EvidenceIn(), max_length=MAX_ITEMS, required=False, help_text="Sources you cite."
    )
    round = serializers.IntegerField(
        min_value=1,
        max_value=32_767,
        required=False,
        source="round_number",
        help_text="The round you read before writing this turn: if it has closed since, the "
        "turn is refused (409) instead of counting in the next round.",
    )


class WithdrawIn(StrictSerializer):
    reason = text_field(max_length=MAX_RATIONALE, required=False, help_text="For the others.")


# What each decision needs (and why), and what else it may take.
DECISION_NEEDS: dict[str, tuple[str, str, frozenset[str]]] = {
    "accept": ("proposal", "the label of the proposal to accept, e.g. 'P2'", frozenset({"reason"})),
    "edit": (
        "text",
        "the decided text in full (for a contract debate, the whole spec)",
        frozenset({"based_on", "reason"}),
    ),
    "reject": ("reason", "why every proposal is rejected, for the participants", frozenset()),
    "return": ("guidance", "what the agents should settle in their next rounds", frozenset()),
}


class DecideIn(StrictSerializer):
    action = choice_field(
        [(name, name) for name in DECISION_NEEDS],
        "decision",
        help_text="accept a proposal, decide on an edited text, reject every proposal, or "
        "return the debate to the agents with guidance.",
    )
    proposal = serializers.CharField(max_length=MAX_LABEL, required=False, help_text="accept.")
    text = serializers.CharField(
        max_length=MAX_PROPOSAL, trim_whitespace=False, required=False, help_text="edit."
    )
    based_on = serializers.CharField(
        max_length=MAX_LABEL, required=False, help_text="edit: the proposal it edits, if any."
    )
    reason = text_field(
        max_length=MAX_RATIONALE, required=False, help_text="reject; optional for accept, edit."
    )
    guidance = text_field(max_length=MAX_RATIONALE, required=False, help_text="return.")

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        action = data["action"]
        needed, why, optional = DECISION_NEEDS[action]
        if not str(data.get(needed) or "").strip():
            raise serializers.ValidationError({needed: [f"'{action}' needs {needed}: {why}."]})
        allowed = {"action", needed, *optional}
        extra = sorted(set(data) - allowed)
        if extra:
            takes = ", ".join(sorted(allowed - {"action"}))
            raise serializers.ValidationError(
                {name: [f"'{action}' takes only {takes}; leave {name} out."] for name in extra}
            )
        return data


class SearchIn(StrictSerializer):
    query = serializers.CharField(
        max_length=search.MAX_QUERY_CHARS, help_text="The key terms of the fact you need."
    )
    limit = serializers.IntegerField(
        min_value=search.MIN_LIMIT,
        max_value=search.MAX_LIMIT,
        required=False,
        help_text=f"How many results (default {search.DEFAULT_LIMIT}).",
    )
