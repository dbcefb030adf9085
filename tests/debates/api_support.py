"""What the REST API tests of debates share: the URLs, the crew's shape, helpers that drive a
debate through the services, and the proof that a refused request wrote nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from typing import Any

from debates import services
from debates.models import (
    Debate,
    DebateRound,
    Evidence,
    Objection,
    Proposal,
    SearchHit,
    Turn,
)
from deltas.models import Delta, DeltaStream
from peercode.actors import Actor
from projects.models import Agent, ContractVersion, Project
from tests.projects.api_support import API, agent_client, snapshot

ALPHA = API + "/projects/alpha"
DEBATES = ALPHA + "/debates/"
SEARCH = ALPHA + "/search"
TOO_BIG = 2**64  # beyond any database id

_keys = count(1)


@dataclass
class Crew:
    """Project 'alpha': ann holds API-1, which provides the contract AuthAPI (v1); bob holds
    WEB-1, which consumes it; cy holds nothing. All three are agents of alpha."""

    project: Project
    ann: Agent
    ann_token: str
    bob: Agent
    bob_token: str
    cy: Agent
    cy_token: str


def debate_url(debate: Debate | int, action: str = "") -> str:
    pk = debate if isinstance(debate, int) else debate.pk
    return f"{DEBATES}{pk}/{action}"


def post(token: str, url: str, body: Any = None) -> Any:
    return agent_client(token).post(url, body if body is not None else {}, format="json")


def open_between(
    opener: Agent, *others: Agent, topic: str = "Token format", **fields: Any
) -> Debate:
    return services.open_debate(
        project=opener.project,
        actor=Actor.for_agent(opener),
        topic=topic,
        participants=[agent.name for agent in others],
        **fields,
    )


def take_turn(agent: Agent, debate: Debate, **turn: Any) -> services.TurnResult:
    """A turn through the service: ``propose="..."`` or ``supports="P1"``."""
    if "propose" in turn:
        turn = {"kind": "propose", "proposal": turn.pop("propose"), **turn}
    else:
        turn = {"kind": "support", **turn}
    return services.submit_turn(
        agent=agent,
        debate_id=debate.pk,
        client_key=f"key-{next(_keys)}",
        rationale=turn.pop("rationale", "Because it is simpler."),
        **turn,
    )


def debate_snapshot() -> dict[str, Any]:
    return {
        **snapshot(),
        "debates": list(Debate.objects.order_by("pk").values()),
        "participants": list(Debate.participants.through.objects.order_by("pk").values()),
        "rounds": list(DebateRound.objects.order_by("pk").values()),
        "proposals": list(Proposal.objects.order_by("pk").values()),
        "turns": list(Turn.objects.order_by("pk").values()),
        "objections": list(Objection.objects.order_by("pk").values()),
        "evidence": list(Evidence.objects.order_by("pk").values()),
        "search_hits": list(SearchHit.objects.order_by("pk").values()),
        "deltas": list(Delta.objects.order_by("pk").values()),
        "streams": list(DeltaStream.objects.order_by("pk").values()),
        "contract_versions": list(ContractVersion.objects.order_by("pk").values()),
    }


@contextmanager
def unchanged() -> Iterator[None]:
    """Prove a refused request wrote nothing: no debate, round, turn, delta or event."""
    before = debate_snapshot()
    yield
    after = debate_snapshot()
    for table, rows in before.items():
        assert after[table] == rows, f"{table} changed"
