"""The delta stream over WebSocket, driven through the whole ASGI application.

Live messages are real broadcasts (``services.push_delta`` after commit). Where a test needs a
message to be lost or delivered twice, it captures the real broadcast on a channel of its own
and hands it to the consumer itself, as the channel layer would have.

Frames are answered in order, so a ``pong`` right after a ping proves nothing else was sent
before it: that is how these tests check that a duplicate was dropped, without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from django.test import override_settings

from deltas import selectors, services
from deltas.consumers import REPLAY_BATCH
from deltas.models import Delta, Significance
from peercode.actors import Actor
from peercode.events.models import Event
from projects.models import Agent, Project
from tests.deltas.factories import push
from tests.deltas.ws_support import (
    TIMEOUT,
    Team,
    assert_nothing_else_sent,
    communicator,
    make_team,
    next_frame,
    refusal,
    replayed,
    subscribed,
    use_own_channel_layer,
    viewer_cookie,
)
from tests.factories import make_project

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def own_channel_layer(settings: Any) -> None:
    use_own_channel_layer(settings)


@pytest.fixture
def team(transactional_db: None) -> Team:
    return make_team()


@pytest.fixture
def session_cookie(team: Team) -> str:
    """The cookie header of a logged-in dashboard user, a viewer of the team's project."""
    return viewer_cookie(team.project)


def push_many(project: Project, by: Agent, count: int) -> None:
    for _ in range(count):
        push(project, by)


async def captured_broadcasts(project: Project, pushes: Callable[[], Any], count: int) -> list:
    """Run ``pushes`` and return the ``count`` messages they broadcast to the project's group,
    as a subscriber of the current channel layer receives them."""
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = services.group_name(project.pk)
    await layer.group_add(group, channel)
    await database_sync_to_async(pushes)()
    messages = [await asyncio.wait_for(layer.receive(channel), TIMEOUT) for _ in range(count)]
    await layer.group_discard(group, channel)
    return messages


@database_sync_to_async
def wire_shape(project: Project, seq: int, agent: Agent | None) -> dict[str, Any]:
    delta = selectors.feed(project).get(seq=seq)
    return selectors.as_dict(delta, selectors.interest_of(agent) if agent else None)


# Authentication and where the replay starts ------------------------------------------------


async def test_an_agent_with_a_bearer_header_gets_what_it_missed_then_replay_done(team):
    await database_sync_to_async(push_many)(team.project, team.bob, 3)
    async with subscribed("ws", "?since=1", token=team.alice_token) as comm:
        deltas, head = await replayed(comm)
        assert [d["seq"] for d in deltas] == [2, 3]
        assert head == 3
        assert deltas[0] == await wire_shape(team.project, 2, team.alice)


async def test_a_token_query_parameter_works_for_clients_that_cannot_set_headers(team):
    await database_sync_to_async(push_many)(team.project, team.bob, 2)
    async with subscribed("ws", f"?token={team.alice_token}&since=0") as comm:
        deltas, head = await replayed(comm)
    assert [d["seq"] for d in deltas] == [1, 2]
    assert head == 2


async def test_an_agent_without_since_starts_after_what_it_acknowledged(team):
    await database_sync_to_async(push_many)(team.project, team.bob, 3)
    await database_sync_to_async(services.ack_updates)(agent=team.alice, seq=2)
    async with subscribed("ws", token=team.alice_token) as comm:
        deltas, head = await replayed(comm)
    assert [d["seq"] for d in deltas] == [3]
    assert head == 3


async def test_a_logged_in_human_gets_live_deltas_from_the_head_without_relevance(
    team, session_cookie
):
    await database_sync_to_async(push_many)(team.project, team.bob, 2)
    async with subscribed("ws", cookie=session_cookie) as comm:
        assert await replayed(comm) == ([], 2)
        await database_sync_to_async(push)(team.project, team.bob, tasks=["T1"])
        frame = await next_frame(comm)
    assert frame == {"type": "delta", "delta": await wire_shape(team.project, 3, None)}
    assert "relevant" not in frame["delta"]


async def test_a_human_may_ask_for_the_history_with_since(team, session_cookie):
    await database_sync_to_async(push_many)(team.project, team.bob, 2)
    async with subscribed("ws", "?since=0", cookie=session_cookie) as comm:
        deltas, head = await replayed(comm)
    assert [d["seq"] for d in deltas] == [1, 2]
    assert head == 2


