"""Project members in the admin: adding, changing and removing a role goes through the services,
so the admin is held to the same rules (the last admin stays) and every change is recorded."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import redirect
from django.urls import reverse

from peercode.errors import PeerCodeError
from projects import services
from projects.admin.service_admin import ServiceAdmin, ServiceForm, actor_for
from projects.models import Membership

# Set on the request when the service refused a removal.
_KEPT = "_peercode_member_kept"


class MembershipForm(ServiceForm):
    class Meta:
        model = Membership
        fields = ("project", "user", "role")


@admin.register(Membership)
class MembershipAdmin(ServiceAdmin):
    form = MembershipForm
    list_display = ("user", "project", "role", "created_at")
    list_filter = ("role", "project")
    search_fields = ("user__username", "project__slug")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A member's project and user are who the row is about; only the role changes.
        return ("project", "user") if obj is not None else ()

    def create(self, request: HttpRequest, form: forms.ModelForm) -> Membership:
        data = form.cleaned_data
        return services.set_member_role(
            project=data["project"], user=data["user"], role=data["role"], actor=actor_for(request)
        )

    def update(self, request: HttpRequest, obj: Membership, form: forms.ModelForm) -> Membership:
        return services.set_member_role(
            project=obj.project,
            user=obj.user,
            role=form.cleaned_data["role"],
            actor=actor_for(request),
        )

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            services.remove_member(project=obj.project, user=obj.user, actor=actor_for(request))
        except PeerCodeError as exc:  # the last admin: say why it stays
            self.message_user(request, exc.message, messages.ERROR)
            setattr(request, _KEPT, True)

    def response_delete(self, request: HttpRequest, obj_display: str, obj_id: Any) -> Any:
        if getattr(request, _KEPT, False):  # no "deleted successfully" for what was kept
            return redirect(reverse("admin:projects_membership_changelist"))
        return super().response_delete(request, obj_display, obj_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset.select_related("project", "user"):
            self.delete_model(request, membership)
