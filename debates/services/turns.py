"""Taking a turn: propose or support, with a rationale, objections, answers and evidence.

A turn is idempotent under its client key: a retry with the same key and the same content
returns the turn already taken (counted once); the same key with other content is refused.
The debate's row is locked while the turn is checked and stored, and the last turn of a round
closes it in the same transaction (:func:`debates.services.rounds.close_round`).
What the turn carries is checked, and its evidence stored, by :mod:`debates.services.turn_input`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from debates import rules
from debates.models import (
    Debate,
    DebateRound,
    DebateStatus,
    Objection,
    Proposal,
    Turn,
    TurnKind,
)
from debates.services.common import (
    MAX_CLIENT_KEY,
    MAX_PROPOSAL,
    MAX_RATIONALE,
    add_proposal,
    bounded_text,
    locked,
    require_status,
    turns_in,
)
from debates.services.rounds import RoundClosed, close_round
from debates.services.turn_input import (
    _evidence_items,
    _fingerprint,
    _items,
    _search_hits,
    _store_evidence,
)
from peercode.actors import Actor
from peercode.errors import Conflict, PermissionDenied, ValidationFailed
from peercode.events.services import record_event
from projects.models import Agent


@dataclass(frozen=True)
class TurnResult:
    turn: Turn
    debate: Debate
    replayed: bool  # True: a retry of a turn already taken under this client key
    closed: RoundClosed | None  # the round this turn closed, if it was the last one


def submit_turn(
    *,
    agent: Agent,
    debate_id: int,
    client_key: str,
    kind: str,
    rationale: str,
    proposal: str | None = None,
    supports: str | None = None,
    answers: Sequence[Mapping[str, Any]] = (),
    objections: Sequence[Mapping[str, Any]] = (),
    evidence: Sequence[Mapping[str, Any]] = (),
    round_number: int | None = None,
) -> TurnResult:
    """Take the agent's one turn in the debate's current round.

    ``kind`` is ``propose`` (``proposal``: a concrete alternative; refused when it restates the
    agent's own earlier proposal or another visible one) or ``support`` (``supports``: a
    proposal label such as ``P2`` the agent can see). From the second round of a set on,
    ``answers`` must answer every objection the previous round raised against the proposal
    the agent stood for, unless it now supports another agent's proposal. ``round_number``,
    when given, is the round the agent read before writing its turn: a turn for a round that
    has since closed is refused rather than counted in the next. Guarantees: one turn
    per participant per round, the round closed exactly once, everything or nothing stored.
    Emits ``debate.turn_taken`` (and what closing the round emits).
    """
    key = bounded_text(client_key, what="The client key", limit=MAX_CLIENT_KEY)
    rationale = bounded_text(rationale, what="The rationale", limit=MAX_RATIONALE)
    if kind not in (TurnKind.PROPOSE, TurnKind.SUPPORT):
        raise ValidationFailed(
            f"Unknown turn kind {kind!r}; use 'propose' (with 'proposal') or 'support' (with "
            "'supports', a proposal label such as 'P2').",
            code="unknown_turn_kind",
        )
    text = None
    if kind == TurnKind.PROPOSE:
        if supports is not None:
            raise ValidationFailed(
                "A 'propose' turn carries 'proposal', not 'supports'.", code="mixed_turn"
            )
        text = bounded_text(proposal, what="The proposal", limit=MAX_PROPOSAL)
    elif proposal is not None or not supports:
        raise ValidationFailed(
            "A 'support' turn names the proposal it supports in 'supports' (e.g. 'P2') and "
            "carries no 'proposal'.",
            code="support_needs_label",
        )
    answer_items = _items(answers, ("objection", "response"), what="answers")
    objection_items = _items(objections, ("proposal", "text"), what="objections")
    evidence_items = _evidence_items(evidence)
    fingerprint = _fingerprint(
        kind, text, supports, rationale, answer_items, objection_items, evidence_items
    )
    with transaction.atomic():
        debate = locked(debate_id, agent.project)
        earlier = Turn.objects.filter(debate=debate, agent=agent, client_key=key).first()
        if earlier is not None:
            if earlier.fingerprint != fingerprint:
                raise Conflict(
                    f"client_key {key!r} was already used for your turn in round "
                    f"{earlier.round_number} with different content; a retry must resend the "
                    "same turn, and a new turn needs a new key.",
                    code="client_key_reused",
                )
            return TurnResult(
                turn=earlier, debate=debate, replayed=True, closed=_outcome_of(earlier)
            )
        if not debate.participants.filter(pk=agent.pk).exists():
            raise PermissionDenied(
                f"You ({agent.name}) are not a participant of debate #{debate.pk}; only its "
                "participants take turns.",
                code="not_a_participant",
            )
        require_status(debate, DebateStatus.OPEN, action="take a turn")
        number = debate.current_round
        if round_number is not None and round_number != number:
            raise Conflict(
                f"Your turn was for round {round_number}, but debate #{debate.pk} is in round "
                f"{number} now (a round closes when everyone has spoken or its deadline "
                "passes). Read the debate again (get_debate) and take your turn in round "
                f"{number}.",
                code="round_moved_on",
                details={"round": number},
            )
        if turns_in(debate, number).filter(agent=agent).exists():
            raise Conflict(
                f"You already took your turn in round {number} of debate #{debate.pk}; wait "
                "for the others (get_debate shows who is awaited).",
                code="turn_already_taken",
            )
        visible = _visible_proposals(debate, agent)
        last = (
            Turn.objects.filter(debate=debate, agent=agent)
            .select_related("stance")
            .order_by("-round_number")
            .first()
        )
        if text is not None:
            _refuse_restatement(debate, agent, text, visible)
            stance = add_proposal(
                debate,
                number=debate.proposals.count() + 1,
                author=agent,
                author_label=Actor.for_agent(agent).label,
                round_number=number,
                text=text,
            )
        else:
            stance = _by_label(visible, str(supports), what="support")
        _check_answers(debate, agent, last, stance, answer_items)
        targets = [
            _by_label(visible, item["proposal"], what="object to") for item in objection_items
        ]
        if any(target.pk == stance.pk for target in targets):
            raise ValidationFailed(
                f"You cannot object to {stance.label}, the proposal your turn stands for.",
                code="objection_to_own_stance",
            )
        hits = _search_hits(agent, evidence_items)
        turn = Turn.objects.create(
            debate=debate,
            round_number=number,
            agent=agent,
            kind=kind,
            stance=stance,
            rationale=rationale,
            answers=[
                {"objection": item["objection"].upper(), "response": item["response"]}
                for item in answer_items
            ],
            moved=None if last is None else last.stance_id != stance.pk,
            client_key=key,
            fingerprint=fingerprint,
        )
        first_objection = debate.objections.count() + 1
        for offset, (item, target) in enumerate(zip(objection_items, targets, strict=True)):
            Objection.objects.create(
                debate=debate,
                turn=turn,
                number=first_objection + offset,
                proposal=target,
                text=item["text"],
            )
        for item, hit in zip(evidence_items, hits, strict=True):
            _store_evidence(debate, turn, item, hit)
        record_event(
            project=debate.project,
            type="debate.turn_taken",
            actor=Actor.for_agent(agent),
            subject=f"debate:{debate.pk}",
            # Agents read the event log too: a blind round's turn says nothing of its content
            # here (the round's close records every stance).
            payload={"round": number, "blind": True}
            if debate.is_blind
            else {
                "round": number,
                "kind": kind,
                "stance": stance.label,
                "moved": turn.moved,
                "objections": len(objection_items),
                "answers": len(answer_items),
                "evidence": len(evidence_items),
            },
        )
        closed = None
        if turns_in(debate, number).count() == debate.participants.count():
            closed = close_round(debate, closed_by="turns", now=timezone.now())
    return TurnResult(turn=turn, debate=debate, replayed=False, closed=closed)


def _outcome_of(turn: Turn) -> RoundClosed | None:
    """For a retry: how the turn's round closed, if it has, so a client that lost the first
    answer still learns it."""
    row = DebateRound.objects.filter(
        debate_id=turn.debate_id, number=turn.round_number, closed_at__isnull=False
    ).first()
    if row is None or not row.tally:
        return None
    return RoundClosed(number=row.number, tally=rules.Tally.from_json(row.tally))


def _visible_proposals(debate: Debate, agent: Agent) -> dict[str, Proposal]:
    """The proposals the agent can see, by label: the opening one, those of closed rounds, its
    own, and the current round's unless the round is blind."""
    visible: dict[str, Proposal] = {}
    # Labels and digests are all a turn needs; the texts stay in the database.
    for proposal in debate.proposals.defer("text"):
        hidden = (
            proposal.round_number == debate.current_round
            and debate.is_blind
            and proposal.author_id != agent.pk
        )
        if not hidden:
            visible[proposal.label] = proposal
    return visible


