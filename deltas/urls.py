"""REST routes of the delta stream, mounted under /api/v1/ (see ``projects.urls`` for the
conventions: collections end with '/', actions on them don't)."""

from __future__ import annotations

from django.urls import path

from deltas import api

P = "projects/<slug:slug>/"

urlpatterns = [
    path(P + "deltas/", api.DeltaListView.as_view(), name="api-deltas"),
    path(P + "deltas/ack", api.DeltaAckView.as_view(), name="api-deltas-ack"),
    path(P + "deltas/drift", api.DeltaDriftView.as_view(), name="api-deltas-drift"),
]