async def test_a_connection_without_credentials_is_told_how_to_authenticate_and_closed(team):
    frame, code = await refusal(communicator("ws"))
    assert code == 4401
    assert frame["type"] == "error"
    assert frame["code"] == "not_authenticated"
    assert "Authorization: Bearer" in frame["message"]


async def test_an_unknown_token_is_refused_even_with_a_logged_in_session(team, session_cookie):
    frame, code = await refusal(communicator("ws", token="pc_not-a-token", cookie=session_cookie))
    assert code == 4401
    assert frame["code"] == "not_authenticated"
    assert "agent create" in frame["message"]


async def test_an_agent_cannot_subscribe_to_another_projects_deltas(team):
    await database_sync_to_async(make_project)(slug="elsewhere")
    frame, code = await refusal(communicator("elsewhere", token=team.alice_token))
    assert code == 4403
    assert frame["code"] == "wrong_project"


async def test_an_unknown_project_is_refused_with_4404(team, session_cookie):
    frame, code = await refusal(communicator("nowhere", cookie=session_cookie))
    assert code == 4404
    assert frame["code"] == "not_found"
    assert "nowhere" in frame["message"]


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "%201"])
async def test_a_since_that_is_not_a_whole_number_is_refused_with_4400(team, since):
    frame, code = await refusal(communicator("ws", f"?since={since}", token=team.alice_token))
    assert code == 4400
    assert frame["code"] == "bad_since"


async def test_a_since_beyond_the_head_is_refused_with_the_head(team):
    await database_sync_to_async(push_many)(team.project, team.bob, 2)
    frame, code = await refusal(communicator("ws", "?since=5", token=team.alice_token))
    assert code == 4400
    assert frame["code"] == "since_beyond_head"
    assert frame["details"] == {"head": 2}


async def test_a_page_from_another_site_cannot_open_the_stream(team, session_cookie):
    comm = communicator("ws", "?since=0", cookie=session_cookie, origin="https://evil.example")
    connected, _ = await comm.connect(timeout=TIMEOUT)
    await comm.disconnect(timeout=TIMEOUT)
    assert not connected


async def test_an_agent_client_that_sends_no_origin_header_connects(team):
    comm = communicator("ws", "?since=0", token=team.alice_token, origin=None)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    await comm.disconnect(timeout=TIMEOUT)
    assert connected


# Order: replay, then live, no gap, no duplicate --------------------------------------------


async def test_deltas_pushed_while_the_replay_runs_arrive_once_each_in_seq_order(team):
    backlog, during = REPLAY_BATCH + 50, 100
    await database_sync_to_async(push_many)(team.project, team.bob, backlog)
    comm = communicator("ws", "?since=0", token=team.alice_token)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    # Accepted, but still authenticating and replaying: push beside it from another thread.
    pushing = asyncio.ensure_future(
        database_sync_to_async(push_many, thread_sensitive=False)(team.project, team.bob, during)
    )
    seqs, replay_done = [], []
    while len(seqs) < backlog + during:
        frame = await next_frame(comm)
        if frame["type"] == "replay_done":
            replay_done.append(frame["head"])
        else:
            seqs.append(frame["delta"]["seq"])
    await pushing
    await assert_nothing_else_sent(comm)
    await comm.disconnect(timeout=TIMEOUT)
    assert seqs == list(range(1, backlog + during + 1))
    assert len(replay_done) == 1
    assert backlog <= replay_done[0] <= backlog + during


async def test_a_live_delta_already_replayed_is_not_sent_again(team):
    def three() -> None:
        push_many(team.project, team.bob, 3)

    broadcasts = await captured_broadcasts(team.project, three, 3)
    async with subscribed("ws", "?since=0", token=team.alice_token) as comm:
        deltas, head = await replayed(comm)
        assert ([d["seq"] for d in deltas], head) == ([1, 2, 3], 3)
        # The same deltas, now arriving live, as they do when pushed during the replay.
        for message in broadcasts[1:]:
            await comm.send_input(message)
        await assert_nothing_else_sent(comm)
        await database_sync_to_async(push)(team.project, team.bob)
        frame = await next_frame(comm)
    assert frame["delta"]["seq"] == 4


