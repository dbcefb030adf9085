"""What the debate tests share: projects with debating agents, turns with sensible defaults,
snapshots of every debate-related row (to prove that a refusal changed nothing), and the
events an action emitted."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from debates.models import Debate, DebateRound, Evidence, Objection, Proposal, SearchHit, Turn
from debates.services import TurnResult, open_debate, submit_turn
from deltas.models import Delta
from peercode.actors import Actor
from peercode.errors import PeerCodeError
from peercode.events.models import Event
from projects.models import Agent, ContractVersion, Project
from projects.services import update_project
from tests.factories import SYSTEM, make_project, make_user

_keys = itertools.count(1)

# Everything a debate action may write. A refused action leaves every one of them as it was.
DEBATE_ROWS: tuple[Any, ...] = (
    Debate,
    Debate.participants.through,
    DebateRound,
    Turn,
    Proposal,
    Objection,
    Evidence,
    SearchHit,
    Event,
    Delta,
    ContractVersion,
)


def debating_project(
    *, rounds: int = 5, stalemate_escalates: bool = True, round_seconds: int = 3600
) -> Project:
    project = make_project()
    return update_project(
        project=project,
        actor=SYSTEM,
        max_debate_rounds=rounds,
        debate_stalemate_escalates=stalemate_escalates,
        debate_round_seconds=round_seconds,
    )


def configure(project: Project, **changes: Any) -> None:
    """Change the project's settings as a human does; ``project`` (the very object the
    agents built on it hold) is refreshed, so debates opened by those agents see the change."""
    update_project(project=project, actor=SYSTEM, **changes)
    project.refresh_from_db()


def lead(username: str | None = None) -> Actor:
    """A human lead (staff), who decides escalated debates."""
    return Actor.for_user(make_user(username=username, staff=True))


def open_free(
    initiator: Agent, *others: Agent, proposal: str | None = None, topic: str = "Session tokens"
) -> Debate:
    """A free debate opened by ``initiator`` (an agent) with ``others``."""
    return open_debate(
        project=initiator.project,
        actor=Actor.for_agent(initiator),
        topic=topic,
        participants=[agent.name for agent in others],
        proposal=proposal,
    )


def take(
    agent: Agent,
    debate: Debate,
    *,
    supports: str | None = None,
    proposal: str | None = None,
    rationale: str | None = None,
    key: str | None = None,
    **extra: Any,
) -> TurnResult:
    """The agent's turn: ``propose`` when ``proposal`` is given, else ``support``."""
    return submit_turn(
        agent=agent,
        debate_id=debate.pk,
        client_key=key or f"{agent.name}-{next(_keys)}",
        kind="propose" if proposal is not None else "support",
        rationale=rationale or f"{agent.name} has reasons",
        proposal=proposal,
        supports=supports,
        **extra,
    )


def outcome(result: TurnResult) -> tuple[str, str] | None:
    """(outcome, escalation reason) of the round this turn closed; None if it closed none."""
    if result.closed is None:
        return None
    return result.closed.tally.outcome, result.closed.tally.escalation_reason


def fresh(debate: Debate) -> Debate:
    return Debate.objects.select_related("project", "contract", "resulting_version").get(
        pk=debate.pk
    )


def snapshot() -> dict[str, list[dict[str, Any]]]:
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in DEBATE_ROWS}


@contextmanager
def refused(error: type[PeerCodeError], code: str) -> Iterator[pytest.ExceptionInfo[Any]]:
    """The block raises ``error`` with ``code`` and leaves every debate row as it was."""
    before = snapshot()
    with pytest.raises(error) as info:
        yield info
    assert info.value.code == code, info.value.message
    assert snapshot() == before


@contextmanager
def emitted(project: Project) -> Iterator[list[str]]:
    """Collects, sorted, the types of the events the block recorded in the project."""
    before = set(Event.objects.filter(project=project).values_list("pk", flat=True))
    types: list[str] = []
    yield types
    new = Event.objects.filter(project=project).exclude(pk__in=before)
    types.extend(sorted(new.values_list("type", flat=True)))


def round_closed_events(debate: Debate) -> list[Event]:
    return list(
        Event.objects.filter(type="debate.round_closed", subject=f"debate:{debate.pk}").order_by(
            "created_at"
        )
    )


def debate_deltas(debate: Debate) -> list[Delta]:
    """The ``debate`` deltas sent about this debate, in order."""
    return list(
        Delta.objects.filter(
            project=debate.project, kind="debate", author_label=f"debate:{debate.pk}"
        ).order_by("seq")
    )


def stances(debate: Debate, round_number: int) -> dict[str, str | None]:
    """Each participant's stance in a round, by proposal label."""
    return {
        turn.agent.name: (turn.stance.label if turn.stance else None)
        for turn in Turn.objects.filter(debate=debate, round_number=round_number).select_related(
            "agent", "stance"
        )
    }


def names(agents: Sequence[Agent]) -> list[str]:
    return sorted(agent.name for agent in agents)


@contextmanager
def unchanged() -> Iterator[None]:
    """The block writes no debate-related row (a replayed turn is not a new one)."""
    before = snapshot()
    yield
    assert snapshot() == before
