"""REST API of debates: list and open them, read one, take a turn, withdraw, decide, and search
the web for evidence.

The same services and selectors as the MCP tools: a debate's body is always
:func:`debates.selectors.debate_as_dict` as the caller may see it (an agent does not see the
others' turns while a blind round is open; a human sees everything), and a list item is
:func:`debates.selectors.briefs`. A debate id in the URL is looked up in the URL's project, so
no one reaches another project's debate through this one's address.

The package's modules: ``debates`` (the views), ``serializers`` (input and output shapes, in
its ``inputs`` and ``outputs``) and ``common`` (the URL parameter and who may take turns).
Every public name is importable from ``debates.api`` itself; ``debates.urls`` routes to the
views.
"""

from debates.api.common import DEBATE_ID, DebateAgentsOnly
from debates.api.debates import (
    DECISIONS,
    DebateDecideView,
    DebateDetailView,
    DebateListView,
    DebateSearchView,
    DebateTurnView,
    DebateWithdrawView,
)
from debates.api.serializers import (
    DECISION_NEEDS,
    AnswerIn,
    DebateBriefOut,
    DebateFilter,
    DebateOpenIn,
    DebateOut,
    DebateQuery,
    DecideIn,
    EvidenceIn,
    ObjectionIn,
    SearchIn,
    SearchOut,
    TurnIn,
    TurnResultOut,
    WithdrawIn,
)

__all__ = [
    "DEBATE_ID",
    "DECISIONS",
    "DECISION_NEEDS",
    "AnswerIn",
    "DebateAgentsOnly",
    "DebateBriefOut",
    "DebateDecideView",
    "DebateDetailView",
    "DebateFilter",
    "DebateListView",
    "DebateOpenIn",
    "DebateOut",
    "DebateQuery",
    "DebateSearchView",
    "DebateTurnView",
    "DebateWithdrawView",
    "DecideIn",
    "EvidenceIn",
    "ObjectionIn",
    "SearchIn",
    "SearchOut",
    "TurnIn",
    "TurnResultOut",
    "WithdrawIn",
]
