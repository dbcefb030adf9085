"""Ending a debate: consensus, a human's decision on an escalated debate, return with
guidance, withdrawal. A decision on a contract debate becomes the contract's next version,
authored by the debate, and a breaking contract-change delta reaches every consumer."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from debates.models import (
    Debate,
    DebateRound,
    DebateStatus,
    DecisionKind,
    Proposal,
    SubjectKind,
    Turn,
)
from debates.services.common import (
    MAX_PROPOSAL,
    MAX_RATIONALE,
    bounded_text,
    debate_actor,
    locked,
    open_round,
    participants_of,
    require_status,
    require_steward,
    tell_participants,
)
from deltas.services import MAX_SUMMARY, push_delta
from peercode.actors import Actor
from peercode.errors import PermissionDenied, ValidationFailed
from peercode.events.services import record_event
from projects.models import ContractVersion

EXCERPT = 500


def conclude(
    debate: Debate,
    *,
    actor: Actor,
    status: str,
    decision_kind: str,
    text: str,
    proposal: Proposal | None,
    decided_by: str,
    reason: str = "",
    now: datetime | None = None,
) -> Debate:
    """Record the decision and the dissent, apply it to the contract, and tell everyone (the
    caller holds the debate's lock). Emits ``debate.decided``."""
    debate.status = status
    debate.decision_kind = decision_kind
    debate.decision = text
    debate.decided_proposal = proposal
    debate.decided_by = decided_by
    debate.decision_reason = reason
    debate.dissent = _dissent(debate, proposal, decision_kind)
    debate.round_deadline = None
    debate.closed_at = now or timezone.now()
    if decision_kind != DecisionKind.REJECTED and debate.subject_kind == SubjectKind.CONTRACT:
        debate.resulting_version = _publish(debate, text)
    debate.save()
    record_event(
        project=debate.project,
        type="debate.decided",
        actor=actor,
        subject=f"debate:{debate.pk}",
        payload={
            "status": status,
            "decision_kind": decision_kind,
            "proposal": proposal.label if proposal else None,
            "reason": reason,
            "dissent": [entry["agent"] for entry in debate.dissent],
            "contract_version": (
                debate.resulting_version.number if debate.resulting_version else None
            ),
        },
    )
    tell_participants(debate, _decision_summary(debate), _decision_body(debate))
    return debate


def _publish(debate: Debate, text: str) -> ContractVersion | None:
    """The decided text as the contract's next version, with a breaking delta for its
    consumers. When others published versions while the debate ran, the decision still
    replaces them (it was debated as the contract's future), and the version's rationale and
    the delta name the version debated and the ones it supersedes."""
    contract = debate.contract
    if contract is None:  # deleted since the debate opened: nothing to version
        return None
    how = "consensus" if debate.decision_kind == DecisionKind.CONSENSUS else debate.decided_by
    debated = debate.contract_version.number if debate.contract_version else 0
    newest = contract.versions.order_by("-number").values_list("number", flat=True).first() or 0
    meanwhile = (
        f"Version {newest} was"
        if newest == debated + 1
        else f"Versions {debated + 1} to {newest} were"
    )
    superseded = (
        f" {meanwhile} published while it ran; this decision replaces "
        f"{'it' if newest == debated + 1 else 'them'}: check what changed there."
        if newest > debated
        else ""
    )
    rationale = f"Decided by debate #{debate.pk} ({how}) on version {debated}: {debate.topic}"
    result = push_delta(
        project=debate.project,
        actor=debate_actor(debate),
        kind="contract_change",
        significance="breaking",
        summary=f"{contract.name} changed by debate #{debate.pk} ({how})"[:MAX_SUMMARY],
        body=f"Debate #{debate.pk}: {debate.topic}\n\nDecided by {how}.{superseded} Read the "
        "new version with get_contract and adapt your code to it.",
        contracts=[contract.name],
        spec=text,
        rationale=(rationale + superseded)[:MAX_RATIONALE],
    )
    return result.contract_version


def _dissent(
    debate: Debate, proposal: Proposal | None, decision_kind: str
) -> list[dict[str, object]]:
    """Who did not agree with the decision, with their last position."""
    if decision_kind == DecisionKind.CONSENSUS:
        return []
    dissent: list[dict[str, object]] = []
    for agent in participants_of(debate):
        last = (
            Turn.objects.filter(debate=debate, agent=agent)
            .exclude(stance=None)
            .select_related("stance")
            .order_by("-round_number")
            .first()
        )
        stance = last.stance if last else None
        if proposal is not None and stance is not None and stance.pk == proposal.pk:
            continue
        dissent.append(
            {
                "agent": agent.name,
                "stance": stance.label if stance else None,
                "position": stance.text[:EXCERPT] if stance else "",
                "rationale": last.rationale[:EXCERPT] if last else "",
            }
        )
    return dissent


def _decision_summary(debate: Debate) -> str:
    label = debate.decided_proposal.label if debate.decided_proposal else ""
    by = debate.decided_by
    if debate.decision_kind == DecisionKind.CONSENSUS:
        return f"Debate #{debate.pk} reached consensus on {label}"
    if debate.decision_kind == DecisionKind.ACCEPTED:
        return f"Debate #{debate.pk} decided: {by} accepted {label}"
    if debate.decision_kind == DecisionKind.EDITED:
        based = f" based on {label}" if label else ""
        return f"Debate #{debate.pk} decided: {by} chose an edited proposal{based}"
    return f"Debate #{debate.pk} closed: {by} rejected every proposal"


def _decision_body(debate: Debate) -> str:
    lines = [f"Topic: {debate.topic}"]
    if debate.resulting_version is not None and debate.contract is not None:
        lines.append(
            f"{debate.contract.name} is now at version {debate.resulting_version.number}; a "
            "breaking contract change was pushed to every consumer."
        )
    if debate.decision_reason:
        lines.append(f"Reason: {debate.decision_reason}")
    if debate.dissent:
        lines.append("Dissent: " + ", ".join(str(entry["agent"]) for entry in debate.dissent))
    return "\n\n".join(lines)


# Human decisions on an escalated debate ----------------------------------------------------


def accept_proposal(*, debate: Debate, actor: Actor, proposal: str, reason: str = "") -> Debate:
    """A human accepts one proposal of an escalated debate as the decision."""
    require_steward(actor, "decide a debate", debate.project)
    reason = bounded_text(reason, what="The reason", limit=MAX_RATIONALE, required=False)
    with transaction.atomic():
        debate = locked(debate.pk, debate.project)
        require_status(debate, DebateStatus.ESCALATED, action="accept a proposal")
        chosen = _proposal(debate, proposal)
        return conclude(
            debate,
            actor=actor,
            status=DebateStatus.RESOLVED,
            decision_kind=DecisionKind.ACCEPTED,
            text=chosen.text,
            proposal=chosen,
            decided_by=actor.label,
            reason=reason,
        )


def decide_edited(
    *, debate: Debate, actor: Actor, text: str, based_on: str | None = None, reason: str = ""
) -> Debate:
    """A human decides on their own text, usually an edit of one proposal (``based_on``)."""
    require_steward(actor, "decide a debate", debate.project)
    text = bounded_text(text, what="The decision", limit=MAX_PROPOSAL)
    reason = bounded_text(reason, what="The reason", limit=MAX_RATIONALE, required=False)
    with transaction.atomic():
        debate = locked(debate.pk, debate.project)
        require_status(debate, DebateStatus.ESCALATED, action="decide it")
        base = _proposal(debate, based_on) if based_on else None
        return conclude(
            debate,
            actor=actor,
            status=DebateStatus.RESOLVED,
            decision_kind=DecisionKind.EDITED,
            text=text,
            proposal=base,
            decided_by=actor.label,
            reason=reason,
        )


def reject_proposals(*, debate: Debate, actor: Actor, reason: str) -> Debate:
    """A human rejects every proposal, with a reason; the subject stays as it was."""
    require_steward(actor, "decide a debate", debate.project)
    reason = bounded_text(reason, what="The reason", limit=MAX_RATIONALE)
    with transaction.atomic():
        debate = locked(debate.pk, debate.project)
        require_status(debate, DebateStatus.ESCALATED, action="reject its proposals")
        return conclude(
            debate,
            actor=actor,
            status=DebateStatus.RESOLVED,
            decision_kind=DecisionKind.REJECTED,
            text="",
            proposal=None,
            decided_by=actor.label,
            reason=reason,
        )


def return_to_agents(*, debate: Debate, actor: Actor, guidance: str) -> Debate:
    """A human returns an escalated debate to its participants with guidance: a fresh set of
    rounds (its first blind again) opens, and the guidance is shown to them. Emits
    ``debate.returned``."""
    require_steward(actor, "return a debate", debate.project)
    guidance = bounded_text(guidance, what="The guidance", limit=MAX_RATIONALE)
    with transaction.atomic():
        debate = locked(debate.pk, debate.project)
        require_status(debate, DebateStatus.ESCALATED, action="return it")
        number = debate.current_round + 1
        debate.status = DebateStatus.OPEN
        debate.cycle_start = number
        debate.guidance = guidance
        debate.escalated_at = None
        debate.escalation_reason = ""
        open_round(debate, number, timezone.now())
        debate.save()
        record_event(
            project=debate.project,
            type="debate.returned",
            actor=actor,
            subject=f"debate:{debate.pk}",
            payload={"guidance": guidance, "round": number},
        )
        tell_participants(
            debate,
            f"Debate #{debate.pk} returned to you by {actor.label} with guidance; round "
            f"{number} is open",
            f"Guidance from {actor.label}:\n\n> "
            + guidance.replace("\n", "\n> ")
            + f"\n\nA fresh set of up to {debate.max_rounds} rounds starts; its first is blind.",
        )
    return debate


def withdraw_debate(*, debate: Debate, actor: Actor, reason: str = "") -> Debate:
    """The agent that opened an open debate (or a human lead) withdraws it. Emits
    ``debate.withdrawn``."""
    reason = bounded_text(reason, what="The reason", limit=MAX_RATIONALE, required=False)
    with transaction.atomic():
        debate = locked(debate.pk, debate.project)
        if actor.is_agent:
            if debate.initiator_id is None or actor.agent != debate.initiator:
                raise PermissionDenied(
                    f"Only the agent that opened debate #{debate.pk} ({debate.initiator_label}) "
                    "or a human lead can withdraw it.",
                    code="not_the_initiator",
                )
        else:
            require_steward(actor, "withdraw a debate", debate.project)
        require_status(debate, DebateStatus.OPEN, action="withdraw it")
        DebateRound.objects.filter(debate=debate, number=debate.current_round).update(
            closed_at=timezone.now(), closed_by="withdrawn", outcome="withdrawn"
        )
        debate.status = DebateStatus.WITHDRAWN
        debate.decided_by = actor.label
        debate.decision_reason = reason
        debate.round_deadline = None
        debate.closed_at = timezone.now()
        debate.save()
        record_event(
            project=debate.project,
            type="debate.withdrawn",
            actor=actor,
            subject=f"debate:{debate.pk}",
            payload={"reason": reason, "round": debate.current_round},
        )
        tell_participants(
            debate,
            f"Debate #{debate.pk} withdrawn by {actor.label}",
            f"Reason: {reason}" if reason else "",
        )
    return debate


def _proposal(debate: Debate, label: str) -> Proposal:
    wanted = label.strip().upper()
    for proposal in debate.proposals.all():
        if proposal.label == wanted:
            return proposal
    labels = ", ".join(p.label for p in debate.proposals.all()) or "none"
    raise ValidationFailed(
        f"Debate #{debate.pk} has no proposal {label!r}; its proposals are {labels}.",
        code="unknown_proposal",
    )
