"""What every REST view shares: who is calling, who may call, strict input, and error schemas.

The views stay thin because the rules live here once: the caller becomes an :class:`Actor`,
agents may read but only humans change project settings and agents, request bodies with
unknown fields are refused (a typo must not be silently ignored), and every error response
has the same documented shape.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import QuerySet
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
)
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from peercode import ratelimit
from peercode.actors import Actor
from peercode.errors import PeerCodeError, PermissionDenied, RateLimited

if TYPE_CHECKING:
    from projects.models import Agent

# The largest id a database row can have (a signed 64-bit integer); a bigger number in a URL
# or a body names no row, and must not reach the database driver, which would fail on it.
MAX_ROW_ID = 2**63 - 1

# Query parameters that paging and DRF itself read, so no endpoint refuses them.
PAGING_PARAMETERS = frozenset({"limit", "offset", "format"})


def actor_from_request(request: Request) -> Actor:
    """The caller as an Actor: the Agent behind a bearer token, or the logged-in human."""
    from projects.models import Agent

    user = request.user
    if isinstance(user, Agent):
        return Actor.for_agent(user)
    return Actor.for_user(user)


def agent_from_request(request: Request) -> Agent:
    """The calling agent; refuses a human (views that need one also use ``AgentsOnly``)."""
    from projects.models import Agent

    if not isinstance(request.user, Agent):
        raise PermissionDenied(AgentsOnly.message, code=AgentsOnly.code)
    return request.user


def is_agent_request(request: Request) -> bool:
    from projects.models import Agent

    return isinstance(request.user, Agent)


class HumansChange(BasePermission):
    """Agents may read; only a logged-in human may change (POST/PATCH/...) here."""

    message = (
        "Only a human can do this; agents cannot create or change projects or agents. "
        "Ask a human to do it in the dashboard, the admin or with a logged-in session."
    )
    code = "humans_only"

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.method in SAFE_METHODS or not is_agent_request(request)


class HumansOnly(BasePermission):
    """Only a logged-in human, whatever the method."""

    message = (
        "Only a human can do this; agent tokens are refused here. Ask a human to do it in "
        "the dashboard, the admin or with a logged-in session."
    )
    code = "humans_only"

    def has_permission(self, request: Request, view: APIView) -> bool:
        return not is_agent_request(request)


class AgentsOnly(BasePermission):
    """Only an agent (bearer token), e.g. to claim work for itself."""

    message = (
        "Only an agent can do this, with its own token ('Authorization: Bearer <agent token>'); "
        "a human cannot claim tasks. To hand a task to an agent, ask the agent to claim it."
    )
    code = "agents_only"

    def has_permission(self, request: Request, view: APIView) -> bool:
        return is_agent_request(request)


class CallerRateThrottle(BaseThrottle):
    """The per-caller REST limit (peercode/ratelimit.py, scope "rest"): an agent by its token,
    a human by user id. Refuses with 429, Retry-After and the standard error body."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        from projects.models import Agent

        user = request.user
        if isinstance(user, Agent):
            key = user.token_hash
        elif user is not None and user.is_authenticated:
            key = f"user:{user.pk}"
        else:
            return True  # anonymous callers are refused by authentication, not counted
        refusal = ratelimit.take(key, "rest")
        if refusal is not None:
            # Raised rather than returning False: DRF's own Throttled error would lose the
            # limit and the advice in the message.
            raise RateLimited(
                ratelimit.refusal_message(refusal),
                retry_after=refusal.retry_after,
                details=asdict(refusal),
            )
        return True


class PeerCodePagination(LimitOffsetPagination):
    default_limit = 100
    max_limit = 1000


class StrictSerializer(serializers.Serializer):
    """An input serializer that refuses fields it does not know, naming them.

    ``require_any`` makes an empty PATCH body an error instead of a silent no-op.
    """

    require_any = False
    unknown_label = "field"

    def to_internal_value(self, data: Any) -> Any:
        writable = [name for name, field in self.fields.items() if not field.read_only]
        if isinstance(data, Mapping):
            unknown = [str(key) for key in data if key not in writable]
            if unknown:
                hint = (
                    f"Allowed {self.unknown_label}s: {', '.join(writable)}."
                    if writable
                    else f"This endpoint takes no {self.unknown_label}s."
                )
                raise serializers.ValidationError(
                    {key: [f"Unknown {self.unknown_label} {key!r}. {hint}"] for key in unknown}
                )
            if self.require_any and not data:
                raise serializers.ValidationError(
                    {
                        "non_field_errors": [
                            f"Nothing to change: send at least one of {', '.join(writable)}."
                        ]
                    }
                )
        return super().to_internal_value(data)


class NoInput(StrictSerializer):
    """The body of an action that takes none: a stray field is refused, not silently dropped."""


class QuerySerializer(StrictSerializer):
    """Query-string filters; unknown ones are refused rather than silently ignored."""

    unknown_label = "query parameter"


