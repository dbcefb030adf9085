"""The delta stream under what a server meets outside the happy path: tokens revoked or rotated
while their sockets are open (in this process and in another), a database that cannot be
reached, handshakes to paths nobody serves, junk frames, and clients sending too fast.

None of these may end in a 1011 close or a traceback in the log: each gets an error frame
saying what happened and what to do, and only those that leave nothing to talk about close the
connection.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.db import connection
from django.test import override_settings

from deltas import selectors
from projects import services as plan
from tests.db_support import database_unreachable
from tests.deltas.factories import push
from tests.deltas.ws_support import (
    Team,
    assert_nothing_else_sent,
    closing,
    communicator,
    make_team,
    next_frame,
    refusal,
    replayed,
    subscribed,
    use_own_channel_layer,
    viewer_cookie,
)
from tests.factories import SYSTEM

pytestmark = [pytest.mark.anyio, pytest.mark.django_db(transaction=True)]

REPO_ROOT = Path(__file__).resolve().parents[2]
ANOTHER_LAYER = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture(autouse=True)
def own_channel_layer(settings: Any) -> None:
    use_own_channel_layer(settings)


@pytest.fixture
def team(transactional_db: None) -> Team:
    return make_team()


@pytest.fixture
def session_cookie(team: Team) -> str:
    return viewer_cookie(team.project)


def serious(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the server logged at ERROR or above, or with a traceback, while the test ran (the
    lock sweep beside the sockets says an outage once, as a warning)."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def cursor_of(team: Team) -> int:
    return await database_sync_to_async(selectors.cursor_of)(team.alice)


# Revoked and rotated tokens --------------------------------------------------------------


async def test_revoking_an_agent_closes_its_open_socket_and_no_one_elses(team):
    async with (
        subscribed("ws", token=team.alice_token) as alice,
        subscribed("ws", token=team.bob_token) as bob,
    ):
        await replayed(alice)
        await replayed(bob)
        await database_sync_to_async(plan.deactivate_agent)(agent=team.alice, actor=SYSTEM)
        frame, code = await closing(alice)
        await assert_nothing_else_sent(bob)
    assert code == 4401
    assert frame["type"] == "error"
    assert frame["code"] == "token_revoked"
    assert "agent rotate" in frame["message"]


async def test_rotating_a_token_closes_sockets_of_the_old_one_and_the_new_one_connects(team):
    async with subscribed("ws", token=team.alice_token) as old:
        await replayed(old)
        new_token = await database_sync_to_async(plan.rotate_agent_token)(
            agent=team.alice, actor=SYSTEM
        )
        frame, code = await closing(old)
    assert (frame["code"], code) == ("token_revoked", 4401)
    async with subscribed("ws", token=new_token) as new:
        assert await replayed(new) == ([], 0)
        await database_sync_to_async(push)(team.project, team.bob)
        assert (await next_frame(new))["delta"]["seq"] == 1


async def test_a_revoked_agent_whose_close_message_was_lost_cannot_acknowledge(team):
    await database_sync_to_async(push)(team.project, team.bob)
    async with subscribed("ws", "?since=0", token=team.alice_token) as alice:
        await replayed(alice)
        # Sent on a layer this socket does not listen to: the close message is lost to it.
        with override_settings(CHANNEL_LAYERS=ANOTHER_LAYER):
            await database_sync_to_async(plan.deactivate_agent)(agent=team.alice, actor=SYSTEM)
        await alice.send_json_to({"type": "ack", "seq": 1})
        frame, code = await closing(alice)
    assert (frame["code"], code) == ("token_revoked", 4401)
    assert await cursor_of(team) == 0


async def test_a_revoked_agent_whose_close_message_was_lost_is_closed_at_its_next_ping(team):
    async with subscribed("ws", token=team.alice_token) as alice:
        await replayed(alice)
        with override_settings(CHANNEL_LAYERS=ANOTHER_LAYER):
            await database_sync_to_async(plan.rotate_agent_token)(agent=team.alice, actor=SYSTEM)
        await alice.send_json_to({"type": "ping"})
        frame, code = await closing(alice)
    assert (frame["code"], code) == ("token_revoked", 4401)


@pytest.mark.skipif(
    not django_settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis"),
    reason="needs REDIS_URL: only the Redis channel layer reaches other processes",
)
@pytest.mark.parametrize("action", ["revoke", "rotate"])
async def test_a_token_revoked_in_another_server_process_closes_the_socket_here(team, action):
    layer = django_settings.CHANNEL_LAYERS["default"]
    async with subscribed("ws", token=team.alice_token) as alice:
        await replayed(alice)
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.deltas.revoke_worker",
            str(connection.settings_dict["NAME"]),
            layer["CONFIG"]["prefix"],
            str(team.alice.pk),
            action,
            cwd=REPO_ROOT,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(worker.communicate(), 60)
        assert worker.returncode == 0, stderr.decode()
        frame, code = await closing(alice)
    assert (frame["code"], code) == ("token_revoked", 4401)


# The database out of reach ---------------------------------------------------------------


async def test_an_agent_connecting_while_the_database_is_down_is_told_to_retry(team, caplog):
    with database_unreachable():
        frame, code = await refusal(communicator("ws", token=team.alice_token))
    assert code == 4503
    assert frame["code"] == "unavailable"
    assert "database" in frame["message"]
    assert frame["details"]["retry_after"] > 0
    assert serious(caplog) == []


async def test_a_human_connecting_while_the_database_is_down_is_told_to_retry(
    team, session_cookie, caplog
):
    with database_unreachable():
        frame, code = await refusal(communicator("ws", cookie=session_cookie))
    assert (frame["code"], code) == ("unavailable", 4503)
    assert serious(caplog) == []


# Handshakes to paths nobody serves -------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/ws/", "/ws/projects/", "/ws/projects/ws/extra/", "/ws/projects/a%20b/"]
)
async def test_a_handshake_to_a_path_outside_the_project_streams_is_refused(team, path, caplog):
    frame, code = await refusal(communicator("ws", token=team.alice_token, path=path))
    assert code == 4404
    assert frame["code"] == "unknown_path"
    assert "/ws/projects/<project slug>/" in frame["message"]
    assert serious(caplog) == []


# Junk frames -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("[" * 100_000, "frame_too_large"),
        ('{"type": "ping", "pad": "' + "x" * 100_000 + '"}', "frame_too_large"),
        ("[" * 400 + "]" * 400, "frame_without_type"),
        ('{"type": "ack", "seq": ' + "[" * 400 + "]" * 400 + "}", "bad_seq"),
        ("42", "frame_without_type"),
        ("null", "frame_without_type"),
        ('"ping"', "frame_without_type"),
        ("{}", "frame_without_type"),
        (" ", "malformed_frame"),
    ],
)
async def test_a_junk_frame_gets_an_error_frame_and_the_connection_stays_open(
    team, text, code, caplog
):
    async with subscribed("ws", token=team.alice_token) as alice:
        await replayed(alice)
        await alice.send_to(text_data=text)
        frame = await next_frame(alice)
        await assert_nothing_else_sent(alice)
    assert (frame["type"], frame["code"]) == ("error", code)
    assert len(frame["message"]) < 1000
    assert serious(caplog) == []


# Clients sending too fast ----------------------------------------------------------------


async def test_frames_over_the_rate_limit_are_refused_and_not_acted_on(team, settings):
    settings.PEERCODE_RATE_LIMITS = {**settings.PEERCODE_RATE_LIMITS, "ws": (3, 60)}
    await database_sync_to_async(push)(team.project, team.bob)
    async with (
        subscribed("ws", "?since=0", token=team.alice_token) as alice,
        subscribed("ws", "?since=0", token=team.bob_token) as bob,
    ):
        await replayed(alice)
        await replayed(bob)
        for _ in range(3):
            await assert_nothing_else_sent(alice)
        await alice.send_json_to({"type": "ack", "seq": 1})
        frame = await next_frame(alice)
        # The limit is the caller's: another agent's frames still count on their own.
        await assert_nothing_else_sent(bob)
        # The connection stays open: live deltas still arrive.
        await database_sync_to_async(push)(team.project, team.bob)
        assert (await next_frame(alice))["delta"]["seq"] == 2
    assert frame["type"] == "error"
    assert frame["code"] == "rate_limited"
    assert 1 <= frame["details"]["retry_after"] <= 60
    assert "Retry in" in frame["message"]
    assert await cursor_of(team) == 0


async def test_a_humans_frames_are_limited_too(team, session_cookie, settings):
    settings.PEERCODE_RATE_LIMITS = {**settings.PEERCODE_RATE_LIMITS, "ws": (1, 60)}
    async with subscribed("ws", cookie=session_cookie) as human:
        await replayed(human)
        await assert_nothing_else_sent(human)
        await human.send_json_to({"type": "ping"})
        frame = await next_frame(human)
    assert frame["code"] == "rate_limited"


async def test_the_limit_counts_frames_on_every_socket_of_one_token(team, settings):
    settings.PEERCODE_RATE_LIMITS = {**settings.PEERCODE_RATE_LIMITS, "ws": (2, 60)}
    async with (
        subscribed("ws", token=team.alice_token) as first,
        subscribed("ws", token=team.alice_token) as second,
    ):
        await replayed(first)
        await replayed(second)
        await assert_nothing_else_sent(first)
        await assert_nothing_else_sent(second)
        await first.send_json_to({"type": "ping"})
        frame = await next_frame(first)
    assert frame["code"] == "rate_limited"
