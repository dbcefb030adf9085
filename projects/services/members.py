"""Project members: the humans who may see and steer a project, each with a role.

Each function checks the actor may manage members, runs in one transaction and records its
event. A project keeps at least one admin once it has one, so it is never left unsteerable.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from peercode.actors import Actor
from peercode.errors import Conflict, NotFound, ValidationFailed
from peercode.events.services import record_event
from peercode.permissions import Action, require
from projects.models import Membership, Project, Role


def set_member_role(*, project: Project, user: Any, role: str, actor: Actor) -> Membership:
    """Make the user a member with this role (adding or changing it). Emits
    ``member.added`` or ``member.role_changed``."""
    require(actor, Action.MANAGE_MEMBERS, project)
    if role not in Role.values:
        raise ValidationFailed(
            f"Unknown role {role!r}; use one of {', '.join(Role.values)}.", code="unknown_role"
        )
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update().filter(project=project, user=user).first()
        )
        if membership is None:
            membership = Membership.objects.create(project=project, user=user, role=role)
            kind, payload = "member.added", {"role": role}
        else:
            if membership.role == role:
                return membership
            if membership.role == Role.ADMIN:
                _keep_an_admin(project, membership)
            payload = {"role": role, "was": membership.role}
            membership.role = role
            membership.save(update_fields=["role"])
            kind = "member.role_changed"
        record_event(
            project=project,
            type=kind,
            actor=actor,
            subject=f"user:{user.get_username()}",
            payload=payload,
        )
    return membership


def remove_member(*, project: Project, user: Any, actor: Actor) -> Membership:
    """Take the user's role in the project away; returns the membership as it was. Emits
    ``member.removed``."""
    require(actor, Action.MANAGE_MEMBERS, project)
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update().filter(project=project, user=user).first()
        )
        if membership is None:
            raise NotFound(
                f"{user.get_username()!r} is not a member of project {project.slug!r}.",
                code="unknown_member",
            )
        if membership.role == Role.ADMIN:
            _keep_an_admin(project, membership)
        membership.delete()
        record_event(
            project=project,
            type="member.removed",
            actor=actor,
            subject=f"user:{user.get_username()}",
            payload={"role": membership.role},
        )
    return membership


def _keep_an_admin(project: Project, leaving: Membership) -> None:
    """Refuse taking away the last admin role (the other admins' rows are locked too)."""
    admins = list(
        Membership.objects.select_for_update()
        .filter(project=project, role=Role.ADMIN)
        .exclude(pk=leaving.pk)
        .values_list("pk", flat=True)
    )
    if not admins:
        raise Conflict(
            f"{leaving.user.get_username()!r} is the last admin of project {project.slug!r}; "
            "make another member admin first.",
            code="last_admin",
        )
