"""The server's periodic lock sweep: one task per event loop, and it really sweeps."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from locks import push
from locks.models import Lock, LockStatus, PushStatus, PushTicket
from locks.services import acquire_lock
from locks.sweeper import ensure_sweeper, sweep_once
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
