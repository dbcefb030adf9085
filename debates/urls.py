"""REST routes of debates, mounted under /api/v1/ (see ``projects.urls`` for the conventions:
collections end with '/', actions on them don't)."""

from __future__ import annotations

from django.urls import path

from debates import api

P = "projects/<slug:slug>/"
D = P + "debates/<int:debate_id>/"

urlpatterns = [
    path(P + "debates/", api.DebateListView.as_view(), name="api-debates"),
    path(D, api.DebateDetailView.as_view(), name="api-debate"),
    path(D + "turns", api.DebateTurnView.as_view(), name="api-debate-turns"),
    path(D + "withdraw", api.DebateWithdrawView.as_view(), name="api-debate-withdraw"),
    path(D + "decide", api.DebateDecideView.as_view(), name="api-debate-decide"),
    path(P + "search", api.DebateSearchView.as_view(), name="api-search"),
]
