"""Advice for the human who settles an escalated debate.

When a debate ends without consensus, the escalation carries a summary of it. With an Anthropic
API key the summary is written by a model asked to be neutral, together with a suggested
compromise; without a key (or when the model fails) it is the :func:`structured_summary`
rendered here. Either way it is advice for the human only: whether a debate converged is
decided by the debate's own rules, never by a model.

Everything the participants wrote (proposals, rationales, objections, answers) and everything
they quoted from the web is untrusted. It is rendered only inside quote blocks (each line
prefixed with ``> ``), or collapsed onto one line after a label, so it can never pose as a
heading or as PeerCode's own text; the model is told the same text is data, not instructions.

This package works on plain frozen dataclasses that the debate services fill, so it neither
reads nor writes the database. Its modules: ``records`` (the dossier and the mediation it
gives back), ``summary`` (the structured summary, and the quoting of untrusted text) and
``mediator`` (the call to the model, and the fallback to the structured summary). Every
public name is importable from ``debates.mediation`` itself.
"""

from debates.mediation.mediator import (
    MAX_INPUT_CHARS,
    REQUEST_TIMEOUT_SECONDS,
    SUBMIT_MEDIATION_DESCRIPTION,
    SUBMIT_MEDIATION_TOOL,
    SYSTEM_PROMPT,
    mediate,
)
from debates.mediation.records import (
    COMPROMISE_LABEL,
    SOURCE_ANTHROPIC,
    SOURCE_STRUCTURED,
    Dossier,
    EvidenceRecord,
    Mediation,
    ProposalRecord,
    TurnRecord,
)
from debates.mediation.summary import structured_summary

__all__ = [
    "COMPROMISE_LABEL",
    "MAX_INPUT_CHARS",
    "REQUEST_TIMEOUT_SECONDS",
    "SOURCE_ANTHROPIC",
    "SOURCE_STRUCTURED",
    "SUBMIT_MEDIATION_DESCRIPTION",
    "SUBMIT_MEDIATION_TOOL",
    "SYSTEM_PROMPT",
    "Dossier",
    "EvidenceRecord",
    "Mediation",
    "ProposalRecord",
    "TurnRecord",
    "mediate",
    "structured_summary",
]
