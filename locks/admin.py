"""Locks and push tickets in the admin: history to read, and two actions that go through the
services.

A lock or a ticket changes only through the services, so nobody adds, edits or deletes one
here. A staff human may force-release locks (``locks.services.force_release``, recorded in the
event log as ``lock.force_released`` naming who did it) and take tickets out of the push line
(``locks.push.abandon_push``); each selected row is reported on its own, since one may succeed
where another has already ended.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from locks import push, selectors, services
from locks.models import Lock, PushTicket
from locks.rules import where
from peercode.errors import PeerCodeError
from peercode.events.admin import ReadOnlyAdmin, pretty_json
from peercode.events.models import Event
from projects.admin.service_admin import actor_for, changelist_link

FORCE_RELEASE_REASON = "Force-released in the Django admin."


def _may_act(request: HttpRequest, permission: str) -> bool:
    """Staff with the model's change permission (superusers have it): the services refuse
    anyone else anyway, so the action is not offered to them."""
    user = request.user
    return bool(getattr(user, "is_staff", False)) and user.has_perm(permission)


@admin.register(Lock)
class LockAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "path",
        "covers",
        "mode",
        "status_now",
        "holder",
        "project",
        "fencing_token",
        "expires_at",
    )
    list_filter = ("project", "status", "mode", "scope")
    search_fields = ("path", "section", "holder__name", "reason", "project__slug")
    list_select_related = ("project", "holder", "task")
    ordering = ("-id",)
    actions = ("force_release_locks",)
    fields = (
        "id",
        "project",
        "holder",
        "task",
        "path",
        "scope",
        "section",
        "start_line",
        "end_line",
        "mode",
        "reason",
        "status",
        "status_now",
        "fencing_token",
        "ttl_seconds",
        "requested_at",
        "granted_at",
        "renewed_at",
        "expires_at",
        "released_at",
        "released_by",
        "history",
    )
    readonly_fields = fields

    @admin.display(description="covers")
    def covers(self, lock: Lock) -> str:
        return where(selectors.spec_of(lock)).removeprefix(lock.path).strip() or "-"

    @admin.display(description="status now", ordering="status")
    def status_now(self, lock: Lock) -> str:
        # A lease past its expiry is already over, even before the sweep writes so.
        return selectors.effective_status(lock)

    @admin.display(description="events")
    def history(self, lock: Lock) -> str:
        return changelist_link(Event, "events of this lock", subject=f"lock:{lock.pk}")

    def has_force_release_permission(self, request: HttpRequest) -> bool:
        return _may_act(request, "locks.change_lock")

    @admin.action(
        description="Force-release selected locks (recorded with your name)",
        permissions=["force_release"],
    )
    def force_release_locks(self, request: HttpRequest, queryset: QuerySet[Lock]) -> None:
        actor = actor_for(request)
        for lock in queryset.select_related("holder").order_by("pk"):
            try:
                ended = services.force_release(
                    actor=actor, lock_id=lock.pk, reason=FORCE_RELEASE_REASON
                )
            except PeerCodeError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.message_user(
                request,
                f"Force-released lock #{ended.pk} on {where(selectors.spec_of(ended))} "
                f"({ended.holder.name}'s, now {ended.status}); requests that waited for it are "
                "granted in arrival order.",
                messages.SUCCESS,
            )


@admin.register(PushTicket)
class PushTicketAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "branch",
        "agent",
        "project",
        "status",
        "fencing_token",
        "requested_at",
        "finished_at",
        "commit_sha",
        "violation_count",
    )
    list_filter = ("project", "status", "branch")
    search_fields = ("branch", "agent__name", "commit_sha", "project__slug")
    list_select_related = ("project", "agent")
    ordering = ("-id",)
    actions = ("abandon_tickets",)
    fields = (
        "id",
        "project",
        "agent",
        "branch",
        "paths",
        "status",
        "fencing_token",
        "requested_at",
        "started_at",
        "expires_at",
        "finished_at",
        "commit_sha",
        "previous_head",
        "violations_pretty",
        "history",
    )
    readonly_fields = fields

    @admin.display(description="violations")
    def violation_count(self, ticket: PushTicket) -> int:
        return len(ticket.violations)

    @admin.display(description="violations")
    def violations_pretty(self, ticket: PushTicket) -> Any:
        return pretty_json(ticket.violations)

    @admin.display(description="events")
    def history(self, ticket: PushTicket) -> str:
        return changelist_link(Event, "events of this ticket", subject=f"push:{ticket.pk}")

    def has_abandon_permission(self, request: HttpRequest) -> bool:
        return _may_act(request, "locks.change_pushticket")

    @admin.action(description="Take selected tickets out of the push line", permissions=["abandon"])
    def abandon_tickets(self, request: HttpRequest, queryset: QuerySet[PushTicket]) -> None:
        actor = actor_for(request)
        for ticket in queryset.order_by("pk"):
            try:
                ended = push.abandon_push(actor=actor, ticket_id=ticket.pk)
            except PeerCodeError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.message_user(
                request,
                f"Took push ticket #{ended.pk} ({ended.agent.name}, {ended.branch}) out of the "
                "line; if it held the turn, the next ticket has it now.",
                messages.SUCCESS,
            )
