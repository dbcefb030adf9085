"""Planning runs in the admin: a read-only record of each call to the planning model."""

from __future__ import annotations

from django.contrib import admin

from peercode.events.admin import ReadOnlyAdmin
from projects.models import DecompositionRun


@admin.register(DecompositionRun)
class DecompositionRunAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "project",
        "model",
        "outcome",
        "tasks_created",
        "input_tokens",
        "output_tokens",
        "duration_ms",
    )
    list_filter = ("outcome", "model", "project")
    search_fields = ("description", "error", "requested_by", "project__slug")
    list_select_related = ("project",)
    date_hierarchy = "started_at"
