"""Who may do what in a project: one check per action, shared by REST, the dashboard, the
admin, MCP and the management commands.

Humans hold a role per project (:class:`projects.models.Role`): a *viewer* reads everything, a
*lead* steers the work (the plan, agents and their tokens, locks and the push queue, escalated
debates), an *admin* also changes the project's settings and its members. Django staff and
superusers may do everything in every project. Agents act only through their own protocols
(claims, their task's status, deltas, locks, debates), never through these actions, except
reading their own project. The system operator (management commands, the sweeper) may do all.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from peercode.errors import PermissionDenied

if TYPE_CHECKING:
    from peercode.actors import Actor
    from projects.models import Project


class Action(StrEnum):
    VIEW = "view"
    CHANGE_PLAN = "change_plan"
    PUBLISH_CONTRACT = "publish_contract"
    PUSH_DELTAS = "push_deltas"
    MANAGE_AGENTS = "manage_agents"
    STEER_LOCKS = "steer_locks"
    DECIDE_DEBATES = "decide_debates"
    CHANGE_SETTINGS = "change_settings"
    MANAGE_MEMBERS = "manage_members"
    DELETE_PROJECT = "delete_project"


# The least role that may take each action; each role may do everything the one before it may.
_RANK = {"viewer": 1, "lead": 2, "admin": 3}
NEEDS: dict[Action, str] = {
    Action.VIEW: "viewer",
    Action.CHANGE_PLAN: "lead",
    Action.PUBLISH_CONTRACT: "lead",
    Action.PUSH_DELTAS: "lead",
    Action.MANAGE_AGENTS: "lead",
    Action.STEER_LOCKS: "lead",
    Action.DECIDE_DEBATES: "lead",
    Action.CHANGE_SETTINGS: "admin",
    Action.MANAGE_MEMBERS: "admin",
    Action.DELETE_PROJECT: "admin",
}

# What each action covers, in the words of the refusal and of the README.
DESCRIPTIONS: dict[Action, str] = {
    Action.VIEW: "see this project",
    Action.CHANGE_PLAN: "change the plan (phases, tasks, contracts, import, decomposition)",
    Action.PUBLISH_CONTRACT: "publish a contract version",
    Action.PUSH_DELTAS: "tell the agents something (push a delta)",
    Action.MANAGE_AGENTS: "create agents and rotate or revoke their tokens",
    Action.STEER_LOCKS: "force-release locks and take agents out of the push line",
    Action.DECIDE_DEBATES: "decide or withdraw escalated debates",
    Action.CHANGE_SETTINGS: "change the project's settings",
    Action.MANAGE_MEMBERS: "add or remove members and change their roles",
    Action.DELETE_PROJECT: "delete the project",
}


def is_operator(user: Any) -> bool:
    """Django staff and superusers: full access to every project."""
    return bool(getattr(user, "is_superuser", False) or getattr(user, "is_staff", False))


def role_of(user: Any, project: Project) -> str | None:
    """The user's role in the project (one query), or None for a non-member."""
    from projects.models import Membership

    if user is None or not getattr(user, "is_authenticated", False) or not user.pk:
        return None
    return (
        Membership.objects.filter(project_id=project.pk, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
    )


def allows(actor: Actor, action: Action, project: Project) -> bool:
    """Whether the actor may take the action in the project."""
    if actor.kind == "system":
        return True
    if actor.agent is not None:
        return action is Action.VIEW and actor.agent.project_id == project.pk
    if is_operator(actor.user):
        return True
    role = role_of(actor.user, project)
    return role is not None and _RANK[role] >= _RANK[NEEDS[action]]


def require(actor: Actor, action: Action, project: Project) -> None:
    """Refuse, saying which role the action needs and who can grant it, unless allowed."""
    if allows(actor, action, project):
        return
    what = DESCRIPTIONS[action]
    if actor.agent is not None:
        protocols = (
            " An agent changes what others depend on only through the recorded protocols: "
            "push_delta (a contract change or a proposal), open_debate, and claim_task and "
            "update_task on its own task."
            if action in (Action.CHANGE_PLAN, Action.PUBLISH_CONTRACT)
            else ""
        )
        raise PermissionDenied(
            f"Agents cannot {what}.{protocols} Ask a human lead of project {project.slug!r} "
            "to do it in the dashboard.",
            code="humans_only",
        )
    needed = NEEDS[action]
    raise PermissionDenied(
        f"To {what} in project {project.slug!r} you need the role {needed!r} or higher. "
        "Ask an admin of the project (or a staff user) to give you that role.",
        code="role_required",
        details={"action": str(action), "needs_role": needed, "project": project.slug},
    )


def may_create_projects(actor: Actor) -> bool:
    """The system, staff, and humans given Django's ``projects.add_project`` permission."""
    if actor.kind == "system":
        return True
    if actor.agent is not None or actor.user is None:
        return False
    return is_operator(actor.user) or bool(actor.user.has_perm("projects.add_project"))


def require_create_projects(actor: Actor) -> None:
    if may_create_projects(actor):
        return
    if actor.agent is not None:
        raise PermissionDenied(
            "Agents cannot create projects; ask a human to create one in the dashboard.",
            code="humans_only",
        )
    raise PermissionDenied(
        "Creating projects needs a staff account or the 'projects.add_project' permission. "
        "Ask a staff user to create the project and make you its admin, or to grant you the "
        "permission in the admin.",
        code="role_required",
        details={"action": "create_project"},
    )
