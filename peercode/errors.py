"""Domain errors and their one mapping to HTTP.

Services raise :class:`PeerCodeError` subclasses with a message a person or an agent can act
on, a short machine code and structured details. ``api_exception_handler`` turns them (and
DRF's own errors) into JSON; the MCP adapter and WebSocket consumers have their own one-place
mappings built on :meth:`PeerCodeError.as_dict`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError, OperationalError
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)

# Django's errors for a database that cannot be reached (or dropped the connection): transient,
# so MCP callers and WebSocket clients are told to retry rather than shown a server error.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_RETRY_SECONDS = 5


class PeerCodeError(Exception):
    http_status: int = status.HTTP_400_BAD_REQUEST
    default_code: str = "error"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details or {}

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class ValidationFailed(PeerCodeError):
    default_code = "invalid"


class NotFound(PeerCodeError):
    http_status = status.HTTP_404_NOT_FOUND
    default_code = "not_found"


class Conflict(PeerCodeError):
    http_status = status.HTTP_409_CONFLICT
    default_code = "conflict"


class PermissionDenied(PeerCodeError):
    http_status = status.HTTP_403_FORBIDDEN
    default_code = "forbidden"


class NotConfigured(PeerCodeError):
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "not_configured"


class UpstreamFailed(PeerCodeError):
    http_status = status.HTTP_502_BAD_GATEWAY
    default_code = "upstream_failed"


class RateLimited(PeerCodeError):
    """Too many requests from one caller (peercode/ratelimit.py); answered with Retry-After."""

    http_status = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, details: dict[str, Any]) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


def _flatten_validation(detail: Any, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        messages: list[str] = []
        for key, value in detail.items():
            field = key if key != "non_field_errors" else ""
            path = f"{prefix}.{field}" if prefix and field else (field or prefix)
            messages.extend(_flatten_validation(value, path))
        return messages
    if isinstance(detail, list):
        messages = []
        for index, item in enumerate(detail):
            if isinstance(item, dict):
                messages.extend(_flatten_validation(item, f"{prefix}[{index}]"))
            else:
                messages.extend(_flatten_validation(item, prefix))
        return messages
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Every API error is ``{"error": {"code", "message", "details"?}}``; never a traceback."""
    if isinstance(exc, RateLimited):
        return Response(
            {"error": exc.as_dict()},
            status=exc.http_status,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, PeerCodeError):
        return Response({"error": exc.as_dict()}, status=exc.http_status)
    if isinstance(exc, drf_exceptions.ValidationError):
        messages = _flatten_validation(exc.detail)
        body = {
            "code": "invalid",
            "message": "The request was not valid: " + "; ".join(messages),
            "details": {"fields": exc.detail},
        }
        return Response({"error": body}, status=status.HTTP_400_BAD_REQUEST)
    response = exception_handler(exc, context)
    if response is not None:
        detail = response.data.get("detail", response.data) if response.data else ""
        code = getattr(detail, "code", None) or "error"
        message = str(detail)
        if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
            message = (
                f"{message} Send 'Authorization: Bearer <agent token>' (create one with "
                "'python manage.py agent create --project SLUG NAME') or log in."
            )
        response.data = {"error": {"code": code, "message": message}}
        return response
    logger.exception("Unhandled error in API view %s", context.get("view"), exc_info=exc)
    return Response(
        {
            "error": {
                "code": "server_error",
                "message": "PeerCode hit an unexpected error; it has been logged. Try again, "
                "and report it if it persists.",
            }
        },
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
