"""Every REST endpoint under /api/v1/; each app contributes its own urlpatterns."""

from django.urls import include, path

urlpatterns = [
    path("", include("projects.urls")),
    path("", include("deltas.urls")),
    path("", include("locks.urls")),
    path("", include("debates.urls")),
]
