"""The server's periodic lock sweep: one task per event loop, and it really sweeps."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from locks import push
from locks.models import Lock, LockStatus, PushStatus, PushTicket
from locks.services import acquire_lock
from locks.sweeper import LockSweeper, ensure_sweeper, sweep_once
from tests.db_support import database_unreachable
from tests.factories import make_agent, make_project


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_starts_once_per_event_loop_and_marks_expired_locks(
    settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PEERCODE_LOCK_SWEEP_SECONDS = 0.02  # type: ignore[attr-defined]
    project = make_project()
    ann, _ = make_agent(project, "ann")
    bob, _ = make_agent(project, "bob")
    held = acquire_lock(agent=ann, path="a.py", ttl_seconds=10).lock
    waiting = acquire_lock(agent=bob, path="a.py", wait=True, ttl_seconds=600).lock
    real_now = timezone.now
    # A minute from now, as far as the services can tell: ann's lease has run out, bob still
    # waits.
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(minutes=1))

    def status(pk: int) -> str:
        return Lock.objects.get(pk=pk).status

    async def run_sweeper_until_granted() -> tuple[asyncio.Task[None], asyncio.Task[None]]:
        first, again = ensure_sweeper(), ensure_sweeper()
        while await database_sync_to_async(status)(waiting.pk) != LockStatus.HELD:
            await asyncio.sleep(0.01)
        return first, again

    async def start_on_a_new_loop() -> asyncio.Task[None]:
        return ensure_sweeper()

    first, again = asyncio.run(asyncio.wait_for(run_sweeper_until_granted(), timeout=30))
    assert first is again
    assert status(held.pk) == LockStatus.EXPIRED
    granted = Lock.objects.get(pk=waiting.pk)
    assert isinstance(granted.granted_at, datetime)
    assert granted.fencing_token == 2
    # The first loop has ended (and cancelled its task); another loop gets its own.
    other = asyncio.run(start_on_a_new_loop())
    assert other is not first
    assert first.cancelled()


@pytest.mark.django_db(transaction=True)
def test_the_sweep_passes_an_expired_push_turn_on(monkeypatch: pytest.MonkeyPatch) -> None:
    project = make_project()
    ann, _ = make_agent(project, "ann")
    bob, _ = make_agent(project, "bob")
    first = push.request_push(agent=ann).ticket
    second = push.request_push(agent=bob).ticket
    real_now = timezone.now
    later = timedelta(seconds=project.push_lease_seconds + 1)
    monkeypatch.setattr(timezone, "now", lambda: real_now() + later)

    assert sweep_once() == 1
    assert PushTicket.objects.get(pk=first.pk).status == PushStatus.EXPIRED
    assert PushTicket.objects.get(pk=second.pk).status == PushStatus.ACTIVE
    assert sweep_once() == 0


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_is_reported_once_without_a_traceback_and_sweeping_resumes(
    settings: object, caplog: pytest.LogCaptureFixture
) -> None:
    settings.PEERCODE_LOCK_SWEEP_SECONDS = 0.01  # type: ignore[attr-defined]
    sweeper = LockSweeper()

    async def sweep_through_an_outage() -> None:
        task = sweeper.ensure()
        with database_unreachable():
            while not sweeper.database_down:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # several more failed rounds
        done = sweeper.sweeps
        while sweeper.sweeps == done:
            await asyncio.sleep(0.01)
        task.cancel()

    with caplog.at_level(logging.INFO, logger="locks.sweeper"):
        asyncio.run(asyncio.wait_for(sweep_through_an_outage(), timeout=30))
    said = [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records]
    outage = [message for _, message, _ in said if "cannot reach the database" in message]
    assert len(outage) == 1
    assert ("WARNING", "The lock sweep reaches the database again.", None) in said
    assert all(exc_info is None for _, _, exc_info in said)
    assert not sweeper.database_down
