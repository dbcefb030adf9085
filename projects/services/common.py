"""What the plan services share: who may give a project a plan."""

from __future__ import annotations

from typing import TYPE_CHECKING

from peercode.actors import Actor
from peercode.permissions import Action, require

if TYPE_CHECKING:
    from projects.models import Project


def check_may_import(actor: Actor, project: Project, *, replace: bool) -> None:
    """A human lead imports or replaces a plan. An agent may give its own, still empty,
    project its first plan (nobody depends on it yet; the import refuses a project that has
    one), but never replace one: that deletes every task, claims included."""
    if actor.is_agent and not replace:
        actor.check_project(project)
        return
    require(actor, Action.CHANGE_PLAN, project)
