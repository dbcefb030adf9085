"""The event log in the admin: searchable, filterable, and read-only.

Events are the audit trail (append-only, see :mod:`peercode.events.models`): nobody adds,
changes or deletes one here, superusers included.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from peercode.events.models import Event


class ReadOnlyAdmin(admin.ModelAdmin):
    """An admin that shows records and never writes them: no add, change or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def pretty_json(value: Any) -> SafeString:
    return format_html(
        '<pre style="margin:0;white-space:pre-wrap">{}</pre>',
        json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False),
    )


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "type", "actor", "subject", "project_label")
    list_filter = ("type", "project")
    search_fields = ("subject", "actor", "type")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    # The join keeps a deleted project's events listable: it yields None instead of raising.
    list_select_related = ("project",)
    fields = ("id", "created_at", "type", "actor", "subject", "project_label", "payload_pretty")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        return super().get_queryset(request).select_related("project")

    @admin.display(description="project", ordering="project__slug")
    def project_label(self, event: Event) -> str:
        # The project link carries no constraint: a deleted project leaves its events behind.
        if event.project_id is None:
            return "-"
        if event.project is None:
            return f"deleted project #{event.project_id}"
        url = reverse("admin:projects_project_change", args=[event.project_id])
        return format_html('<a href="{}">{}</a>', url, event.project.slug)

    @admin.display(description="payload")
    def payload_pretty(self, event: Event) -> SafeString:
        return pretty_json(event.payload)