def _by_label(visible: Mapping[str, Proposal], label: str, *, what: str) -> Proposal:
    found = visible.get(label.strip().upper())
    if found is None:
        choices = ", ".join(visible) or "none yet: propose one"
        raise ValidationFailed(
            f"There is no proposal {label!r} you can {what} in this debate; the proposals you "
            f"can see are: {choices}.",
            code="unknown_proposal",
            details={"visible": list(visible)},
        )
    return found


def _refuse_restatement(
    debate: Debate, agent: Agent, text: str, visible: Mapping[str, Proposal]
) -> None:
    """Refuse a proposal that says what the agent's own earlier proposal, or another visible
    one, already says (:func:`debates.rules.digests`: a comparison of stored digests)."""
    words_digest, paragraphs_digest = rules.digests(text)
    same = [
        proposal
        for proposal in visible.values()
        if words_digest == proposal.words_digest or paragraphs_digest == proposal.paragraphs_digest
    ]
    for proposal in sorted(same, key=lambda p: p.author_id != agent.pk):
        if proposal.author_id == agent.pk:
            raise ValidationFailed(
                f"This restates your own proposal {proposal.label}: propose an alternative or "
                "support one. (Proposals are compared after normalizing case, spacing, "
                "punctuation, filler words, plurals and the order of paragraphs.)",
                code="restated_proposal",
                details={"proposal": proposal.label},
            )
        raise ValidationFailed(
            f"This restates {proposal.label} by {proposal.author_label}: support "
            f"{proposal.label} instead of proposing it again, or propose a real alternative.",
            code="duplicate_proposal",
            details={"proposal": proposal.label},
        )


