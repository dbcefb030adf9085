"""Dashboard pages: a domain error becomes a page with its message and status, not a 500."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from peercode.errors import PeerCodeError


class DomainErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, PeerCodeError):
            return None
        return render(
            request,
            "error.html",
            {"error": exception, "status": exception.http_status},
            status=exception.http_status,
        )
