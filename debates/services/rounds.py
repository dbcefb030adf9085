"""Closing rounds: the tally, the next round, consensus, escalation, and round deadlines.

A round closes when its last participant takes a turn, or when its deadline passes (a silent
participant counts as holding its last stance). Closing happens under the debate's row lock,
so each round closes exactly once with exactly one tally, whoever triggers it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.utils import timezone

from debates import mediation, rules, selectors
from debates.models import (
    Debate,
    DebateRound,
    DebateStatus,
    Proposal,
    Turn,
    TurnKind,
)
from debates.services.common import (
    debate_actor,
    locked,
    open_round,
    participants_of,
    tell_participants,
    turns_in,
)
from debates.services.decisions import conclude
from peercode.errors import NotFound
from peercode.events.services import record_event

if TYPE_CHECKING:
    import anthropic

logger = logging.getLogger(__name__)

# At most this many overdue rounds are closed per sweep, so a sweep's work stays bounded.
SWEEP_BATCH = 100


@dataclass(frozen=True)
class RoundClosed:
    number: int
    tally: rules.Tally

    @property
    def escalated(self) -> bool:
        return self.tally.outcome == "escalated"


def close_round(debate: Debate, *, closed_by: str, now: datetime) -> RoundClosed:
    """Close the debate's current round (the caller holds the debate's lock): record silent
    turns for who did not speak, tally, then open the next round, conclude on consensus, or
    escalate. Emits ``debate.round_closed`` and what follows it."""
    number = debate.current_round
    round_row = DebateRound.objects.select_for_update().get(debate=debate, number=number)
    taken = {turn.agent_id: turn for turn in turns_in(debate, number)}
    participants = participants_of(debate)
    silent: list[str] = []
    for agent in participants:
        if agent.pk not in taken:
            last = Turn.objects.filter(debate=debate, agent=agent).order_by("-round_number").first()
            # Before any turn, an author stands for the opening proposal it wrote.
            stance_id = (
                last.stance_id
                if last
                else Proposal.objects.filter(debate=debate, round_number=0, author=agent)
                .values_list("pk", flat=True)
                .first()
            )
            taken[agent.pk] = Turn.objects.create(
                debate=debate,
                round_number=number,
                agent=agent,
                kind=TurnKind.SILENT,
                stance_id=stance_id,
                rationale="",
                moved=None if last is None else False,
            )
            silent.append(agent.name)
    labels = dict(Proposal.objects.filter(debate=debate).values_list("pk", "number"))
    stances: dict[str, int | None] = {}
    for agent in participants:
        stance_id = taken[agent.pk].stance_id
        stances[agent.name] = labels[stance_id] if stance_id is not None else None
    moved = [agent.name for agent in participants if taken[agent.pk].moved]
    tally = rules.tally(
        stances=stances,
        moved=moved,
        silent=silent,
        round_in_set=debate.round_in_set,
        max_rounds=debate.max_rounds,
        still_rounds=_still_rounds(debate, moved_now=bool(moved)),
        stalemate_escalates=debate.project.debate_stalemate_escalates,
    )
    round_row.closed_at = now
    round_row.closed_by = closed_by
    round_row.outcome = tally.outcome
    round_row.tally = tally.as_json()
    round_row.save()
    record_event(
        project=debate.project,
        type="debate.round_closed",
        actor=debate_actor(debate),
        subject=f"debate:{debate.pk}",
        payload={"round": number, "closed_by": closed_by, **tally.as_json()},
    )
    if tally.outcome == "consensus":
        assert tally.consensus_on is not None
        chosen = Proposal.objects.get(debate=debate, number=tally.consensus_on)
        conclude(
            debate,
            actor=debate_actor(debate),
            status=DebateStatus.CONSENSUS,
            decision_kind="consensus",
            text=chosen.text,
            proposal=chosen,
            decided_by="consensus",
            now=now,
        )
    elif tally.outcome == "escalated":
        _escalate(debate, tally, now)
    else:
        open_round(debate, number + 1, now)
        debate.save()
        tell_participants(
            debate,
            f"Debate #{debate.pk}: round {number} closed without consensus; round "
            f"{number + 1} is open",
            _round_body(debate, tally),
        )
    return RoundClosed(number=number, tally=tally)


def _still_rounds(debate: Debate, *, moved_now: bool) -> int:
    """Consecutive rounds of the current set, ending with this one, in which no stance moved;
    the first round of a set never counts."""
    if moved_now or debate.round_in_set == 1:
        return 0
    still = 1
    earlier = DebateRound.objects.filter(
        debate=debate, number__gt=debate.cycle_start, number__lt=debate.current_round
    ).order_by("-number")
    for round_row in earlier[: rules.STALEMATE_ROUNDS]:
        if round_row.tally.get("moved"):
            break
        still += 1
    return still


def _escalate(debate: Debate, tally: rules.Tally, now: datetime) -> None:
    debate.status = DebateStatus.ESCALATED
    debate.escalated_at = now
    debate.escalation_reason = tally.escalation_reason
    debate.round_deadline = None
    debate.save()
    debate.summary = mediation.structured_summary(selectors.dossier_of(debate))
    debate.summary_source = "structured"
    debate.compromise = ""
    debate.save(update_fields=["summary", "summary_source", "compromise", "updated_at"])
    transaction.on_commit(lambda: schedule_mediation(debate.pk), robust=True)
    record_event(
        project=debate.project,
        type="debate.escalated",
        actor=debate_actor(debate),
        subject=f"debate:{debate.pk}",
        payload={"reason": tally.escalation_reason, "round": debate.current_round},
    )
    why = (
        "no consensus after the last round"
        if tally.escalation_reason == "max_rounds"
        else "a stalemate: no stance moved for two rounds"
    )
    tell_participants(
        debate,
        f"Debate #{debate.pk} escalated to a human: {why}",
        "A human will accept a proposal, decide on an edited one, reject them all, or return "
        "the debate with guidance. You are told here when they do.\n\n"
        + _round_body(debate, tally),
    )


def _round_body(debate: Debate, tally: rules.Tally) -> str:
    stances = ", ".join(
        f"{agent}: {f'P{stance}' if stance else 'no stance'}"
        for agent, stance in sorted(tally.stances.items())
    )
    lines = [f"Stances: {stances}."]
    if tally.silent:
        lines.append(f"Silent (counted as holding): {', '.join(tally.silent)}.")
    if debate.status == DebateStatus.OPEN:
        lines.append(
            "Read the round with get_debate, then take your turn: answer the objections "
            "raised against your position, support a proposal, or propose an alternative."
        )
    return "\n".join(lines)


def close_overdue_rounds(*, now: datetime | None = None) -> int:
    """Close every open round whose deadline has passed (at most :data:`SWEEP_BATCH` per call);
    how many closed. Safe to run from several processes: each debate is rechecked under its
    lock, so a round another sweep or a last turn already closed is left alone. ``now`` fixes
    the clock (tests); otherwise each round closes at the real time."""
    fixed_now = now
    now = now or timezone.now()
    overdue = list(
        Debate.objects.filter(status=DebateStatus.OPEN, round_deadline__lt=now)
        .order_by("round_deadline")
        .values_list("pk", "project_id")[:SWEEP_BATCH]
    )
    closed = 0
    for debate_id, project_id in overdue:
        try:
            with transaction.atomic():
                debate = locked(debate_id, project_id)
                if debate.status != DebateStatus.OPEN:
                    continue
                if debate.round_deadline is None or debate.round_deadline >= now:
                    continue
                # The real time for the next round's deadline, not the sweep's start.
                close_round(debate, closed_by="deadline", now=fixed_now or timezone.now())
                closed += 1
        except NotFound:  # deleted since the listing
            continue
        except DatabaseError:
            # One debate's failure must not keep the sweep from the others (or from locks).
            logger.exception("Closing the overdue round of debate #%s failed.", debate_id)
    return closed


def schedule_mediation(debate_id: int) -> None:
    """Run :func:`attach_mediation` for an escalated debate in a thread of its own, when an
    Anthropic key is configured: the model may take a minute, and neither the agent whose
    turn escalated the debate nor the server's sweep waits for it."""
    if not settings.ANTHROPIC_API_KEY:
        return
    threading.Thread(
        target=_mediate_in_background,
        args=(debate_id,),
        name=f"peercode-mediation-{debate_id}",
        daemon=True,
    ).start()


