"""Agent identity: bearer tokens, stored hashed, shown once.

``authenticate_agent_token`` is the one place that turns a token into an agent; the DRF
authentication class below, the MCP adapter and the WebSocket consumers all call it.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

if TYPE_CHECKING:
    from projects.models import Agent

TOKEN_PREFIX = "pc_"
# Don't write last_seen_at more than once per this many seconds per agent.
LAST_SEEN_RESOLUTION_SECONDS = 15


def new_agent_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_bearer(header_value: str | bytes | None) -> str | None:
    """The token from an ``Authorization: Bearer <token>`` header value, or None."""
    if not header_value:
        return None
    if isinstance(header_value, bytes):
        header_value = header_value.decode("latin-1")
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate_agent_token(token: str) -> Agent | None:
    """The active agent owning ``token``, with its project loaded; None for an unknown token.

    Refreshes the agent's last-seen time (at most every few seconds, to spare the database).
    """
    from projects.models import Agent

    if not token.startswith(TOKEN_PREFIX):
        return None
    agent = (
        Agent.objects.select_related("project")
        .filter(token_hash=hash_token(token), is_active=True)
        .first()
    )
    if agent is None:
        return None
    now = timezone.now()
    last = agent.last_seen_at
    if last is None or (now - last).total_seconds() >= LAST_SEEN_RESOLUTION_SECONDS:
        Agent.objects.filter(pk=agent.pk).update(last_seen_at=now)
        agent.last_seen_at = now
    return agent


class AgentTokenAuthentication(authentication.BaseAuthentication):
    """DRF: ``Authorization: Bearer <agent token>`` makes ``request.user`` the Agent."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, str] | None:
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        token = parse_bearer(header)
        if token is None:
            return None
        agent = authenticate_agent_token(token)
        if agent is None:
            raise exceptions.AuthenticationFailed(
                "Unknown or revoked agent token. Ask a human for a new one "
                "('python manage.py agent create --project SLUG NAME')."
            )
        return agent, token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="peercode"'
