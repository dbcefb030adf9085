"""Error pages: JSON under /api/, plain pages elsewhere; never a traceback."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "error": {
                    "code": "not_found",
                    "message": f"No API endpoint at {request.path}. See /api/docs/ for the list.",
                }
            },
            status=404,
        )
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "error": {
                    "code": "server_error",
                    "message": "PeerCode hit an unexpected error; it has been logged.",
                }
            },
            status=500,
        )
    return render(request, "500.html", status=500)
