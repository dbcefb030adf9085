"""Reads of debates: lists, what awaits an agent, one debate in full as a viewer may see it,
and the dossier put before the humans on escalation.

Visibility: the first round of each set is blind, so while it is open an agent sees only its
own turn and proposal in it (and who has spoken, not what they said). Humans see everything.
Evidence and quotes are untrusted text: shapes carry them as plain strings for the client to
show as quotes.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When

from debates.mediation import Dossier, EvidenceRecord, ProposalRecord, TurnRecord
from debates.models import (
    Debate,
    DebateRound,
    DebateStatus,
    Evidence,
    Objection,
    Proposal,
    SearchHit,
    Turn,
)
from peercode.errors import NotFound, ValidationFailed
from projects.models import Agent, Project

if TYPE_CHECKING:
    from debates.services.evidence import KeptSearch

STATUSES = ", ".join(DebateStatus.values)
# How much of a proposal no longer in play an agent is sent on each read (see debate_as_dict).
PROPOSAL_EXCERPT = 1_000


def get_debate(*, project: Project, debate_id: int) -> Debate:
    debate = (
        Debate.objects.select_related(
            "project", "contract", "contract_version", "task", "decided_proposal"
        )
        .select_related("resulting_version")
        .filter(project=project, pk=debate_id)
        .first()
    )
    if debate is None:
        raise NotFound(
            f"Project {project.slug!r} has no debate #{debate_id}; list the project's debates to "
            "find its id.",
            code="unknown_debate",
        )
    return debate


def _awaited(agent: Agent) -> Exists:
    """True for debates whose current round has no turn of the agent yet."""
    return Exists(
        Turn.objects.filter(
            debate=OuterRef("pk"), round_number=OuterRef("current_round"), agent=agent
        )
    )


def debates_of(
    project: Project,
    *,
    status: str | None = None,
    awaiting: Agent | None = None,
    participant: Agent | None = None,
) -> QuerySet[Debate]:
    """A project's debates, escalated first, then open, then newest; ``awaiting`` keeps the
    open debates whose current round still waits for that agent's turn."""
    if status is not None and status not in DebateStatus.values:
        raise ValidationFailed(
            f"Unknown debate status {status!r}; use one of {STATUSES}.", code="unknown_status"
        )
    debates = Debate.objects.filter(project=project).select_related("contract", "task")
    if status is not None:
        debates = debates.filter(status=status)
    if participant is not None:
        debates = debates.filter(participants=participant)
    if awaiting is not None:
        debates = debates.filter(status=DebateStatus.OPEN, participants=awaiting).exclude(
            _awaited(awaiting)
        )
    return by_urgency(debates)


