"""REST routes of locks and the push queue, mounted under /api/v1/ (see ``projects.urls`` for
the conventions: collections end with '/', actions on them don't)."""

from __future__ import annotations

from django.urls import path

from locks import api

P = "projects/<slug:slug>/"

urlpatterns = [
    path(P + "locks/", api.LockListView.as_view(), name="api-locks"),
    path(P + "locks/check", api.LockCheckView.as_view(), name="api-locks-check"),
    path(P + "locks/<int:lock_id>/", api.LockDetailView.as_view(), name="api-lock"),
    path(P + "locks/<int:lock_id>/renew", api.LockRenewView.as_view(), name="api-lock-renew"),
    path(P + "locks/<int:lock_id>/release", api.LockReleaseView.as_view(), name="api-lock-release"),
    path(P + "push/", api.PushQueueView.as_view(), name="api-push"),
    path(
        P + "push/<int:ticket_id>/complete",
        api.PushCompleteView.as_view(),
        name="api-push-complete",
    ),
    path(
        P + "push/<int:ticket_id>/abandon", api.PushAbandonView.as_view(), name="api-push-abandon"
    ),
]
