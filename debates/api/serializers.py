"""Input and output shapes of the debates' REST API.

Input serializers check types, lengths and choices, with the limits of
:mod:`debates.services.common`, and refuse unknown fields (see
:class:`peercode.api.StrictSerializer`); the services check everything else. Output serializers
only document the bodies, which are :func:`debates.selectors.briefs`,
:func:`debates.selectors.debate_as_dict` and :func:`debates.selectors.search_hit_as_dict`
themselves.
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

# Output shapes ------------------------------------------------------------------------------


class DebateSubjectOut(serializers.Serializer):
    kind = serializers.CharField(help_text=f"One of {', '.join(SubjectKind.values)}.")
    contract = serializers.CharField(allow_null=True)
    contract_version = serializers.IntegerField(
        allow_null=True, help_text="The contract version under discussion when it opened."
    )
    task = serializers.CharField(allow_null=True, help_text="A task key.")


class DebateBriefOut(serializers.Serializer):
    """A debate in a list: its state, participants and whom the current round waits for."""

    id = serializers.IntegerField()
    topic = serializers.CharField()
    subject = DebateSubjectOut()
    status = serializers.CharField(help_text=f"One of {', '.join(DebateStatus.values)}.")
    initiator = serializers.CharField(help_text="e.g. 'agent:ann' or 'user:alice'.")
    participants = serializers.ListField(child=serializers.CharField())
    round = serializers.IntegerField(help_text="The current round, counted from the start.")
    round_in_set = serializers.IntegerField(
        help_text="The current round within its set (a human's guidance starts a new set)."
    )
    max_rounds = serializers.IntegerField(help_text="Rounds in a set before escalation.")
    blind = serializers.BooleanField(
        help_text="The current round is blind: turns stay hidden until it closes."
    )
    round_deadline = serializers.DateTimeField(allow_null=True)
    awaiting = serializers.ListField(
        child=serializers.CharField(), help_text="Participants yet to take their turn."
    )
    created_at = serializers.DateTimeField()


class ProposalOut(serializers.Serializer):
    id = serializers.CharField(help_text="Its label: P1, P2 ...")
    author = serializers.CharField()
    round = serializers.IntegerField(help_text="0: the opening proposal.")
    text = serializers.CharField(help_text="The whole spec (contract debates) or the approach.")
    supporters = serializers.ListField(
        child=serializers.CharField(), help_text="Participants whose last stance it is."
    )


class ObjectionOut(serializers.Serializer):
    id = serializers.CharField(help_text="Its label: O1, O2 ...")
    proposal = serializers.CharField(help_text="The proposal it objects to.")
    text = serializers.CharField()


class AnswerOut(serializers.Serializer):
    objection = serializers.CharField()
    response = serializers.CharField()


class EvidenceOut(serializers.Serializer):
    url = serializers.CharField()
    quote = serializers.CharField(help_text="Untrusted text from the web: show it as a quote.")
    provider = serializers.CharField(allow_null=True, help_text="null: cited by hand.")
    query = serializers.CharField(allow_null=True)
    retrieved_at = serializers.DateTimeField(allow_null=True)


class TurnOut(serializers.Serializer):
    round = serializers.IntegerField()
    agent = serializers.CharField()
    kind = serializers.CharField(help_text=f"One of {', '.join(TurnKind.values)}.")
    stance = serializers.CharField(allow_null=True, help_text="The proposal it stands for.")
    moved = serializers.BooleanField(
        allow_null=True, help_text="The stance changed since the agent's last turn (null: first)."
    )
    rationale = serializers.CharField()
    objections = ObjectionOut(many=True)
    answers = AnswerOut(many=True)
    evidence = EvidenceOut(many=True)
    created_at = serializers.DateTimeField()


class TallyOut(serializers.Serializer):
    stances = serializers.DictField(
        child=serializers.CharField(allow_null=True), help_text="Agent -> the proposal it held."
    )
    support = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Proposal -> the agents standing for it.",
    )
    moved = serializers.ListField(child=serializers.CharField())
    silent = serializers.ListField(
        child=serializers.CharField(), help_text="Counted as holding their last stance."
    )
    outcome = serializers.CharField(help_text="next_round, consensus or escalated.")
    consensus_on = serializers.CharField(allow_null=True)
    escalation_reason = serializers.CharField(allow_null=True, help_text="max_rounds or stalemate.")


class RoundOut(serializers.Serializer):
    number = serializers.IntegerField()
    opened_at = serializers.DateTimeField()
    deadline = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_by = serializers.CharField(allow_null=True, help_text="turns, deadline or withdrawn.")
    outcome = serializers.CharField(allow_null=True)
    tally = TallyOut(allow_null=True)


class EscalationOut(serializers.Serializer):
    reason = serializers.CharField(help_text="max_rounds or stalemate.")
    at = serializers.DateTimeField()
    summary = serializers.CharField()
    summary_source = serializers.CharField(help_text="'structured' or 'anthropic'.")
    compromise = serializers.CharField(help_text="An AI mediator's suggestion; may be empty.")


class DissentOut(serializers.Serializer):
    agent = serializers.CharField()
    stance = serializers.CharField(allow_null=True)
    position = serializers.CharField()
    rationale = serializers.CharField()


class DecisionOut(serializers.Serializer):
    kind = serializers.CharField(help_text="consensus, accepted, edited or rejected.")
    text = serializers.CharField()
    proposal = serializers.CharField(allow_null=True)
    decided_by = serializers.CharField()
    reason = serializers.CharField()
    dissent = DissentOut(many=True)
    contract_version = serializers.IntegerField(
        allow_null=True, help_text="The contract version the decision became, or null."
    )


class DebateOut(DebateBriefOut):
    """One debate in full, as the caller may see it."""

    guidance = serializers.CharField(help_text="A human's guidance for the current set.")
    source_delta_seq = serializers.IntegerField(
        allow_null=True, help_text="The contract proposal (a delta) it came from."
    )
    your_turn = serializers.BooleanField(help_text="The current round waits for the caller.")
    proposals = ProposalOut(many=True)
    turns = TurnOut(many=True)
    stance_history = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField(allow_null=True)),
        help_text="Agent -> the proposal it stood for, round by round.",
    )
    rounds = RoundOut(many=True)
    escalation = EscalationOut(allow_null=True)
    decision = DecisionOut(allow_null=True)


class TurnTakenOut(serializers.Serializer):
    round = serializers.IntegerField()
    kind = serializers.CharField()
    stance = serializers.CharField(allow_null=True)
    moved = serializers.BooleanField(allow_null=True)


class TurnResultOut(serializers.Serializer):
    turn = TurnTakenOut()
    replayed = serializers.BooleanField(
        help_text="A retry under the same client_key: the turn already taken (status 200)."
    )
    round_closed = TallyOut(allow_null=True, help_text="The tally of the round this turn closed.")
    debate = DebateOut()


class SearchHitOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="Cite it in a turn as {'search_result': id}.")
    rank = serializers.IntegerField()
    title = serializers.CharField()
    url = serializers.CharField()
    snippet = serializers.CharField(help_text="Untrusted text from the web.")
    provider = serializers.CharField()
    query = serializers.CharField()
    retrieved_at = serializers.DateTimeField()


class SearchOut(serializers.Serializer):
    provider = serializers.CharField(help_text="The search provider that answered.")
    query = serializers.CharField()
    retrieved_at = serializers.DateTimeField(help_text="When PeerCode retrieved the results.")
    results = SearchHitOut(many=True)


# Input shapes -----------------------------------------------------------------------------


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