def by_urgency(debates: QuerySet[Debate]) -> QuerySet[Debate]:
    """What waits for a human first (escalated), then what is live (open), then the rest;
    newest first within each."""
    urgency = Case(
        When(status=DebateStatus.ESCALATED, then=Value(0)),
        When(status=DebateStatus.OPEN, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return debates.annotate(urgency=urgency).order_by("urgency", "-pk")


def awaiting_count(agent: Agent) -> int:
    """Open debates whose current round waits for the agent's turn (one query)."""
    return (
        Debate.objects.filter(status=DebateStatus.OPEN, participants=agent)
        .exclude(_awaited(agent))
        .count()
    )


# Shapes ------------------------------------------------------------------------------------


def _subject(debate: Debate) -> dict[str, Any]:
    return {
        "kind": debate.subject_kind,
        "contract": debate.contract.name if debate.contract else None,
        "contract_version": debate.contract_version.number if debate.contract_version else None,
        "task": debate.task.key if debate.task else None,
    }


def brief_as_dict(debate: Debate, names: list[str], spoken: set[str]) -> dict[str, Any]:
    """The list shape: state, participants, and who the current round still waits for."""
    is_open = debate.status == DebateStatus.OPEN
    return {
        "id": debate.pk,
        "topic": debate.topic,
        "subject": _subject(debate),
        "status": debate.status,
        "initiator": debate.initiator_label,
        "participants": names,
        "round": debate.current_round,
        "round_in_set": debate.round_in_set,
        "max_rounds": debate.max_rounds,
        "blind": is_open and debate.is_blind,
        "round_deadline": debate.round_deadline.isoformat() if debate.round_deadline else None,
        "awaiting": [name for name in names if name not in spoken] if is_open else [],
        "created_at": debate.created_at.isoformat(),
    }


def briefs(debates: QuerySet[Debate] | list[Debate]) -> list[dict[str, Any]]:
    """List shapes for a page of debates, in three queries whatever the page's size."""
    page = list(debates)
    ids = [debate.pk for debate in page]
    names: dict[int, list[str]] = defaultdict(list)
    through = Debate.participants.through.objects.filter(debate_id__in=ids)
    for debate_id, name in through.order_by("agent__name").values_list("debate_id", "agent__name"):
        names[debate_id].append(name)
    spoken: dict[int, set[str]] = defaultdict(set)
    current = Q()
    for debate in page:
        current |= Q(debate_id=debate.pk, round_number=debate.current_round)
    if page:
        for debate_id, name in Turn.objects.filter(current).values_list("debate_id", "agent__name"):
            spoken[debate_id].add(name)
    return [brief_as_dict(d, names[d.pk], spoken[d.pk]) for d in page]


def debate_as_dict(
    debate: Debate, viewer: Agent | None, *, whole: str | None = None
) -> dict[str, Any]:
    """One debate in full as ``viewer`` may see it (``None``: a human, who sees everything):
    rounds with their tallies, proposals with who supports each, turns with objections,
    answers and evidence, stance history, and the escalation and decision.

    An agent reads this on every step, so a proposal that is no longer in play (nobody's
    stance, not decided, older than the previous round) comes as its first
    :data:`PROPOSAL_EXCERPT` characters, marked ``truncated``; ``whole`` (a label) asks for
    one such proposal in full. A human gets every text whole."""
    agents = list(debate.participants.order_by("name"))
    names = [agent.name for agent in agents]
    is_open = debate.status == DebateStatus.OPEN
    blind_round = debate.current_round if is_open and debate.is_blind else None
    viewer_id = viewer.pk if viewer is not None else None

    def hidden(round_number: int, author_id: int | None) -> bool:
        return round_number == blind_round and author_id != viewer_id and viewer is not None

    turns = list(
        Turn.objects.filter(debate=debate)
        .select_related("agent", "stance")
        .order_by("round_number", "agent__name")
    )
    spoken = {t.agent.name for t in turns if t.round_number == debate.current_round}
    proposals = [
        p for p in Proposal.objects.filter(debate=debate) if not hidden(p.round_number, p.author_id)
    ]
    shown_turns = [t for t in turns if not hidden(t.round_number, t.agent_id)]
    shown_ids = {t.pk for t in shown_turns}
    objections: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for objection in Objection.objects.filter(debate=debate, turn_id__in=shown_ids).select_related(
        "proposal"
    ):
        objections[objection.turn_id].append(
            {"id": objection.label, "proposal": objection.proposal.label, "text": objection.text}
        )
    evidence: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for item in Evidence.objects.filter(debate=debate, turn_id__in=shown_ids):
        evidence[item.turn_id].append(evidence_as_dict(item))
    last_stance: dict[str, str | None] = {}
    history: dict[str, list[str | None]] = {name: [] for name in names}
    for turn in shown_turns:
        label = turn.stance.label if turn.stance else None
        history.setdefault(turn.agent.name, []).append(label)
        last_stance[turn.agent.name] = label
    supporters: dict[str, list[str]] = defaultdict(list)
    for name, label in sorted(last_stance.items()):
        if label is not None:
            supporters[label].append(name)
    wanted = (whole or "").strip().upper()

    def in_play(proposal: Proposal) -> bool:
        return (
            viewer is None
            or len(proposal.text) <= PROPOSAL_EXCERPT
            or proposal.label in supporters
            or proposal.label == wanted
            or proposal.round_number >= debate.current_round - 1
            or proposal.pk == debate.decided_proposal_id
        )

    rounds = [
        {
            "number": row.number,
            "opened_at": row.opened_at.isoformat(),
            "deadline": row.deadline.isoformat(),
            "closed_at": row.closed_at.isoformat() if row.closed_at else None,
            "closed_by": row.closed_by or None,
            "outcome": row.outcome or None,
            "tally": row.tally or None,
        }
        for row in DebateRound.objects.filter(debate=debate).order_by("number")
    ]
    shape = brief_as_dict(debate, names, spoken)
    shape.update(
        {
            "guidance": debate.guidance,
            "source_delta_seq": debate.source_delta_seq,
            "your_turn": viewer is not None
            and is_open
            and viewer.name in names
            and viewer.name not in spoken,
            "proposals": [
                {
                    "id": p.label,
                    "author": p.author_label,
                    "round": p.round_number,
                    "text": p.text if in_play(p) else p.text[:PROPOSAL_EXCERPT],
                    "truncated": not in_play(p),
                    "supporters": supporters.get(p.label, []),
                }
                for p in proposals
            ],
            "turns": [
                {
                    "round": t.round_number,
                    "agent": t.agent.name,
                    "kind": t.kind,
                    "stance": t.stance.label if t.stance else None,
                    "moved": t.moved,
                    "rationale": t.rationale,
                    "objections": objections.get(t.pk, []),
                    "answers": list(t.answers),
                    "evidence": evidence.get(t.pk, []),
                    "created_at": t.created_at.isoformat(),
                }
                for t in shown_turns
            ],
            "stance_history": history,
            "rounds": rounds,
            "escalation": (
                {
                    "reason": debate.escalation_reason,
                    "at": debate.escalated_at.isoformat(),
                    "summary": debate.summary,
                    "summary_source": debate.summary_source,
                    "compromise": debate.compromise,
                }
                if debate.escalated_at
                else None
            ),
            "decision": (
                {
                    "kind": debate.decision_kind,
                    "text": debate.decision,
                    "proposal": debate.decided_proposal.label if debate.decided_proposal else None,
                    "decided_by": debate.decided_by,
                    "reason": debate.decision_reason,
                    "dissent": list(debate.dissent),
                    "contract_version": (
                        debate.resulting_version.number if debate.resulting_version else None
                    ),
                }
                if debate.decision_kind
                else None
            ),
            "withdrawal": (
                {
                    "by": debate.decided_by,
                    "reason": debate.decision_reason,
                    "at": debate.closed_at.isoformat() if debate.closed_at else None,
                }
                if debate.status == DebateStatus.WITHDRAWN
                else None
            ),
        }
    )
    return shape


def evidence_as_dict(item: Evidence) -> dict[str, Any]:
    return {
        "url": item.url,
        "quote": item.quote,
        "provider": item.provider or None,
        "query": item.query or None,
        "retrieved_at": item.retrieved_at.isoformat() if item.retrieved_at else None,
    }


def search_hit_as_dict(hit: SearchHit) -> dict[str, Any]:
    return {
        "id": hit.pk,
        "rank": hit.rank,
        "title": hit.title,
        "url": hit.url,
        "snippet": hit.snippet,
        "provider": hit.provider,
        "query": hit.query,
        "retrieved_at": hit.retrieved_at.isoformat(),
    }


def search_as_dict(kept: KeptSearch) -> dict[str, Any]:
    """A search and its stored results, as REST and MCP return them."""
    return {
        "provider": kept.provider,
        "query": kept.query,
        "retrieved_at": kept.retrieved_at.isoformat(),
        "results": [search_hit_as_dict(hit) for hit in kept.hits],
    }


def dossier_of(debate: Debate) -> Dossier:
    """Everything the humans (and the optional mediator) are shown on escalation."""
    full = debate_as_dict(debate, viewer=None)
    subject = full["subject"]
    if subject["kind"] == "contract":
        described = f"contract {subject['contract']} v{subject['contract_version']}"
    elif subject["kind"] == "task":
        described = f"task {subject['task']}"
    else:
        described = "free"
    return Dossier(
        debate_id=debate.pk,
        project=debate.project.slug,
        topic=debate.topic,
        subject=described,
        participants=tuple(full["participants"]),
        reason=debate.escalation_reason or "max_rounds",
        rounds=debate.round_in_set,
        proposals=tuple(
            ProposalRecord(
                label=p["id"],
                author=p["author"],
                round=p["round"],
                text=p["text"],
                supporters=tuple(p["supporters"]),
            )
            for p in full["proposals"]
        ),
        transcript=tuple(
            TurnRecord(
                round=t["round"],
                agent=t["agent"],
                kind=t["kind"],
                proposal=t["stance"],
                rationale=t["rationale"],
                objections=tuple(
                    f"{o['id']} on {o['proposal']}: {o['text']}" for o in t["objections"]
                ),
                answers=tuple(f"{a['objection']}: {a['response']}" for a in t["answers"]),
                moved=t["moved"],
            )
            for t in full["turns"]
        ),
        evidence=tuple(
            EvidenceRecord(
                agent=t["agent"],
                round=t["round"],
                url=e["url"],
                quote=e["quote"],
                provider=e["provider"] or "",
                query=e["query"] or "",
            )
            for t in full["turns"]
            for e in t["evidence"]
        ),
    )