class BodyTooLarge(PeerCodeError):
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


# Characters PostgreSQL cannot store in text: NUL, and unpaired UTF-16 surrogates (which
# Python's JSON decoder accepts from "\ud800"-style escapes).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable_text(data: Any) -> str | None:
    """Where the parsed body holds text no database can store, or None."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            found = _UNSTORABLE.search(value)
            if found:
                return f"{where or 'the body'} contains the character U+{ord(found.group()):04X}"
        elif isinstance(value, dict):
            for key, item in value.items():
                path = f"{where}.{key}" if where else str(key)
                stack.append((key, f"a field name in {where or 'the body'}"))
                stack.append((item, path))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{index}]") for index, item in enumerate(value))
    return None


class JSONBodyParser(JSONParser):
    """DRF's JSON parser, refusing as bad input (not a crash) absurdly deep nesting and text
    that cannot be stored."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(
                "JSON parse error - the document is nested too deeply; send a flatter document."
            ) from exc
        problem = _unstorable_text(data)
        if problem:
            raise ParseError(
                f"The JSON body cannot be stored: {problem}. Remove NUL characters and "
                "unpaired surrogates; send valid Unicode text."
            )
        return data


# Base of every REST view: JSON bodies only, authenticated callers, limit/offset paging. (No
# docstring: drf-spectacular would show it as the description of every endpoint.)
class PeerCodeView(APIView):
    parser_classes = [JSONBodyParser]
    permission_classes = [IsAuthenticated]
    # Here rather than in DEFAULT_THROTTLE_CLASSES: DRF imports that setting while its own
    # views module loads, and this module imports that one (a circular import).
    throttle_classes = [CallerRateThrottle]
    # Read by paginate() and by drf-spectacular, which documents limit/offset from it.
    pagination_class = PeerCodePagination

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, RequestDataTooBig):
            # Django raises this while DRF reads the body; left alone it would be a 500.
            exc = BodyTooLarge(
                f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes. "
                "Send less (split the change into several requests); import a large plan file "
                "with 'python manage.py plan import FILE --project SLUG'.",
                details={"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE},
            )
        return super().handle_exception(exc)

    def paginate(
        self,
        queryset: QuerySet[Any],
        serializer_class: type[serializers.Serializer],
        context: dict[str, Any] | None = None,
    ) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        data = serializer_class(page, many=True, context=context or {}).data
        return paginator.get_paginated_response(data)


def parse_body(serializer_class: type[serializers.Serializer], request: Request) -> Any:
    """Validate the JSON body; a bad body raises a 400 that names each problem."""
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def parse_query(serializer_class: type[QuerySerializer], request: Request) -> Any:
    """Validate the query string; paging parameters (limit, offset) are left to the paginator."""
    params = {
        key: request.query_params.get(key)
        for key in request.query_params
        if key not in PAGING_PARAMETERS
    }
    serializer = serializer_class(data=params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class AgentTokenScheme(OpenApiAuthenticationExtension):
    """Documents agent bearer tokens in the OpenAPI schema (Swagger's Authorize button)."""

    target_class = "peercode.auth.AgentTokenAuthentication"
    name = "agentToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        scheme = build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Bearer", bearer_format="pc_..."
        )
        scheme["description"] = (
            "A per-project agent token, shown once when a human creates the agent."
        )
        return scheme


class StrictSerializerScheme(OpenApiSerializerExtension):
    """Documents what StrictSerializer enforces: a body with a field it does not know is
    refused, so the schema says ``additionalProperties: false``."""

    target_class = "peercode.api.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        return {**schema, "additionalProperties": False}


ERROR_SCHEMA = inline_serializer(
    name="Error",
    fields={
        "error": inline_serializer(
            name="ErrorBody",
            fields={
                "code": serializers.CharField(help_text="A short machine-readable code."),
                "message": serializers.CharField(
                    help_text="What was wrong and what to do about it."
                ),
                "details": serializers.DictField(
                    required=False, help_text="Structured details, such as the bad fields."
                ),
            },
        )
    },
)

_ERROR_DESCRIPTIONS = {
    400: "Bad input; the message names every problem and nothing was changed.",
    401: "No token, or an unknown or revoked one.",
    403: "Not allowed: a token of another project, or an agent on a humans-only endpoint.",
    404: "No such project, task, contract, phase or agent.",
    409: "Conflicts with the current state (duplicate, illegal transition, already claimed).",
    413: "The request body is too large.",
    429: "Too many requests from this caller; retry after the Retry-After header's seconds.",
    422: "The planning model returned a plan that does not validate.",
    502: "The planning model's API failed.",
    503: "The feature is not configured on this server; the message says how to configure it.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for the given error statuses, plus 401, 403 and 429 which every view
    has."""
    wanted = sorted({401, 403, 429, *codes})
    return {
        code: OpenApiResponse(response=ERROR_SCHEMA, description=_ERROR_DESCRIPTIONS[code])
        for code in wanted
    }
