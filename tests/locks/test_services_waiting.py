"""Lock services: the waiting line (first come, first served; told when granted) and the sweep
of expired leases and given-up waits.

Time is controlled by the ``clock`` fixture (``conftest.py``), which replaces
``django.utils.timezone.now`` (the clock the services, selectors and the event log read) with one
that moves only when a test says so (and by one microsecond per reading, so that events keep
their order).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.core.management import call_command

from deltas.services import group_name
from locks import selectors, services
from locks.models import Lock, LockStatus
from locks.services import LockConflict
from peercode.errors import Conflict
from projects.models import Agent, Project
from tests.factories import make_agent, make_project
from tests.locks.push_support import Clock
from tests.locks.services_support import PATH, acquire, events, lines, me, status_of

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------------------------
# Waiting


class TestWaiting:
    def test_a_conflicting_request_with_wait_queues_and_is_told_its_place(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent
    ) -> None:
        acquire(ann)
        first = lines(bob, 1, 5, wait=True)
        second = lines(cat, 3, 8, wait=True)
        assert (first.granted, first.position) == (False, 1)
        assert (second.granted, second.position) == (False, 2)
        assert first.lock.status == LockStatus.WAITING
        assert first.lock.fencing_token is None
        assert first.lock.expires_at == first.lock.requested_at + timedelta(seconds=900)
        assert selectors.as_dict(second.lock)["position"] == 2
        assert [lock.pk for lock in selectors.waiting_queue(project)] == [
            first.lock.pk,
            second.lock.pk,
        ]
        queued = events(project, "lock.queued")
        assert [event.payload["position"] for event in queued] == [1, 2]

    def test_requests_are_granted_first_come_first_served(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent
    ) -> None:
        held = acquire(ann).lock
        first = lines(bob, 1, 5, wait=True).lock
        second = lines(cat, 3, 8, wait=True).lock
        services.release_lock(actor=me(ann), lock_id=held.pk)
        assert status_of(first) == LockStatus.HELD
        assert status_of(second) == LockStatus.WAITING
        assert selectors.queue_position(Lock.objects.get(pk=second.pk)) == 1
        services.release_lock(actor=me(bob), lock_id=first.pk)
        assert status_of(second) == LockStatus.HELD
        granted = events(project, "lock.granted")
        assert [event.payload["lock"] for event in granted] == [held.pk, first.pk, second.pk]
        assert [event.payload["waited"] for event in granted] == [False, True, True]

    def test_a_large_request_is_not_starved_by_small_ones(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent
    ) -> None:
        reader = acquire(ann, mode="shared").lock
        whole = acquire(bob, wait=True).lock  # exclusive: waits for the reader
        # Another reader would get along with ann, but may not overtake bob's earlier request.
        with pytest.raises(LockConflict) as excinfo:
            lines(cat, 1, 2, mode="shared")
        assert "bob has been waiting" in excinfo.value.message
        assert f"request #{whole.pk}" in excinfo.value.message
        blocked = lines(cat, 1, 2, mode="shared", wait=True)
        assert blocked.position == 2
        services.release_lock(actor=me(ann), lock_id=reader.pk)
        assert status_of(whole) == LockStatus.HELD
        assert status_of(blocked) == LockStatus.WAITING

    def test_a_request_stays_behind_an_earlier_one_still_in_line_when_the_line_moves(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent
    ) -> None:
        lines(ann, 1, 3)
        elsewhere = acquire(cat, "other.py").lock
        first = lines(bob, 1, 10, wait=True).lock  # blocked by ann
        second = lines(cat, 5, 10, wait=True).lock  # blocked only by bob's request
        services.release_lock(actor=me(cat), lock_id=elsewhere.pk)  # the line is served
        assert status_of(first) == LockStatus.WAITING
        assert status_of(second) == LockStatus.WAITING
        assert selectors.queue_position(Lock.objects.get(pk=second.pk)) == 2

    def test_a_request_that_conflicts_with_nobody_in_line_is_granted_at_once(
        self, ann: Agent, bob: Agent, cat: Agent
    ) -> None:
        acquire(ann, scope="lines", start_line=1, end_line=10)
        lines(bob, 1, 5, wait=True)
        assert lines(cat, 20, 30).granted

    def test_an_agent_is_not_blocked_by_its_own_waiting_request(
        self, ann: Agent, bob: Agent
    ) -> None:
        held = acquire(ann).lock
        first = lines(bob, 1, 5, wait=True)
        second = lines(bob, 3, 8, wait=True)
        assert (first.position, second.position) == (1, 1)
        services.release_lock(actor=me(ann), lock_id=held.pk)
        assert status_of(first) == status_of(second) == LockStatus.HELD

    def test_leaving_the_line_cancels_and_lets_the_next_one_in(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent
    ) -> None:
        acquire(ann, scope="lines", start_line=1, end_line=3)
        first = lines(bob, 1, 10, wait=True).lock
        second = lines(cat, 5, 10, wait=True).lock  # blocked only by bob's request
        assert second.status == LockStatus.WAITING
        cancelled = services.release_lock(actor=me(bob), lock_id=first.pk)
        assert cancelled.status == LockStatus.CANCELLED
        assert status_of(second) == LockStatus.HELD
        [event] = events(project, "lock.cancelled")
        assert event.payload["why"] == "withdrawn"

    def test_a_waiting_request_cannot_be_renewed(self, ann: Agent, bob: Agent) -> None:
        acquire(ann)
        waiting = acquire(bob, wait=True).lock
        with pytest.raises(Conflict) as excinfo:
            services.renew_lock(actor=me(bob), lock_id=waiting.pk)
        assert excinfo.value.code == "lock_waiting"

    def test_a_request_stops_waiting_after_one_ttl(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        acquire(ann, ttl_seconds=3600)
        waiting = acquire(bob, wait=True, ttl_seconds=60).lock
        clock.advance(61)
        assert list(selectors.waiting_queue(project)) == []
        assert services.sweep_expired() == 1
        assert status_of(waiting) == LockStatus.CANCELLED
        [event] = events(project, "lock.cancelled")
        assert event.payload["why"] == "wait_deadline"

    def test_an_expired_holder_lets_the_line_in_at_the_sweep(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        acquire(ann, ttl_seconds=10)
        waiting = acquire(bob, wait=True, ttl_seconds=600).lock
        clock.advance(10)
        assert services.sweep_expired() == 1
        granted = Lock.objects.get(pk=waiting.pk)
        assert granted.status == LockStatus.HELD
        assert granted.granted_at is not None
        assert granted.expires_at == granted.granted_at + timedelta(seconds=600)

    def test_fencing_tokens_strictly_increase_over_every_kind_of_grant(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent, clock: Clock
    ) -> None:
        tokens = [acquire(ann, ttl_seconds=10).lock.fencing_token]
        waiting = acquire(bob, wait=True).lock
        tokens.append(acquire(cat, "b.py").lock.fencing_token)
        clock.advance(11)
        services.sweep_expired()
        tokens.append(Lock.objects.get(pk=waiting.pk).fencing_token)
        services.release_lock(actor=me(bob), lock_id=waiting.pk)
        tokens.append(acquire(ann).lock.fencing_token)
        assert tokens == [1, 2, 3, 4]
        granted = [event.payload["fencing_token"] for event in events(project, "lock.granted")]
        assert granted == sorted(granted) == [1, 2, 3, 4]


@pytest.mark.django_db(transaction=True)
def test_a_waiting_agent_is_told_over_the_channel_layer_when_its_turn_comes() -> None:
    project = make_project()
    ann, _ = make_agent(project, "ann")
    bob, _ = make_agent(project, "bob")
    held = acquire(ann).lock
    waiting = acquire(bob, wait=True).lock
    layer = get_channel_layer()
    assert layer is not None

    async def release_and_listen() -> dict[str, Any]:
        channel = await layer.new_channel()
        await layer.group_add(group_name(project.pk), channel)
        await database_sync_to_async(services.release_lock)(actor=me(ann), lock_id=held.pk)
        return await asyncio.wait_for(layer.receive(channel), timeout=10)

    message = async_to_sync(release_and_listen)()
    assert message["type"] == "lock.granted"
    assert message["agent_id"] == bob.pk
    assert message["lock"]["id"] == waiting.pk
    assert message["lock"]["status"] == LockStatus.HELD
    assert message["lock"]["fencing_token"] == 2


# ---------------------------------------------------------------------------------------------
# The sweep


class TestSweep:
    def test_the_sweep_marks_expired_leases_and_records_when_they_ended(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        first = acquire(ann, ttl_seconds=10).lock
        second = acquire(bob, "b.py", ttl_seconds=20).lock
        clock.advance(15)
        assert services.sweep_expired() == 1
        assert status_of(first) == LockStatus.EXPIRED
        assert status_of(second) == LockStatus.HELD
        [event] = events(project, "lock.expired")
        assert event.payload["lock"] == first.pk
        assert event.payload["fencing_token"] == first.fencing_token
        assert first.expires_at is not None
        assert datetime.fromisoformat(event.payload["ended_at"]) == first.expires_at
        assert services.sweep_expired() == 0

    def test_the_sweep_with_a_given_time_judges_by_it(self, ann: Agent) -> None:
        lock = acquire(ann, ttl_seconds=10).lock
        assert lock.expires_at is not None
        assert services.sweep_expired(now=lock.expires_at - timedelta(seconds=1)) == 0
        assert services.sweep_expired(now=lock.expires_at) == 1

    def test_the_command_sweeps_and_says_what_it_did(
        self, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        lock = acquire(ann, ttl_seconds=10).lock
        acquire(bob, wait=True)
        clock.advance(11)
        out = StringIO()
        call_command("locks", "sweep", stdout=out)
        text = out.getvalue()
        assert f"expired   #{lock.pk} {PATH} (whole file) exclusive by ann" in text
        assert "granted" in text
        assert "1 lease(s) expired, 0 wait(s) cancelled, 1 waiting request(s) granted" in text

    def test_the_command_lists_a_projects_locks(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        lines(ann, 3, 4)
        lines(bob, 4, 9, wait=True)
        out = StringIO()
        call_command("locks", "list", "--project", project.slug, stdout=out)
        rows = out.getvalue().splitlines()
        assert rows[0].split()[:3] == ["ID", "STATUS", "HOLDER"]
        assert "held" in rows[1]
        assert f"{PATH} lines 3-4" in rows[1]
        assert "waiting" in rows[2]
        assert "bob" in rows[2]