async def test_a_lost_live_message_is_filled_from_the_database_before_the_next(team):
    async with subscribed("ws", "?since=0", token=team.alice_token) as comm:
        assert await replayed(comm) == ([], 0)

        def three() -> None:
            push_many(team.project, team.bob, 3)

        # Broadcast on a layer this subscriber does not listen to: all three are lost to it.
        with override_settings(
            CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        ):
            broadcasts = await captured_broadcasts(team.project, three, 3)
        await comm.send_input(broadcasts[2])
        frames = [await next_frame(comm) for _ in range(3)]
        await comm.send_input(broadcasts[0])
        await assert_nothing_else_sent(comm)
    assert [f["delta"] for f in frames] == [
        await wire_shape(team.project, seq, team.alice) for seq in (1, 2, 3)
    ]


async def test_a_ping_delivers_deltas_whose_live_message_was_lost(team):
    async with subscribed("ws", "?since=0", token=team.alice_token) as comm:
        await replayed(comm)
        with override_settings(
            CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        ):
            await database_sync_to_async(push_many)(team.project, team.bob, 2)
        await comm.send_json_to({"type": "ping"})
        frames = [await next_frame(comm) for _ in range(3)]
    assert [f.get("delta", {}).get("seq") for f in frames] == [1, 2, None]
    assert frames[2] == {"type": "pong"}


async def test_a_rolled_back_delta_is_never_sent(team):
    def doomed_then_kept() -> None:
        try:
            with transaction.atomic():
                push(team.project, team.bob, summary="doomed")
                raise RuntimeError("roll the push back")
        except RuntimeError:
            pass
        push(team.project, team.bob, summary="kept")

    async with subscribed("ws", "?since=0", token=team.alice_token) as comm:
        await replayed(comm)
        await database_sync_to_async(doomed_then_kept)()
        frame = await next_frame(comm)
        await assert_nothing_else_sent(comm)
    assert (frame["delta"]["seq"], frame["delta"]["summary"]) == (1, "kept")


async def test_live_deltas_tell_an_agent_which_concern_it_and_which_break_it(team):
    def four() -> None:
        push(team.project, team.bob, tasks=["T1"])
        push(team.project, team.bob, tasks=["T2"])
        push(team.project, team.bob, significance=Significance.BREAKING)
        push(team.project, team.bob, kind="contract_change", contracts=["AuthAPI"], spec="v2")

    async with subscribed("ws", "?since=0", token=team.alice_token) as comm:
        await replayed(comm)
        await database_sync_to_async(four)()
        frames = [await next_frame(comm) for _ in range(4)]
    flags = [(f["delta"]["relevant"], f["delta"]["breaking_for_you"]) for f in frames]
    assert flags == [(True, False), (False, False), (True, True), (True, True)]
    assert frames[3]["delta"]["contract_version"] == 2
    for frame in frames:
        assert frame["delta"] == await wire_shape(team.project, frame["delta"]["seq"], team.alice)


async def test_an_agent_is_not_told_its_own_delta_concerns_it(team):
    async with subscribed("ws", "?since=0", token=team.bob_token) as comm:
        await replayed(comm)
        await database_sync_to_async(push)(team.project, team.bob, tasks=["T2"])
        frame = await next_frame(comm)
    assert frame["delta"]["relevant"] is False


# Client frames ---------------------------------------------------------------------------


