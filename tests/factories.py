"""Small factories that build data through the services, as a user would."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from django.contrib.auth import get_user_model

from peercode.actors import Actor
from projects import services
from projects.models import Agent, Contract, Phase, Project, Task

_counter = itertools.count(1)

SYSTEM = Actor.system("tests")


def make_user(*, username: str | None = None, staff: bool = True, password: str = "pw-pw-pw-1"):
    username = username or f"human{next(_counter)}"
    return get_user_model().objects.create_user(
        username=username, password=password, is_staff=staff, is_superuser=staff
    )


def make_project(*, slug: str | None = None, name: str | None = None) -> Project:
    slug = slug or f"proj-{next(_counter)}"
    return services.create_project(slug=slug, name=name or slug.title(), actor=SYSTEM)


def make_agent(project: Project, name: str | None = None) -> tuple[Agent, str]:
    return services.create_agent(
        project=project, name=name or f"agent-{next(_counter)}", actor=SYSTEM
    )


def make_phase(project: Project, number: int | None = None, name: str = "Phase") -> Phase:
    return services.add_phase(project=project, name=name, number=number, actor=SYSTEM)


def make_task(
    project: Project,
    key: str,
    *,
    phase: int = 1,
    depends_on: Sequence[str] = (),
    file_globs: Sequence[str] = (),
    consumes: Sequence[str] = (),
    estimate: int = 1,
) -> Task:
    if not project.phases.filter(number=phase).exists():
        make_phase(project, number=phase, name=f"Phase {phase}")
    return services.add_task(
        project=project,
        key=key,
        title=f"Task {key}",
        phase_number=phase,
        depends_on=depends_on,
        file_globs=file_globs,
        consumes=consumes,
        estimate=estimate,
        actor=SYSTEM,
    )


def make_contract(
    project: Project, name: str, *, owner: str | None = None, spec: str | None = "v1 spec"
) -> Contract:
    return services.add_contract(
        project=project, name=name, owner_task_key=owner, spec=spec, actor=SYSTEM
    )
