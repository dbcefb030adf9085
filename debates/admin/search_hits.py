"""The kept web search results in the admin, read-only: what each search returned, as
PeerCode retrieved it, citable by id in a turn."""

from __future__ import annotations

from django.contrib import admin

from debates.models import SearchHit
from peercode.events.admin import ReadOnlyAdmin


@admin.register(SearchHit)
class SearchHitAdmin(ReadOnlyAdmin):
    list_display = ("provider", "query", "url", "agent", "retrieved_at")
    list_filter = ("provider", "project")
    search_fields = ("query", "url", "title")
    list_select_related = ("agent__project",)
    ordering = ("-retrieved_at", "rank")
    fields = (
        "id",
        "project",
        "agent",
        "provider",
        "query",
        "rank",
        "title",
        "url",
        "snippet",
        "retrieved_at",
    )
    readonly_fields = fields
