"""What the push-queue tests share: a clock the tests move by hand, and small helpers that
complete a ticket as its agent would and read back tickets, lines and events.

The fixtures built on these (``clock``, ``project``, ``ann`` ... ``dan``) are in
``tests/locks/conftest.py``.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from locks import push
from locks.models import PushTicket
from peercode.events.models import Event
from projects.models import Agent, Project
from tests.factories import make_agent

LEASE = 300  # Project.push_lease_seconds by default


class Clock:
    """Stands in for ``django.utils.timezone.now``. Each reading is one microsecond after the
    last (so events keep their order in the log, which sorts by time), and a test moves it on
    by whole seconds to let a lease run out."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._guard = threading.Lock()

    def __call__(self) -> datetime:
        with self._guard:
            self._now += timedelta(microseconds=1)
            return self._now

    @property
    def now(self) -> datetime:
        """The latest reading, without taking a new one."""
        with self._guard:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._guard:
            self._now += timedelta(seconds=seconds)


def agent_named(project: Project, name: str) -> Agent:
    agent, _ = make_agent(project, name)
    return agent


def ticket_of(result: push.PushResult | PushTicket) -> PushTicket:
    """The ticket as stored now."""
    ticket = result.ticket if isinstance(result, push.PushResult) else result
    return PushTicket.objects.select_related("agent").get(pk=ticket.pk)


def finish(result: push.PushResult | PushTicket, sha: str = "abc1234") -> PushTicket:
    """Complete a ticket that holds the turn, as its agent would."""
    ticket = ticket_of(result)
    return push.complete_push(
        agent=ticket.agent,
        ticket_id=ticket.pk,
        commit_sha=sha,
        fencing_token=ticket.fencing_token or 0,
    )


def lease_of(ticket: PushTicket) -> timedelta:
    assert ticket.started_at is not None
    assert ticket.expires_at is not None
    return ticket.expires_at - ticket.started_at


def events(project: Project, type_: str) -> list[Event]:
    return list(Event.objects.filter(project=project, type=type_))


def push_events(project: Project) -> list[str]:
    return list(
        Event.objects.filter(project=project, type__startswith="push.").values_list(
            "type", flat=True
        )
    )


def line_of(project: Project, branch: str = "peer-progress") -> list[tuple[str, str]]:
    return [(ticket.agent.name, ticket.status) for ticket in push.push_line(project, branch)]
