"""Every state change of a debate, one function per use case, each in one transaction that
records its events and tells the participants (a ``debate`` delta, sent after commit).

* :mod:`.opening` — open a debate, or turn a contract proposal into one;
* :mod:`.turns` — take a turn (idempotent under a client key); :mod:`.turn_input` checks
  what it carries;
* :mod:`.rounds` — close a round: tally, next round, consensus, escalation, deadlines;
* :mod:`.decisions` — consensus applied, a human's decision, return with guidance, withdrawal;
* :mod:`.evidence` — web searches kept as citable evidence.
"""

from debates.services.decisions import (
    accept_proposal,
    decide_edited,
    reject_proposals,
    return_to_agents,
    withdraw_debate,
)
from debates.services.evidence import KeptSearch, search_web
from debates.services.opening import open_debate, open_debate_from_proposal
from debates.services.rounds import RoundClosed, attach_mediation, close_overdue_rounds
from debates.services.turns import TurnResult, submit_turn

__all__ = [
    "KeptSearch",
    "RoundClosed",
    "TurnResult",
    "accept_proposal",
    "attach_mediation",
    "close_overdue_rounds",
    "decide_edited",
    "open_debate",
    "open_debate_from_proposal",
    "reject_proposals",
    "return_to_agents",
    "search_web",
    "submit_turn",
    "withdraw_debate",
]
