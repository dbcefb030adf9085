"""A validated plan as frozen dataclasses, and the errors a bad plan raises."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from peercode.errors import ValidationFailed
from projects.models import (
    ContractKind,
    TaskStatus,
)
from projects.plan_format.schema import DEFAULT_ESTIMATE


@dataclass(frozen=True)
class ProjectSpec:
    name: str = ""
    description: str = ""
    integration_branch: str = ""  # empty: the project's default


@dataclass(frozen=True)
class PhaseSpec:
    number: int
    name: str
    description: str = ""


@dataclass(frozen=True)
class TaskSpec:
    key: str
    title: str
    phase: int
    status: str  # always concrete: computed when the file leaves it out
    description: str = ""
    depends_on: tuple[str, ...] = ()
    file_globs: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()
    estimate: int = DEFAULT_ESTIMATE


@dataclass(frozen=True)
class ContractSpec:
    name: str
    kind: str = ContractKind.API
    description: str = ""
    spec: str | None = None
    owner: str | None = None  # agrees with the owner's TaskSpec.provides


@dataclass(frozen=True)
class PlanSpec:
    source: str
    phases: tuple[PhaseSpec, ...]
    tasks: tuple[TaskSpec, ...]
    contracts: tuple[ContractSpec, ...] = ()
    project: ProjectSpec = ProjectSpec()


@dataclass(frozen=True)
class PlanError:
    source: str
    item: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.item}: {self.message}"


class PlanInvalid(ValidationFailed):
    """A plan with at least one problem; ``errors`` holds all of them."""

    def __init__(self, errors: list[PlanError]) -> None:
        self.errors = errors
        source = errors[0].source if errors else "plan"
        count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
        super().__init__(
            f"The plan in {source} has {count}; nothing was imported. Fix them and import again:"
            + "".join(f"\n{error}" for error in errors),
            code="invalid_plan",
            details={
                "errors": [
                    {"source": e.source, "item": e.item, "message": e.message} for e in errors
                ]
            },
        )


def default_status(depends_on: Iterable[str], statuses: Mapping[str, str]) -> str:
    """What a task's status is when the file leaves it out: ready once every dependency is done."""
    done = all(statuses.get(dep) == TaskStatus.DONE for dep in depends_on)
    return TaskStatus.READY.value if done else TaskStatus.BACKLOG.value
