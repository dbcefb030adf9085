"""The push queue under contention: real threads on the configured database (SQLite or
PostgreSQL) asking and pushing at once.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from locks import push
from locks.models import LockSpace, PushStatus, PushTicket
from projects.models import Agent
from tests.factories import make_project
from tests.locks.push_support import agent_named, events

# The clock (tests/locks/conftest.py) stands in for django.utils.timezone.now in every test here.
pytestmark = pytest.mark.usefixtures("clock")


THREADS = 8


def run_together(agents: list[Agent], work: Any) -> list[BaseException]:
    barrier = threading.Barrier(len(agents))
    errors: list[BaseException] = []

    def run(agent: Agent) -> None:
        try:
            barrier.wait()
            work(agent)
        except BaseException as exc:  # pragma: no cover - reported by the caller
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(agent,)) for agent in agents]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.django_db(transaction=True)
def test_agents_asking_at_once_get_distinct_consecutive_places_and_one_turn() -> None:
    project = make_project()
    agents = [agent_named(project, f"pusher-{n}") for n in range(THREADS)]
    places: dict[str, int] = {}

    def ask(agent: Agent) -> None:
        places[agent.name] = push.request_push(agent=agent).position

    assert run_together(agents, ask) == []
    assert sorted(places.values()) == list(range(THREADS))
    line = push.push_line(project, "peer-progress")
    # Each was told the place it holds in the line as stored.
    assert [places[ticket.agent.name] for ticket in line] == list(range(THREADS))
    assert [ticket.status for ticket in line].count(PushStatus.ACTIVE) == 1
    assert line[0].status == PushStatus.ACTIVE
    assert line[0].fencing_token == 1
    assert LockSpace.objects.get(project=project).last_token == 1
    assert len(events(project, "push.turn")) == 1


@pytest.mark.django_db(transaction=True)
def test_agents_pushing_under_contention_are_served_in_arrival_order() -> None:
    project = make_project()
    agents = [agent_named(project, f"pusher-{n}") for n in range(THREADS)]
    deadline = time.monotonic() + 120  # a guard against a hang, not a timing assertion

    def take_turn(agent: Agent) -> None:
        ticket_id = push.request_push(agent=agent).ticket.pk
        while True:
            mine = push.push_status(agent=agent, ticket_id=ticket_id)["ticket"]
            if mine["status"] == PushStatus.ACTIVE:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{agent.name} never got its turn")
            time.sleep(0.005)
        push.complete_push(
            agent=agent,
            ticket_id=ticket_id,
            commit_sha=f"{ticket_id:08x}",
            fencing_token=mine["fencing_token"],
        )

    assert run_together(agents, take_turn) == []
    tickets = list(PushTicket.objects.filter(project=project).order_by("fencing_token"))
    assert [ticket.status for ticket in tickets] == [PushStatus.COMPLETED] * THREADS
    assert [ticket.fencing_token for ticket in tickets] == list(range(1, THREADS + 1))
    # First come, first served: turns went in the order the tickets were stored.
    assert [ticket.pk for ticket in tickets] == sorted(ticket.pk for ticket in tickets)
    heads = [""] + [ticket.commit_sha for ticket in tickets[:-1]]
    assert [ticket.previous_head for ticket in tickets] == heads
    completed = [event.payload["ticket"] for event in events(project, "push.completed")]
    assert completed == [ticket.pk for ticket in tickets]