async def test_an_ack_frame_moves_the_agents_cursor_and_records_it(team):
    await database_sync_to_async(push_many)(team.project, team.bob, 3)
    async with subscribed("ws", "?since=0", token=team.alice_token) as comm:
        await replayed(comm)
        await comm.send_json_to({"type": "ack", "seq": 2})
        assert await next_frame(comm) == {"type": "acked", "seq": 2}
        # Acknowledging less than the cursor leaves it where it is, and says where that is.
        await comm.send_json_to({"type": "ack", "seq": 1})
        assert await next_frame(comm) == {"type": "acked", "seq": 2}
    assert await database_sync_to_async(selectors.cursor_of)(team.alice) == 2
    events = await database_sync_to_async(list)(
        Event.objects.filter(type="deltas.acknowledged").values_list("actor", "payload")
    )
    assert events == [("agent:alice", {"from": 0, "to": 2})]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "malformed_frame"),
        ('{"type": "ack", "seq": 1', "malformed_frame"),
        ("[1, 2]", "frame_without_type"),
        ('{"seq": 1}', "frame_without_type"),
        ('{"type": "subscribe"}', "unknown_frame_type"),
        ('{"type": ["ack"]}', "unknown_frame_type"),
        ('{"type": "ack"}', "bad_seq"),
        ('{"type": "ack", "seq": "1"}', "bad_seq"),
        ('{"type": "ack", "seq": -1}', "bad_seq"),
        ('{"type": "ack", "seq": true}', "bad_seq"),
        ('{"type": "ack", "seq": 1.0}', "bad_seq"),
        ('{"type": "ack", "seq": 9}', "ack_beyond_head"),
    ],
)
async def test_a_bad_frame_gets_an_error_frame_and_the_connection_stays_open(team, text, code):
    await database_sync_to_async(push)(team.project, team.bob)
    async with subscribed("ws", "?since=0", token=team.alice_token) as comm:
        await replayed(comm)
        await comm.send_to(text_data=text)
        frame = await next_frame(comm)
        assert frame["type"] == "error"
        assert frame["code"] == code
        assert frame["message"]
        await assert_nothing_else_sent(comm)
        await database_sync_to_async(push)(team.project, team.bob)
        assert (await next_frame(comm))["delta"]["seq"] == 2
    assert await database_sync_to_async(selectors.cursor_of)(team.alice) == 0


async def test_a_binary_frame_gets_an_error_frame(team):
    async with subscribed("ws", "?since=0", token=team.alice_token) as comm:
        await replayed(comm)
        await comm.send_to(bytes_data=b'{"type": "ping"}')
        frame = await next_frame(comm)
        await assert_nothing_else_sent(comm)
    assert (frame["type"], frame["code"]) == ("error", "binary_frame")


async def test_a_human_cannot_acknowledge(team, session_cookie):
    await database_sync_to_async(push)(team.project, team.bob)
    async with subscribed("ws", "?since=0", cookie=session_cookie) as comm:
        await replayed(comm)
        await comm.send_json_to({"type": "ack", "seq": 1})
        frame = await next_frame(comm)
        await assert_nothing_else_sent(comm)
    assert (frame["type"], frame["code"]) == ("error", "not_an_agent")
    assert await database_sync_to_async(Delta.objects.count)() == 1


class TestGrantsOverTheSocket:
    """A lock or push turn an agent waited for reaches that agent's socket, and no one else's."""

    async def test_a_lock_granted_from_the_line_reaches_only_its_holder(self, team: Team) -> None:
        from locks import services as locks

        def queue_and_release() -> int:
            held = locks.acquire_lock(agent=team.bob, path="src/auth.py").lock
            waiting = locks.acquire_lock(agent=team.alice, path="src/auth.py", wait=True).lock
            locks.release_lock(actor=Actor.for_agent(team.bob), lock_id=held.pk)
            return waiting.pk

        async with (
            subscribed("ws", token=team.alice_token) as alice,
            subscribed("ws", token=team.bob_token) as bob,
        ):
            await replayed(alice)
            await replayed(bob)
            waited = await database_sync_to_async(queue_and_release)()
            frame = await next_frame(alice)
            assert frame["type"] == "lock_granted"
            assert frame["lock"]["id"] == waited
            assert frame["lock"]["holder"] == "alice"
            assert frame["lock"]["status"] == "held"
            await assert_nothing_else_sent(alice)
            await assert_nothing_else_sent(bob)

    async def test_a_push_turn_reaches_the_agent_that_waited(self, team: Team) -> None:
        from locks import push as pushes

        def line_up_and_finish() -> int:
            first = pushes.request_push(agent=team.bob).ticket
            second = pushes.request_push(agent=team.alice).ticket
            pushes.complete_push(
                agent=team.bob,
                ticket_id=first.pk,
                commit_sha="abc1234",
                fencing_token=first.fencing_token or 0,
            )
            return second.pk

        async with subscribed("ws", token=team.alice_token) as alice:
            await replayed(alice)
            ticket = await database_sync_to_async(line_up_and_finish)()
            frame = await next_frame(alice)
            assert frame["type"] == "push_turn"
            assert frame["ticket"]["id"] == ticket
            assert frame["ticket"]["status"] == "active"
