"""Repeated identical lock refusals fold into one audit event with a count.

An agent retrying a taken lock gets its first refusal logged at once; the identical ones that
follow within the fold window are counted and logged as one event when the window closes (the
sweep), or sooner when a different refusal comes. No event row is ever changed, and the counts
add up to the refusals made.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from locks.services import LockConflict
from locks.sweeper import sweep_once
from peercode.events.models import RefusalTally
from peercode.events.services import flush_refusals
from projects.models import Agent, Project
from tests.factories import make_agent, make_project
from tests.locks.push_support import Clock
from tests.locks.services_support import PATH, acquire, events

WINDOW = 60


@pytest.fixture(autouse=True)
def fold_window(settings: Any) -> None:
    settings.PEERCODE_REFUSAL_FOLD_SECONDS = WINDOW


def refuse(agent: Agent, times: int, path: str = PATH) -> None:
    for _ in range(times):
        with pytest.raises(LockConflict):
            acquire(agent, path)


def counts(project: Project, actor: str | None = None) -> list[int]:
    refused = events(project, "lock.refused")
    return [e.payload["count"] for e in refused if actor is None or e.actor == actor]


def later() -> datetime:
    return timezone.now() + timedelta(seconds=WINDOW + 1)


class TestFolding:
    def test_the_first_refusal_is_logged_at_once_and_repeats_only_counted(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        acquire(ann)
        refuse(bob, 5)
        [first] = events(project, "lock.refused")
        assert first.payload["count"] == 1
        assert first.payload["path"] == PATH
        assert RefusalTally.objects.get().count == 4

    def test_a_closed_window_is_logged_as_one_event_with_the_count(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        held = acquire(ann).lock
        refuse(bob, 5)
        assert flush_refusals(now=later()) == 1
        first, folded = events(project, "lock.refused")
        assert (first.payload["count"], folded.payload["count"]) == (1, 4)
        assert folded.actor == "agent:bob"
        assert folded.subject == f"path:{PATH}"
        assert [c["id"] for c in folded.payload["conflicts"]] == [held.pk]
        assert folded.payload["first_at"] <= folded.payload["at"]
        # The window is forgotten: the table does not grow with refusals.
        assert not RefusalTally.objects.exists()
        assert flush_refusals(now=later()) == 0

    def test_a_single_refusal_adds_nothing_when_its_window_closes(
        self, project: Project, ann: Agent, bob: Agent
    ) -> None:
        acquire(ann)
        refuse(bob, 1)
        assert flush_refusals(now=later()) == 0
        assert counts(project) == [1]

    def test_the_sweep_logs_windows_that_have_closed(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        acquire(ann, ttl_seconds=3600)
        refuse(bob, 3)
        sweep_once()
        assert counts(project) == [1]
        clock.advance(WINDOW + 1)
        sweep_once()
        assert counts(project) == [1, 2]

    def test_a_refusal_after_the_window_logs_the_folded_ones_and_starts_again(
        self, project: Project, ann: Agent, bob: Agent, clock: Clock
    ) -> None:
        acquire(ann, ttl_seconds=3600)
        refuse(bob, 3)
        clock.advance(WINDOW + 1)
        refuse(bob, 2)
        assert counts(project) == [1, 2, 1]
        assert RefusalTally.objects.get().count == 1

    def test_a_refusal_for_another_reason_is_logged_after_the_folded_ones(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent
    ) -> None:
        acquire(ann)
        refuse(bob, 3)
        # cat now waits in line for the path too, so bob's next refusal has another reason.
        acquire(cat, mode="shared", wait=True)
        refuse(bob, 1)
        assert counts(project) == [1, 2, 1]

    def test_other_agents_and_other_paths_are_not_folded_together(
        self, project: Project, ann: Agent, bob: Agent, cat: Agent
    ) -> None:
        acquire(ann)
        acquire(ann, "src/other.py")
        refuse(bob, 2)
        refuse(cat, 2)
        refuse(bob, 2, path="src/other.py")
        assert counts(project) == [1, 1, 1]
        flush_refusals(now=later())
        assert counts(project, "agent:bob") == [1, 1, 1, 1]
        assert counts(project, "agent:cat") == [1, 1]

    def test_with_a_window_of_zero_every_refusal_is_its_own_event(
        self, project: Project, ann: Agent, bob: Agent, settings: Any
    ) -> None:
        settings.PEERCODE_REFUSAL_FOLD_SECONDS = 0
        acquire(ann)
        refuse(bob, 3)
        assert counts(project) == [1, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_are_all_counted_while_windows_are_flushed() -> None:
    """Threads of two agents retry a taken lock while another thread keeps closing windows:
    over the log, the counts add up to exactly the refusals made."""
    project = make_project()
    holder, _ = make_agent(project, "holder")
    retriers = [make_agent(project, name)[0] for name in ("bob", "cat")]
    acquire(holder, ttl_seconds=3600)
    threads_per_agent, attempts = 4, 15
    errors: list[BaseException] = []
    done = threading.Event()

    def retry(agent: Agent) -> None:
        try:
            refuse(agent, attempts)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    def flush() -> None:
        try:
            while not done.is_set():
                flush_refusals(now=later())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    flusher = threading.Thread(target=flush)
    workers = [
        threading.Thread(target=retry, args=(agent,))
        for agent in retriers
        for _ in range(threads_per_agent)
    ]
    flusher.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    flusher.join()
    assert errors == []
    flush_refusals(now=later())
    for agent in retriers:
        assert sum(counts(project, f"agent:{agent.name}")) == threads_per_agent * attempts
