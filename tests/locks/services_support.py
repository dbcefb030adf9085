"""What the lock service tests share: small helpers that acquire locks and read back their
status and events. The fixtures (``clock``, ``project``, ``ann``, ``bob``, ``cat``) are in
``conftest.py``."""

from __future__ import annotations

from typing import Any

from locks import services
from locks.models import Lock
from peercode.actors import Actor
from peercode.events.models import Event
from projects.models import Agent, Project

PATH = "src/auth.py"


def acquire(agent: Agent, path: str = PATH, **fields: Any) -> services.AcquireResult:
    return services.acquire_lock(agent=agent, path=path, **fields)


def lines(agent: Agent, start: int, end: int, **fields: Any) -> services.AcquireResult:
    return acquire(agent, scope="lines", start_line=start, end_line=end, **fields)


def me(agent: Agent) -> Actor:
    return Actor.for_agent(agent)


def events(project: Project, type_: str) -> list[Event]:
    return list(Event.objects.filter(project=project, type=type_).order_by("created_at"))


def status_of(result: services.AcquireResult | Lock) -> str:
    lock = result.lock if isinstance(result, services.AcquireResult) else result
    return Lock.objects.get(pk=lock.pk).status
