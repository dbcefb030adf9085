"""Projects and their agents.

Each function validates its input, runs in one transaction, and records its event through
:func:`peercode.events.services.record_event` in that transaction. Callers (REST views, MCP
tools, management commands, the admin) never write these models themselves.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError

from deltas import agent_sockets
from peercode.actors import Actor
from peercode.auth import hash_token, new_agent_token
from peercode.errors import Conflict, NotFound, ValidationFailed
from peercode.events.services import record_event
from peercode.permissions import Action, require, require_create_projects
from peercode.validation import full_clean
from projects.models import (
    Agent,
    ClientKind,
    Membership,
    Project,
    Role,
)

# Projects and agents ---------------------------------------------------------------------


def create_project(
    *,
    slug: str,
    name: str,
    actor: Actor,
    description: str = "",
    integration_branch: str | None = None,
    max_debate_rounds: int | None = None,
    debate_round_seconds: int | None = None,
    debate_stalemate_escalates: bool | None = None,
    default_lock_ttl_seconds: int | None = None,
    coupling_guard: str | None = None,
) -> Project:
    """Create an empty project; a human who creates it becomes its admin. Emits
    ``project.created``. Refuses a slug already taken."""
    require_create_projects(actor)
    # The server-wide defaults (settings, from the environment) for what the caller leaves out.
    project = Project(
        slug=slug,
        name=name,
        description=description,
        integration_branch=settings.PEERCODE_INTEGRATION_BRANCH,
        max_debate_rounds=settings.PEERCODE_MAX_DEBATE_ROUNDS,
        default_lock_ttl_seconds=settings.PEERCODE_DEFAULT_LOCK_TTL_SECONDS,
    )
    if integration_branch is not None:
        project.integration_branch = integration_branch
    if max_debate_rounds is not None:
        project.max_debate_rounds = max_debate_rounds
    if debate_round_seconds is not None:
        project.debate_round_seconds = debate_round_seconds
    if debate_stalemate_escalates is not None:
        project.debate_stalemate_escalates = debate_stalemate_escalates
    if default_lock_ttl_seconds is not None:
        project.default_lock_ttl_seconds = default_lock_ttl_seconds
    if coupling_guard is not None:
        project.coupling_guard = coupling_guard
    full_clean(project, what="project", exclude=["slug"] if not slug else None)
    with transaction.atomic():
        if Project.objects.filter(slug=slug).exists():
            raise Conflict(
                f"A project with slug {slug!r} already exists; choose another slug.",
                code="duplicate_project",
            )
        project.save()
        if actor.user is not None:
            Membership.objects.create(project=project, user=actor.user, role=Role.ADMIN)
        record_event(
            project=project,
            type="project.created",
            actor=actor,
            subject=f"project:{slug}",
            payload={"name": name},
        )
    return project


def update_project(*, project: Project, actor: Actor, **changes: Any) -> Project:
    """Change a project's settings (name, description, branch, debate rules, lock TTL)."""
    require(actor, Action.CHANGE_SETTINGS, project)
    allowed = {
        "name",
        "description",
        "integration_branch",
        "max_debate_rounds",
        "debate_round_seconds",
        "debate_stalemate_escalates",
        "default_lock_ttl_seconds",
        "coupling_guard",
    }
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(
            f"Unknown project field(s): {', '.join(sorted(unknown))}. "
            f"Allowed: {', '.join(sorted(allowed))}."
        )
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        for field, value in changes.items():
            setattr(locked, field, value)
        full_clean(locked, what="project")
        locked.save()
        record_event(
            project=locked,
            type="project.updated",
            actor=actor,
            subject=f"project:{locked.slug}",
            payload={"changes": changes},
        )
    return locked


def delete_project(*, project: Project, actor: Actor) -> None:
    """Delete a project with everything in it (phases, tasks, contracts, agents, runs).

    Records ``project.deleted``, with what was removed, in the same transaction; the project's
    events themselves are kept, since the audit trail outlives the project. Humans only.
    """
    require(actor, Action.DELETE_PROJECT, project)
    with transaction.atomic():
        locked = Project.objects.select_for_update().filter(pk=project.pk).first()
        if locked is None:
            raise NotFound(f"Project {project.slug!r} no longer exists; nothing to delete.")
        record_event(
            project=locked,
            type="project.deleted",
            actor=actor,
            subject=f"project:{locked.slug}",
            payload={
                "name": locked.name,
                "phases": locked.phases.count(),
                "tasks": locked.tasks.count(),
                "contracts": locked.contracts.count(),
                "agents": locked.agents.count(),
            },
        )
        try:
            locked.delete()
        except (ProtectedError, RestrictedError) as exc:
            kept = (
                exc.protected_objects if isinstance(exc, ProtectedError) else exc.restricted_objects
            )
            blockers = sorted({str(obj._meta.verbose_name_plural) for obj in kept})
            raise Conflict(
                f"Project {locked.slug!r} cannot be deleted while it has "
                f"{', '.join(blockers)} that must be kept; remove those first.",
                code="project_in_use",
            ) from exc


def create_agent(
    *, project: Project, name: str, actor: Actor, client_kind: str = ClientKind.OTHER
) -> tuple[Agent, str]:
    """Register an agent and return it with its bearer token, which is never shown again.

    Only the token's hash is stored. Emits ``agent.created``.
    """
    require(actor, Action.MANAGE_AGENTS, project)
    token = new_agent_token()
    agent = Agent(
        project=project,
        name=name,
        client_kind=client_kind,
        token_hash=hash_token(token),
        token_prefix=token[:10],
    )
    full_clean(agent, what="agent", exclude=["token_hash", "token_prefix"])
    try:
        with transaction.atomic():
            agent.save()
            record_event(
                project=project,
                type="agent.created",
                actor=actor,
                subject=f"agent:{name}",
                payload={"client_kind": client_kind},
            )
    except IntegrityError as exc:
        raise Conflict(
            f"Project {project.slug!r} already has an agent named {name!r}; choose another "
            "name or rotate that agent's token.",
            code="duplicate_agent",
        ) from exc
    return agent, token


def rotate_agent_token(*, agent: Agent, actor: Actor) -> str:
    """Issue a new token for an agent; the old one stops working at once."""
    require(actor, Action.MANAGE_AGENTS, agent.project)
    token = new_agent_token()
    with transaction.atomic():
        Agent.objects.filter(pk=agent.pk).update(
            token_hash=hash_token(token), token_prefix=token[:10], is_active=True
        )
        record_event(
            project=agent.project,
            type="agent.token_rotated",
            actor=actor,
            subject=f"agent:{agent.name}",
        )
        transaction.on_commit(lambda: agent_sockets.close_all(agent_id=agent.pk), robust=True)
    agent.refresh_from_db()
    return token


def deactivate_agent(*, agent: Agent, actor: Actor) -> Agent:
    """Revoke an agent's token; it can no longer authenticate."""
    require(actor, Action.MANAGE_AGENTS, agent.project)
    with transaction.atomic():
        Agent.objects.filter(pk=agent.pk).update(is_active=False)
        record_event(
            project=agent.project,
            type="agent.deactivated",
            actor=actor,
            subject=f"agent:{agent.name}",
        )
        transaction.on_commit(lambda: agent_sockets.close_all(agent_id=agent.pk), robust=True)
    agent.refresh_from_db()
    return agent
