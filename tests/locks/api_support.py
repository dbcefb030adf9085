"""What the REST API tests of locks and the push queue share: the URLs, the team's shape
(its fixture is ``team`` in ``conftest.py``), and helpers that post as an agent and prove a
refused request wrote nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from locks import services
from locks.models import Lock, LockSpace, PushTicket
from projects.models import Agent, Project
from tests.projects.api_support import API, agent_client, snapshot

ALPHA = API + "/projects/alpha"
LOCKS = ALPHA + "/locks/"
CHECK = ALPHA + "/locks/check"
PUSH = ALPHA + "/push/"
PATH = "src/auth.py"
SHA = "0123456789abcdef0123456789abcdef01234567"
TOO_BIG = 2**64  # beyond any database id


@dataclass
class Team:
    project: Project
    ann: Agent
    ann_token: str
    bob: Agent
    bob_token: str


def lock_snapshot() -> dict[str, Any]:
    return {
        **snapshot(),
        "locks": list(Lock.objects.order_by("pk").values()),
        "tickets": list(PushTicket.objects.order_by("pk").values()),
        "spaces": list(LockSpace.objects.order_by("pk").values()),
    }


@contextmanager
def unchanged() -> Iterator[None]:
    """Prove a refused request wrote nothing: no lock, ticket, token or event."""
    before = lock_snapshot()
    yield
    after = lock_snapshot()
    for table, rows in before.items():
        assert after[table] == rows, f"{table} changed"


def post(token: str, url: str, body: Any = None) -> Any:
    return agent_client(token).post(url, body if body is not None else {}, format="json")


def lock_url(lock: Lock | int, action: str = "") -> str:
    pk = lock if isinstance(lock, int) else lock.pk
    return f"{LOCKS}{pk}/{action}"


def acquire(agent: Agent, **spec: Any) -> services.AcquireResult:
    return services.acquire_lock(agent=agent, **{"path": PATH, **spec})
