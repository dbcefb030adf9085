"""Who did something: an agent, a human user, or the system itself.

Services take an ``Actor`` so that the event log can name who acted, and so that the rule
"an agent only reaches its own project" is checked in one place (:meth:`Actor.check_project`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from peercode.errors import PermissionDenied

if TYPE_CHECKING:
    from projects.models import Agent, Project


@dataclass(frozen=True)
class Actor:
    kind: str  # "agent", "user" or "system"
    name: str
    agent: Agent | None = None
    user: Any = None
    is_staff: bool = False

    @classmethod
    def for_agent(cls, agent: Agent) -> Actor:
        return cls(kind="agent", name=agent.name, agent=agent)

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        return cls(
            kind="user",
            name=user.get_username(),
            user=user,
            is_staff=bool(getattr(user, "is_staff", False)),
        )

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(kind="system", name=name, is_staff=True)

    @property
    def label(self) -> str:
        return self.name if self.kind == "system" else f"{self.kind}:{self.name}"

    @property
    def is_agent(self) -> bool:
        return self.agent is not None

    def check_project(self, project: Project) -> None:
        """Refuse when an agent reaches outside its own project."""
        if self.agent is not None and self.agent.project_id != project.pk:
            raise PermissionDenied(
                f"Agent {self.agent.name!r} belongs to another project and cannot reach "
                f"project {project.slug!r}. Use a token issued for {project.slug!r}.",
                code="wrong_project",
            )
