"""Output shapes of the debates' REST API.

They only document the bodies, which are :func:`debates.selectors.briefs`,
:func:`debates.selectors.debate_as_dict` and :func:`debates.selectors.search_hit_as_dict`
themselves.
"""

from __future__ import annotations

from rest_framework import serializers

from debates.models import DebateStatus, SubjectKind, TurnKind


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
    truncated = serializers.BooleanField(
        help_text="Agents only: a proposal no longer in play comes as its first 1,000 "
        "characters; ?whole_proposal=<label> sends it whole."
    )
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
