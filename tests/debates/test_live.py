"""What agents connected to the delta WebSocket hear of a debate, driven through the whole
ASGI application: participants get the debate's own deltas, and when a contract debate is
decided every consumer of the contract gets the breaking change with the new version."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from debates.models import Debate
from debates.services import open_debate
from deltas import selectors
from peercode.actors import Actor
from peercode.asgi import application
from projects.models import Agent, Project
from projects.services import claim_task
from tests.debates.support import debating_project, fresh, take
from tests.factories import make_agent, make_contract, make_task

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

TIMEOUT = 10
ORIGIN = "http://testserver"
JWT = "Issue signed JWTs that live fifteen minutes, with refresh tokens rotated on each use."


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio, as Daphne and Channels do."""
    return "asyncio"


@pytest.fixture(autouse=True)
def own_channel_layer(settings: Any) -> None:
    """A fresh channel layer per test; on Redis under a key prefix no other run shares."""
    layer = dict(settings.CHANNEL_LAYERS["default"])
    if "redis" in layer["BACKEND"].lower():
        prefix = f"pc-test-debates-{uuid.uuid4().hex[:12]}"
        layer["CONFIG"] = {**layer.get("CONFIG", {}), "prefix": prefix}
    settings.CHANNEL_LAYERS = {"default": layer}
    settings.ANTHROPIC_API_KEY = ""


@dataclass
class Team:
    project: Project
    owner: Agent  # bob, on T2, which provides AuthAPI
    consumer: Agent  # alice, on T1, which consumes AuthAPI; not in the debate
    consumer_token: str
    other: Agent  # cy, without a task, debating with bob
    other_token: str
    bystander: Agent  # dee, without a task, not in the debate
    bystander_token: str


@pytest.fixture
def team(transactional_db: None) -> Team:
    project = debating_project(rounds=3)
    bob, _ = agent_on(project, "bob", "T2")
    make_contract(project, "AuthAPI", owner="T2", spec="v1: POST /login")
    alice, alice_token = agent_on(project, "alice", "T1", consumes=["AuthAPI"])
    cy, cy_token = make_agent(project, "cy")
    dee, dee_token = make_agent(project, "dee")
    return Team(project, bob, alice, alice_token, cy, cy_token, dee, dee_token)


def agent_on(project: Project, name: str, key: str, **task: Any) -> tuple[Agent, str]:
    """A new agent, and its token, that has claimed a new task ``key``."""
    agent, token = make_agent(project, name)
    make_task(project, key, **task)
    claim_task(agent=agent, task_key=key)
    return agent, token


@asynccontextmanager
async def listening(slug: str, token: str) -> AsyncIterator[WebsocketCommunicator]:
    """An agent's live connection, past its (empty) replay."""
    comm = WebsocketCommunicator(
        application,
        f"/ws/projects/{slug}/",
        headers=[(b"origin", ORIGIN.encode()), (b"authorization", f"Bearer {token}".encode())],
    )
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    try:
        frame = await comm.receive_json_from(timeout=TIMEOUT)
        assert frame["type"] == "replay_done", frame
        yield comm
    finally:
        await comm.disconnect(timeout=TIMEOUT)


async def deltas_heard(comm: WebsocketCommunicator, count: int) -> list[dict[str, Any]]:
    frames = [await comm.receive_json_from(timeout=TIMEOUT) for _ in range(count)]
    assert [frame["type"] for frame in frames] == ["delta"] * count, frames
    await comm.send_json_to({"type": "ping"})
    assert await comm.receive_json_from(timeout=TIMEOUT) == {"type": "pong"}
    return [frame["delta"] for frame in frames]


@database_sync_to_async
def wire_shape(project: Project, seq: int, agent: Agent) -> dict[str, Any]:
    delta = selectors.feed(project).get(seq=seq)
    return selectors.as_dict(delta, selectors.interest_of(agent))


def contract_debate_to_consensus(team: Team) -> Debate:
    debate = open_debate(
        project=team.project,
        actor=Actor.for_agent(team.other),
        topic="AuthAPI tokens",
        participants=["bob"],
        subject="contract",
        contract="AuthAPI",
        proposal=JWT,
    )
    take(team.other, debate, supports="P1")
    take(team.owner, debate, supports="P1")
    return fresh(debate)


async def test_a_consumer_hears_the_new_contract_version_a_debate_decided(team: Team) -> None:
    async with listening(team.project.slug, team.consumer_token) as comm:
        debate = await database_sync_to_async(contract_debate_to_consensus)(team)
        heard = await deltas_heard(comm, 3)
    assert debate.status == "consensus"
    assert debate.resulting_version is not None
    assert debate.resulting_version.number == 2
    assert [(d["kind"], d["significance"]) for d in heard] == [
        ("debate", "normal"),
        ("contract_change", "breaking"),
        ("debate", "normal"),
    ]
    change = heard[1]
    assert change["contracts"] == ["AuthAPI"]
    assert change["contract_version"] == 2
    assert change["author"] == f"debate:{debate.pk}"
    assert (change["relevant"], change["breaking_for_you"]) == (True, True)
    assert heard[2]["summary"] == f"Debate #{debate.pk} reached consensus on P1"
    for delta in heard:
        assert delta == await wire_shape(team.project, delta["seq"], team.consumer)


async def test_participants_hear_the_debate_addressed_to_them_and_others_see_it_is_not(
    team: Team,
) -> None:
    def open_and_take_round_one() -> Debate:
        debate = open_debate(
            project=team.project,
            actor=Actor.for_agent(team.other),
            topic="Where the cache lives",
            participants=["bob"],
        )
        take(team.other, debate, proposal="Keep the cache in process memory.")
        take(team.owner, debate, proposal="Keep the cache in Redis.")
        return debate

    async with (
        listening(team.project.slug, team.other_token) as participant,
        listening(team.project.slug, team.bystander_token) as bystander,
    ):
        debate = await database_sync_to_async(open_and_take_round_one)()
        participant_heard = await deltas_heard(participant, 2)
        bystander_heard = await deltas_heard(bystander, 2)
    assert [d["summary"] for d in participant_heard] == [
        f"Debate #{debate.pk} opened by agent:cy: Where the cache lives",
        f"Debate #{debate.pk}: round 1 closed without consensus; round 2 is open",
    ]
    for delta in participant_heard:
        assert (delta["kind"], delta["agents"]) == ("debate", ["bob", "cy"])
        assert (delta["relevant"], delta["breaking_for_you"]) == (True, False)
    assert [d["seq"] for d in bystander_heard] == [d["seq"] for d in participant_heard]
    assert [d["relevant"] for d in bystander_heard] == [False, False]
