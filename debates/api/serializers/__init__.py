"""Input and output shapes of the debates' REST API.

``inputs`` check types, lengths and choices, with the limits of
:mod:`debates.services.common`, and refuse unknown fields (see
:class:`peercode.api.StrictSerializer`); the services check everything else. ``outputs`` only
document the bodies, which are :func:`debates.selectors.briefs`,
:func:`debates.selectors.debate_as_dict` and :func:`debates.selectors.search_hit_as_dict`
themselves. Every public name is importable from ``debates.api.serializers`` itself.
"""

from debates.api.serializers.inputs import (
    DECISION_NEEDS,
    MAX_LABEL,
    MAX_URL,
    OPEN_NEEDS,
    AnswerIn,
    DebateFilter,
    DebateOpenIn,
    DebateQuery,
    DecideIn,
    EvidenceIn,
    ObjectionIn,
    SearchIn,
    TurnIn,
    WithdrawIn,
)
from debates.api.serializers.outputs import (
    AnswerOut,
    DebateBriefOut,
    DebateOut,
    DebateSubjectOut,
    DecisionOut,
    DissentOut,
    EscalationOut,
    EvidenceOut,
    ObjectionOut,
    ProposalOut,
    RoundOut,
    SearchHitOut,
    SearchOut,
    TallyOut,
    TurnOut,
    TurnResultOut,
    TurnTakenOut,
)

__all__ = [
    "DECISION_NEEDS",
    "MAX_LABEL",
    "MAX_URL",
    "OPEN_NEEDS",
    "AnswerIn",
    "AnswerOut",
    "DebateBriefOut",
    "DebateFilter",
    "DebateOpenIn",
    "DebateOut",
    "DebateQuery",
    "DebateSubjectOut",
    "DecideIn",
    "DecisionOut",
    "DissentOut",
    "EscalationOut",
    "EvidenceIn",
    "EvidenceOut",
    "ObjectionIn",
    "ObjectionOut",
    "ProposalOut",
    "RoundOut",
    "SearchHitOut",
    "SearchIn",
    "SearchOut",
    "TallyOut",
    "TurnIn",
    "TurnOut",
    "TurnResultOut",
    "TurnTakenOut",
    "WithdrawIn",
]