def _check_answers(
    debate: Debate,
    agent: Agent,
    last: Turn | None,
    stance: Proposal,
    answers: list[dict[str, str]],
) -> None:
    if debate.is_blind:
        if answers:
            raise ValidationFailed(
                "The first round of a set has no earlier objections to answer; leave "
                "'answers' out.",
                code="nothing_to_answer",
            )
        return
    if not answers and last is None:
        return
    raised = {
        objection.label: objection
        for objection in Objection.objects.filter(
            debate=debate, turn__round_number=debate.current_round - 1
        )
    }
    answered: set[str] = set()
    for item in answers:
        label = item["objection"].strip().upper()
        if label not in raised:
            raise ValidationFailed(
                f"{item['objection']!r} is not an objection of the previous round; the "
                f"objections you can answer are: {', '.join(raised) or 'none'}.",
                code="unknown_objection",
                details={"objections": list(raised)},
            )
        if label in answered:
            raise ValidationFailed(f"You answered {label} twice.", code="duplicate_answer")
        answered.add(label)
    conceded = stance.author_id != agent.pk and last is not None and stance.pk != last.stance_id
    if last is None or last.stance_id is None or conceded:
        return
    owed = [
        label
        for label, objection in raised.items()
        if objection.proposal_id == last.stance_id and label not in answered
    ]
    if owed:
        raise ValidationFailed(
            f"Answer the objections raised last round against your position before you go on: "
            f"{', '.join(owed)} (get_debate shows them). Put each in 'answers' as "
            '{"objection": "O1", "response": "..."}; or support another proposal.',
            code="objections_unanswered",
            details={"objections": owed},
        )


__all__ = ["TurnResult", "submit_turn"]
