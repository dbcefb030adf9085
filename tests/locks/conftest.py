"""Fixtures for the tests of the locks app."""

from __future__ import annotations

import pytest
from django.utils import timezone

from projects.models import Agent, Project
from tests.factories import make_agent, make_project, make_task
from tests.locks.api_support import Team
from tests.locks.push_support import Clock, agent_named

# ---------------------------------------------------------------------------------------------
# The push-queue tests (test_push_*.py) and the lock service tests (test_services_*.py). ``clock``
# is not autouse: tests ask for it (the push-queue modules with ``pytestmark``), so other tests
# here keep the real clock.


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    stopped = Clock(timezone.now())
    monkeypatch.setattr(timezone, "now", stopped)
    return stopped


@pytest.fixture
def project(db: None) -> Project:
    return make_project()


@pytest.fixture
def ann(project: Project) -> Agent:
    return agent_named(project, "ann")


@pytest.fixture
def bob(project: Project) -> Agent:
    return agent_named(project, "bob")


@pytest.fixture
def cat(project: Project) -> Agent:
    return agent_named(project, "cat")


@pytest.fixture
def dan(project: Project) -> Agent:
    return agent_named(project, "dan")


# ---------------------------------------------------------------------------------------------
# The REST API tests (test_api_*.py)


@pytest.fixture
def team() -> Team:
    project = make_project(slug="alpha", name="Alpha")
    ann, ann_token = make_agent(project, "ann")
    bob, bob_token = make_agent(project, "bob")
    make_task(project, "T-1")
    return Team(project, ann, ann_token, bob, bob_token)


@pytest.fixture
def cy_token() -> str:
    """A token of another project, 'beta'."""
    beta = make_project(slug="beta", name="Beta")
    _, token = make_agent(beta, "cy")
    return token
