"""What the REST API tests share: authenticated clients, error checks, and a state snapshot.

``unchanged()`` is how a test proves that a refused request wrote nothing: it compares every
row count and the content of every row a request could change, before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from peercode.events.models import Event
from projects.models import (
    Agent,
    Contract,
    ContractVersion,
    DecompositionRun,
    Membership,
    Phase,
    Project,
    Task,
)

API = "/api/v1"
_humans = count(1)


def agent_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def human_client(*, username: str | None = None, staff: bool = True) -> APIClient:
    """A client logged in as a new human (no password: hashing one would dominate the run)."""
    user = get_user_model().objects.create_user(
        username=username or f"api-human-{next(_humans)}",
        password=None,
        is_staff=staff,
        is_superuser=staff,
    )
    client = APIClient()
    client.force_login(user)
    return client


def member_client(project: Project, role: str | None) -> APIClient:
    """A client logged in as a new, non-staff human with this role in the project (None: not
    a member)."""
    client = human_client(staff=False)
    if role is not None:
        user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
        Membership.objects.create(project=project, user=user, role=role)
    return client


_AGENT_FIELDS = [f.attname for f in Agent._meta.concrete_fields if f.name != "last_seen_at"]


def snapshot() -> dict[str, Any]:
    """Every row a request could add, change or remove, in a comparable form."""
    return {
        "projects": list(Project.objects.order_by("pk").values()),
        # last_seen_at is authentication's bookkeeping, refreshed by any authenticated request.
        "agents": list(Agent.objects.order_by("pk").values(*_AGENT_FIELDS)),
        "phases": list(Phase.objects.order_by("pk").values()),
        "tasks": list(Task.objects.order_by("pk").values()),
        "depends_on": list(Task.depends_on.through.objects.order_by("pk").values()),
        "consumes": list(Task.consumes.through.objects.order_by("pk").values()),
        "contracts": list(Contract.objects.order_by("pk").values()),
        "versions": ContractVersion.objects.count(),
        "runs": DecompositionRun.objects.count(),
        "members": list(Membership.objects.order_by("pk").values()),
        "events": Event.objects.count(),
    }


@contextmanager
def unchanged() -> Iterator[None]:
    before = snapshot()
    yield
    after = snapshot()
    for table, rows in before.items():
        assert after[table] == rows, f"{table} changed"


def error_of(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The JSON error of a refused request, after checking its status and shape."""
    assert response.status_code == status, (response.status_code, response.content[:2000])
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code, error
    return error
