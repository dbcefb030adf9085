"""Projects and their agents in the admin."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from peercode.agent_config import client_configs_for
from peercode.errors import PeerCodeError
from projects import services
from projects.admin.service_admin import (
    ReadOnlyInline,
    ServiceAdmin,
    ServiceForm,
    actor_for,
    changelist_link,
)
from projects.models import Agent, Phase, Project, Task

# Projects ----------------------------------------------------------------------------------


class PhaseInline(ReadOnlyInline):
    model = Phase
    fields = ("number", "name")
    readonly_fields = fields


class AgentInline(ReadOnlyInline):
    model = Agent
    fields = ("name", "client_kind", "last_seen_at", "is_active")
    readonly_fields = fields


@admin.register(Project)
class ProjectAdmin(ServiceAdmin):
    list_display = ("slug", "name", "integration_branch", "created_at", "tasks", "agents")
    search_fields = ("slug", "name", "description")
    inlines = (PhaseInline, AgentInline)
    fields = (
        "slug",
        "name",
        "description",
        "integration_branch",
        "max_debate_rounds",
        "debate_round_seconds",
        "debate_stalemate_escalates",
        "default_lock_ttl_seconds",
        "coupling_guard",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                task_count=Count("tasks", distinct=True), agent_count=Count("agents", distinct=True)
            )
        )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return (*self.fields, "created_at") if obj else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("slug", "created_at") if obj else ()

    @admin.display(description="tasks", ordering="task_count")
    def tasks(self, project: Any) -> str:
        return changelist_link(Task, str(project.task_count), project__id__exact=project.pk)

    @admin.display(description="agents", ordering="agent_count")
    def agents(self, project: Any) -> str:
        return changelist_link(Agent, str(project.agent_count), project__id__exact=project.pk)

    def create(self, request: HttpRequest, form: forms.ModelForm) -> Project:
        data = form.cleaned_data
        return services.create_project(
            slug=data["slug"],
            name=data["name"],
            description=data["description"],
            integration_branch=data["integration_branch"],
            max_debate_rounds=data["max_debate_rounds"],
            debate_round_seconds=data["debate_round_seconds"],
            debate_stalemate_escalates=data["debate_stalemate_escalates"],
            default_lock_ttl_seconds=data["default_lock_ttl_seconds"],
            coupling_guard=data["coupling_guard"],
            actor=actor_for(request),
        )

    def update(self, request: HttpRequest, obj: Project, form: forms.ModelForm) -> Project:
        changes = {field: form.cleaned_data[field] for field in form.changed_data}
        if not changes:
            return obj
        return services.update_project(project=obj, actor=actor_for(request), **changes)

    # Deleting a project takes its whole plan with it: superusers only, through the service
    # so that the event log records who did it and what went.
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(getattr(request.user, "is_superuser", False))

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        deleted, model_count, _perms_needed, protected = super().get_deleted_objects(objs, request)
        # Phases, tasks, contracts and agents cannot be deleted one by one in the admin, but
        # delete_project removes them with their project by design.
        return deleted, model_count, set(), protected

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        services.delete_project(project=obj, actor=actor_for(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        for project in queryset:
            try:
                services.delete_project(project=project, actor=actor_for(request))
            except PeerCodeError as exc:
                self.message_user(request, exc.message, messages.ERROR)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except PeerCodeError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:projects_project_change", args=[object_id]))


# Agents ------------------------------------------------------------------------------------


class AgentAddForm(ServiceForm):
    class Meta:
        model = Agent
        fields = ("project", "name", "client_kind")


def show_token_once(request: HttpRequest, agent: Agent, token: str, what: str) -> None:
    """Show a newly issued token, with client configurations, on the next page only."""
    configs = format_html_join(
        "",
        "<p><strong>{}</strong>: {}</p><pre>{}</pre>",
        (
            (config.title, config.where, config.snippet)
            for config in client_configs_for(token, agent.client_kind)
        ),
    )
    messages.warning(
        request,
        format_html(
            "{} agent “{}” in project “{}”. Its token is shown this once; PeerCode keeps only "
            "its hash and cannot show it again:<pre>{}</pre>{}",
            what,
            agent.name,
            agent.project.slug,
            token,
            configs,
        ),
    )


@admin.register(Agent)
class AgentAdmin(ServiceAdmin):
    add_form = AgentAddForm
    list_display = ("name", "project", "client_kind", "last_seen_at", "is_active", "token_prefix")
    list_filter = ("project", "client_kind", "is_active")
    search_fields = ("name", "project__slug", "token_prefix")
    list_select_related = ("project",)
    actions = ("rotate_tokens", "revoke_agents")
    # The token hash is never shown; the prefix is enough to tell tokens apart.
    shown_fields = (
        "project",
        "name",
        "client_kind",
        "token_prefix",
        "is_active",
        "created_at",
        "last_seen_at",
    )

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.shown_fields if obj else ("project", "name", "client_kind")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.shown_fields if obj else ()

    # An agent is changed only through its actions (rotate, revoke), and never deleted:
    # revoking keeps its name attached to the events and contract versions it authored.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("projects.change_agent")

    def create(self, request: HttpRequest, form: forms.ModelForm) -> Agent:
        data = form.cleaned_data
        agent, token = services.create_agent(
            project=data["project"],
            name=data["name"],
            client_kind=data["client_kind"],
            actor=actor_for(request),
        )
        show_token_once(request, agent, token, "Created")
        return agent

    @admin.action(description="Rotate token (shows the new token once)", permissions=["manage"])
    def rotate_tokens(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset.select_related("project"):
            try:
                token = services.rotate_agent_token(agent=agent, actor=actor_for(request))
            except PeerCodeError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            show_token_once(request, agent, token, "Rotated the token of")

    @admin.action(description="Revoke (the token stops working)", permissions=["manage"])
    def revoke_agents(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        revoked = []
        for agent in queryset.filter(is_active=True).select_related("project"):
            try:
                services.deactivate_agent(agent=agent, actor=actor_for(request))
            except PeerCodeError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            revoked.append(agent.name)
        if revoked:
            self.message_user(
                request,
                f"Revoked {', '.join(revoked)}; their tokens no longer work. Rotating a token "
                "issues a new one.",
                messages.SUCCESS,
            )