def _mediate_in_background(debate_id: int) -> None:
    try:
        attach_mediation(debate_id=debate_id)
    except Exception:
        logger.exception("AI mediation of debate #%s failed; its summary stays.", debate_id)
    finally:
        connections.close_all()


def attach_mediation(*, debate_id: int, client: anthropic.Anthropic | None = None) -> Debate | None:
    """Ask the AI mediator (with ``ANTHROPIC_API_KEY``, or an explicit ``client``) for a
    neutral summary and a suggested compromise of an escalated debate, and attach them.

    Runs after the escalation committed, outside any transaction (it may take seconds); a
    failure keeps the structured summary and records why. Emits ``debate.mediated``.
    """
    if client is None and not settings.ANTHROPIC_API_KEY:
        return None
    debate = Debate.objects.select_related("project", "contract", "task").get(pk=debate_id)
    if debate.status != DebateStatus.ESCALATED:
        return debate
    result = mediation.mediate(selectors.dossier_of(debate), client=client)
    with transaction.atomic():
        debate = locked(debate_id, debate.project)
        if debate.status != DebateStatus.ESCALATED:
            return debate
        if result.source == "anthropic":
            debate.summary = result.summary
            debate.compromise = result.compromise
            debate.summary_source = "anthropic"
            debate.save(update_fields=["summary", "compromise", "summary_source", "updated_at"])
        record_event(
            project=debate.project,
            type="debate.mediated",
            actor=debate_actor(debate),
            subject=f"debate:{debate.pk}",
            payload={
                "source": result.source,
                "model": result.model,
                "input_tokens": result.input_tokens,
                "output_tokens": result.output_tokens,
                "error": result.error,
            },
        )
    return debate
